"""The whole run: one section per component, the cross-section checks, the schedule and logging."""

from __future__ import annotations

from pydantic import Field, model_validator

from cluster.config.algorithm import AlgorithmConfig
from cluster.config.base import Section
from cluster.config.inputs import DataConfig, ModelConfig
from cluster.config.roles import ClusterConfig, LearnerConfig, RewardConfig, RolloutConfig


class TrainConfig(Section):
    steps: int = Field(100, ge=1, description="RL steps to run. Default 100.")
    prompts_per_step: int = Field(
        16, ge=1, description="Prompts per step (each sampled G times). Paper: 1024; default 16 (CPU)."
    )
    eval_every: int = Field(
        0, ge=0, description="Evaluate every N steps (0 = only before and after). Default 0."
    )
    eval_limit: int | None = Field(None, ge=1, description="Validation samples per evaluation (None = all).")
    checkpoint_every: int = Field(0, ge=0, description="Checkpoint every N steps (0 = only at the end).")
    seed: int = Field(0, description="Global seed (model init, data order, sampling). Default 0.")


class LoggingConfig(Section):
    run_name: str | None = Field(None, description="Folder under runs_dir; None = preset and a timestamp.")
    runs_dir: str = Field("runs", description="Where runs are written. Default runs/.")
    tensorboard: bool = Field(True, description="Write TensorBoard event files. Default True.")
    verbose: bool = Field(False, description="Print more than one line per step. Default False.")
    wandb: bool = Field(
        False,
        description="Also send every metric of metrics.jsonl, the config and the end-of-run plots to "
        "Weights & Biases (needs bash install.sh --wandb; WANDB_MODE=offline works). A resumed run "
        "continues the same wandb run. Default False.",
    )
    wandb_project: str = Field("egpo", description="Weights & Biases project. Default 'egpo'.")
    wandb_entity: str | None = Field(
        None, description="Weights & Biases entity (team or user). Default None = your default entity."
    )
    wandb_name: str | None = Field(
        None, description="Weights & Biases run name. Default None = the run's folder name."
    )
    wandb_tags: list[str] = Field(default_factory=list, description="Weights & Biases tags. Default none.")


class RunConfig(Section):
    """The whole run, one section per component."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    rollout: RolloutConfig = RolloutConfig()
    reward: RewardConfig = RewardConfig()
    algorithm: AlgorithmConfig = AlgorithmConfig()
    learner: LearnerConfig = LearnerConfig()
    train: TrainConfig = TrainConfig()
    cluster: ClusterConfig = ClusterConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        alg, roll, lrn, trn = self.algorithm, self.rollout, self.learner, self.train
        checks = [
            (alg.alpha > 1, "algorithm.alpha", alg.alpha, "a number > 1 (the cap |A|/alpha)"),
            (
                roll.group_size >= 2,
                "rollout.group_size",
                roll.group_size,
                "an integer >= 2 (Eq. 1 needs a group)",
            ),
            (
                alg.clip_eps_high is None or alg.clip_eps_high >= alg.clip_eps,
                "algorithm.clip_eps_high",
                alg.clip_eps_high,
                f"None or a number >= algorithm.clip_eps ({alg.clip_eps})",
            ),
            (
                (trn.prompts_per_step * roll.group_size) % (lrn.micro_batch_size * lrn.num_learners) == 0,
                "learner.micro_batch_size",
                lrn.micro_batch_size,
                f"a divisor of the per-learner batch: train.prompts_per_step x rollout.group_size = "
                f"{trn.prompts_per_step * roll.group_size} sequences over {lrn.num_learners} learner(s)",
            ),
            (
                not (lrn.lora.rank and lrn.zero_stage == 3),
                "learner.zero_stage",
                lrn.zero_stage,
                "0, 1 or 2 with learner.lora.rank > 0 (the frozen base is not sharded; ZeRO-2 shards "
                "what LoRA trains)",
            ),
            (
                trn.prompts_per_step % lrn.num_learners == 0,
                "train.prompts_per_step",
                trn.prompts_per_step,
                f"a multiple of learner.num_learners ({lrn.num_learners}): each learner takes whole groups",
            ),
            (
                not (
                    alg.spread_filter_samples
                    and self.model.path == "tiny"
                    and not self.model.warm_start_sft_steps
                ),
                "algorithm.spread_filter_samples",
                alg.spread_filter_samples,
                "0 when the tiny model has no warm start (model.warm_start_sft_steps=0): a random model "
                "gets no prompt right, so no prompt has spread",
            ),
            (
                roll.logprobs is not False or alg.max_staleness == 0,
                "rollout.logprobs",
                roll.logprobs,
                f"true or None with algorithm.max_staleness={alg.max_staleness} (stale tokens are "
                "weighted by pi_old / pi_sampler)",
            ),
        ]
        if self.data.multi_turn:
            checks += [
                (
                    self.reward.output_format == "python",
                    "reward.output_format",
                    self.reward.output_format,
                    "'python' with data.multi_turn=true (trajectories are played in the paper's format)",
                ),
            ]
        clu, rew = self.cluster, self.reward
        if clu.mode == "colocated":  # the roles take turns on the same devices
            checks += [
                (
                    alg.max_staleness == 0,
                    "algorithm.max_staleness",
                    alg.max_staleness,
                    "0 with cluster.mode=colocated (sampling and training take turns on the same devices; "
                    "for both at once use cluster.mode=separate)",
                ),
                (
                    clu.colocate,
                    "cluster.colocate",
                    clu.colocate,
                    "true with cluster.mode=colocated (the rollout workers share the learner's node)",
                ),
                (
                    lrn.gpus_per_learner + roll.gpus_per_worker <= 1 + 1e-9,
                    "rollout.gpus_per_worker",
                    roll.gpus_per_worker,
                    f"at most 1 - learner.gpus_per_learner ({lrn.gpus_per_learner:g}) with "
                    "cluster.mode=colocated: a rollout worker shares its learner's GPU (e.g. 0.5 and 0.5)",
                ),
            ]
        if clu.address == "local" and clu.num_cpus is not None:
            roles = {
                "rollout": (roll.num_workers, roll.cpus_per_worker),
                "reward": (rew.num_actors, rew.cpus_per_actor),
                "learner": (lrn.num_learners, lrn.cpus_per_learner),
            }
            needed = sum(count * cpus for count, cpus in roles.values())
            parts = " + ".join(f"{role} {count} x {cpus:g}" for role, (count, cpus) in roles.items())
            checks.append(
                (
                    needed <= clu.num_cpus + 1e-9,
                    "cluster.num_cpus",
                    clu.num_cpus,
                    f"at least the {needed:g} CPUs the roles reserve ({parts}): lower "
                    "rollout.cpus_per_worker, reward.cpus_per_actor or learner.cpus_per_learner",
                )
            )
            if self.model.warm_start_cpus is not None:
                checks.append(
                    (
                        self.model.warm_start_cpus <= clu.num_cpus + 1e-9,
                        "model.warm_start_cpus",
                        self.model.warm_start_cpus,
                        f"at most cluster.num_cpus ({clu.num_cpus})",
                    )
                )
        problems = [
            f"{path}={value!r}: expected {expected}" for ok, path, value, expected in checks if not ok
        ]
        if problems:  # every bad cross-field value in one message, not just the first
            raise ValueError("; ".join(problems))
        return self

    def sampler_logprobs(self) -> bool:
        """Whether the RL rollouts ask vLLM for the sampled tokens' log-probs: rollout.logprobs, else
        only in asynchronous mode, where the learner weights stale tokens with them."""
        if self.rollout.logprobs is not None:
            return self.rollout.logprobs
        return self.algorithm.max_staleness > 0

    def warm_start_cpus(self) -> float:
        """The warm start's learner CPUs: model.warm_start_cpus, else the whole local cluster (it
        runs alone), else learner.cpus_per_learner."""
        if self.model.warm_start_cpus is not None:
            return self.model.warm_start_cpus
        if self.cluster.address == "local" and self.cluster.num_cpus is not None:
            return float(self.cluster.num_cpus)
        return self.learner.cpus_per_learner
