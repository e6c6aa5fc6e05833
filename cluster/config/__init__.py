"""The run config: one typed pydantic tree, loaded from a YAML preset plus ``key.sub=value`` overrides.

Every field says what it is, its unit, its default and where that default comes from. Bad
input fails before any work starts with a :class:`ConfigError` that names the field path,
the value given and what was expected (an unknown key names the closest valid one).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_PRESET = "tiny"


class ConfigError(ValueError):
    """A config that cannot run; the message is one paragraph meant for the user."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _threads_field(role: str):
    """``threads`` of a role that runs beside another (rollout workers, learners)."""
    return Field(
        None,
        ge=1,
        description=f"Compute threads of each {role} (OMP_NUM_THREADS). Default None = its Ray CPUs "
        "(rounded down, at least 1). In synchronous mode sampling and training take turns, so each "
        "may use every core of a machine they share (the tiny preset: 2 and 2 on 2 cores); with "
        "algorithm.max_staleness > 0 they run at once, so keep the sum at the cores.",
    )


class ModelConfig(Section):
    path: str = Field(
        "tiny",
        description="The policy to train: a local Hugging Face model directory, a Hugging Face hub id "
        "(owner/name, downloaded once into the hub cache), 'smollm2-135m-instruct', or 'tiny' to build "
        "the embedded default's tokenizer and random Qwen2 model in code (no download). "
        "Default 'tiny' (the embedded default).",
    )
    revision: str | None = Field(
        None,
        description="For a hub id in model.path: the branch, tag or commit to load. Default None = the "
        "newest; a run records the commit it resolved in its config.yaml.",
    )
    tiny_hidden_size: int = Field(
        64, ge=8, description="Hidden size of the built tiny model (units). Default 64 (stack-notes.md)."
    )
    tiny_num_layers: int = Field(
        2, ge=1, description="Transformer layers of the built tiny model. Default 2 (stack-notes.md)."
    )
    tiny_num_heads: int = Field(
        2, ge=1, description="Attention heads of the built tiny model (divides tiny_hidden_size). Default 2."
    )
    tiny_num_kv_heads: int = Field(
        1,
        ge=1,
        description="Key/value heads of the built tiny model (divides tiny_num_heads; fewer = "
        "grouped-query attention). Default 1.",
    )
    tiny_intermediate_size: int | None = Field(
        None,
        ge=8,
        description="MLP width of the built tiny model (units). Default None = 4 x tiny_hidden_size.",
    )
    tiny_vocab_size: int = Field(
        1024, ge=300, description="BPE vocabulary of the built tiny tokenizer (tokens). Default 1024."
    )
    tiny_tie_embeddings: bool = Field(
        False,
        description="Whether the built tiny model's output layer shares the input embedding table. "
        "Tied, a token's logit grows with its match to the attended hidden state, so copying an "
        "argument value from the request is learned sooner (README, 'What the default run does'). "
        "Default False; the tiny preset sets it.",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights and compute dtype for learner and rollout. Default float32 (CPU has "
        "no bf16 engine, stack-notes.md); use bfloat16 on GPUs.",
    )
    max_model_len: int = Field(
        2048, ge=64, description="Longest prompt + completion the engine accepts (tokens). Default 2048."
    )
    warm_start_sft_steps: int = Field(
        0,
        ge=0,
        description="Supervised fine-tuning steps on the training split before RL (0 = none). "
        "The paper trains instruct models without SFT; a random tiny model needs a warm start. "
        "Default 0; the tiny preset sets it.",
    )
    warm_start_lr: float = Field(
        1e-3,
        gt=0,
        description="Learning rate of the supervised warm start. Default 1e-3 (tiny random model).",
    )
    warm_start_batch_size: int = Field(
        16, ge=1, description="Sequences per supervised warm-start step. Default 16."
    )
    warm_start_warmup_steps: int = Field(
        0,
        ge=0,
        description="Warm-start steps over which the learning rate ramps linearly up to warm_start_lr. "
        "Default 0 (none).",
    )
    warm_start_lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant",
        description="Warm-start learning rate after the warm-up: constant, or a cosine / linear decay "
        "to 0 at the last warm-start step. Default constant.",
    )
    warm_start_length_pool: int = Field(
        1,
        ge=1,
        description="Warm-start batches whose samples are sorted by length together, so that each "
        "batch pads to a near-equal length: fewer padded tokens and faster steps, while the order "
        "stays random beyond the pool. 1 = plain random batches. Default 1.",
    )
    warm_start_cpus: float | None = Field(
        None,
        gt=0,
        description="Ray CPUs (and so threads) of the warm start's learner, which runs alone before "
        "any other role starts. Default None = all of cluster.num_cpus on the local cluster, else "
        "learner.cpus_per_learner.",
    )

    @model_validator(mode="after")
    def _tiny_heads_divide(self) -> ModelConfig:
        if self.path == "tiny" and (
            self.tiny_hidden_size % self.tiny_num_heads or self.tiny_num_heads % self.tiny_num_kv_heads
        ):
            raise ValueError(
                f"model.tiny_num_heads={self.tiny_num_heads}, model.tiny_num_kv_heads={self.tiny_num_kv_heads}: "
                f"expected heads that divide tiny_hidden_size={self.tiny_hidden_size} and kv heads that "
                "divide the heads"
            )
        return self


class DataConfig(Section):
    train_path: str = Field(
        "data/train.jsonl.gz",
        description="Training samples: a JSON/JSONL file (or .json.gz/.jsonl.gz), a Parquet file, a folder saved by datasets' "
        "save_to_disk (DIR or DIR:split), or a hub dataset hf://owner/name[:split] (split default "
        "train). Default: the bundled synthetic set.",
    )
    train_limit: int | None = Field(
        None,
        ge=1,
        description="Read only the first N training samples (a quick trial on a large file). With "
        "val_path None the split is taken from these. Default None = all.",
    )
    val_path: str | None = Field(
        "data/val.jsonl",
        description="Validation samples, in any form train_path takes; None = hold out val_fraction of "
        "train_path. Default: the "
        "bundled validation set.",
    )
    warm_start_path: str | None = Field(
        None,
        description="Samples for the supervised warm start (model.warm_start_sft_steps), in any form "
        "train_path takes, when they should differ from the RL prompts (e.g. a mix with more no-call "
        "tasks to learn abstaining from, and RL on call tasks). Default None: the training split.",
    )
    format: Literal["egpo", "bfcl", "xlam", "chat"] = Field(
        "egpo",
        description="Input format: egpo (this project's JSONL), bfcl, xlam or chat (OpenAI-style). "
        "Default egpo.",
    )
    val_fraction: float = Field(
        0.05, gt=0, lt=1, description="Held-out share when val_path is None. Default 0.05 (paper Sec. 5: 5%)."
    )
    split_seed: int = Field(0, description="Seed of the deterministic train/validation split. Default 0.")
    skip_invalid: bool = Field(
        False,
        description="Skip invalid lines (and report them) instead of stopping on the first. Default False.",
    )
    max_prompt_tokens: int = Field(
        1024,
        ge=16,
        description="Longest rendered prompt (tokens); longer prompts are reported. Default 1024.",
    )
    shuffle_seed: int = Field(0, description="Seed of the training data order (per epoch). Default 0.")
    prompt_style: Literal["paper", "compact", "signatures"] = Field(
        "paper",
        description="System prompt: paper (the paper's instructions, tools as JSON), compact (two "
        "sentences, tools as one-line signatures, about a third of the tokens) or signatures (the "
        "signatures alone; for the tiny model built from scratch, to which a fixed instruction says "
        "nothing). Default paper.",
    )


class RolloutConfig(Section):
    num_workers: int = Field(1, ge=1, description="Rollout workers (one vLLM engine each). Default 1.")
    cpus_per_worker: float = Field(
        0.5,
        gt=0,
        description="Ray CPUs per rollout worker (fractions allowed). Default 0.5 (2-core machine).",
    )
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per rollout worker. Default 0 (CPU).")
    group_size: int = Field(8, description="G, completions sampled per prompt. Default 8 (paper Sec. 5).")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature. Default 0.7 (paper Sec. 5).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass. Default 1.0 (no truncation).")
    max_new_tokens: int = Field(
        256, ge=1, description="Completion cap (tokens). Paper: 8192; default 256 (observed mean ~100)."
    )
    gpu_memory_utilization: float = Field(
        0.1,
        gt=0,
        le=1,
        description="GPU only: the share of GPU memory vLLM may fill with weights, activations and KV "
        "cache. Default 0.1. On CPU, train and eval size the KV cache from the run instead "
        "(rollout.kv_cache_gib).",
    )
    kv_cache_gib: float | None = Field(
        None,
        gt=0,
        description="CPU only: each rollout worker's KV cache (GiB). Default None = sized from the run "
        "(a step's completions per worker x (longest prompt + rollout.max_new_tokens) x the model's "
        "bytes a token, at least one model.max_model_len sequence; cluster/roles/kv_cache.py). GPUs use "
        "rollout.gpu_memory_utilization instead.",
    )
    threads: int | None = _threads_field("rollout worker's engine")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallel degree. Default 1.")
    enable_prefix_caching: bool = Field(
        True, description="Share a prompt's prefill across its G samples. Default True."
    )
    seed: int = Field(0, description="Base sampling seed (per step and prompt derived from it). Default 0.")
    min_workers: int = Field(
        1, ge=1, description="Fewest rollout workers 'launch.py scale' or autoscaling may leave. Default 1."
    )
    max_workers: int | None = Field(
        None,
        ge=1,
        description="Most rollout workers 'launch.py scale' or autoscaling may ask for; None = no cap "
        "(what the cluster can place). Default None.",
    )
    autoscale: bool = Field(
        False,
        description="At each step, grow the pool to what the Ray cluster can place (nodes joining), "
        "between min_workers and max_workers. Default False (the size changes only by 'launch.py scale').",
    )
    max_restarts: int = Field(
        3,
        ge=0,
        description="Dead rollout workers the pool replaces over the run before it stops with an error "
        "(their prompts are always re-dispatched). Default 3, as the reward pool.",
    )
    weight_sync_timeout_s: float = Field(
        60.0,
        gt=0,
        description="How long one weight-sync operation (joining the group, broadcasting one buffer) may "
        "wait for its peers (seconds). A worker that dies during a broadcast holds the others back at "
        "most this long; the broadcast is then retried without it. Default 60.",
    )
    placement_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long a new rollout worker may wait for the cluster to place it (seconds); "
        "past that the pool says so and keeps running with the workers it has. Default 30.",
    )
    chunk_prompts: int | None = Field(
        None,
        ge=1,
        description="Prompts per work chunk handed to one worker; None = the step's prompts split "
        "evenly over the workers (one chunk each: biggest vLLM batches). Smaller chunks re-balance "
        "finer when workers join, leave or die. Default None.",
    )

    @model_validator(mode="after")
    def _pool_bounds(self) -> RolloutConfig:
        top = self.max_workers
        if self.autoscale and top is None:
            raise ValueError(
                "rollout.max_workers=None: expected a number with rollout.autoscale=true (without a cap "
                "the pool would start a vLLM engine for every free share of the cluster)"
            )
        if self.num_workers < self.min_workers or (top is not None and self.num_workers > top):
            raise ValueError(
                f"rollout.num_workers={self.num_workers}: expected a number between "
                f"rollout.min_workers={self.min_workers} and rollout.max_workers={top}"
            )
        return self


class RewardConfig(Section):
    num_actors: int = Field(1, ge=1, description="Reward actors in the pool. Default 1.")
    cpus_per_actor: float = Field(0.25, gt=0, description="Ray CPUs per reward actor. Default 0.25.")
    output_format: Literal["python", "hermes"] = Field(
        "python",
        description="Answer format after </think>: the paper's Python call list, or Hermes/Qwen "
        "<tool_call> JSON blocks. Default python (paper; egpo-spec.md Sec. 1 [decision]).",
    )


class AlgorithmConfig(Section):
    entropy_coef: float = Field(
        0.4,
        ge=0,
        description="lambda of Eq. 5, the CoT-entropy bonus weight; 0 = plain GRPO. Default 0.4 (paper).",
    )
    alpha: float = Field(
        2.0,
        description="alpha of Eq. 5, the cap's divisor (bonus <= |A|/alpha); must be > 1. Default 2 (paper).",
    )
    adv_eps: float = Field(
        1e-6, gt=0, description="eps of Eq. 1. Default 1e-6 (egpo-spec.md Sec. 3 [decision])."
    )
    kl_coef: float = Field(
        0.001, ge=0, description="beta, weight of the k3 KL to the reference. Default 0.001 (paper)."
    )
    clip_eps: float = Field(0.2, gt=0, lt=1, description="PPO clip epsilon. Default 0.2 ([decision]).")
    clip_eps_high: float | None = Field(
        None, description="Upper clip epsilon (clip-higher); None = clip_eps. Default None ([decision])."
    )
    ppo_epochs: int = Field(1, ge=1, description="Passes over each batch per step. Default 1.")
    dynamic_sampling: bool = Field(
        False,
        description="Replace zero-variance groups (all rewards equal: no learning signal) with groups "
        "of fresh training prompts. Default False (paper: no).",
    )
    dynamic_sampling_rounds: int = Field(
        2,
        ge=1,
        description="With dynamic sampling: at most this many rounds of replacement per step; groups "
        "still flat after them are trained on as they are. Default 2.",
    )
    spread_filter_samples: int = Field(
        0,
        ge=0,
        description="Before RL, sample each screened training prompt this many times with the starting "
        "policy (rollout temperature), score them, and train only on the prompts it gets right some of "
        "the time but not always: a group whose rewards are all equal teaches nothing. The verdicts are "
        "kept in the run directory (spread_filter.json), so a resumed run trains on the same prompts. "
        "0 = off. Default 0.",
    )
    spread_filter_prompts: int | None = Field(
        None,
        ge=1,
        description="With the spread filter: screen this many training prompts (the first of a seeded "
        "shuffle, data.shuffle_seed); None = all. Default None.",
    )
    max_staleness: int = Field(
        0,
        ge=0,
        description="Asynchronous mode: rollouts of the next steps are generated while the learner "
        "trains, sampled by a policy at most this many versions older than the learner's (with the "
        "truncated importance-sampling correction); 0 = synchronous. Default 0.",
    )
    is_cap: float = Field(
        2.0,
        gt=0,
        description="Cap of the truncated importance-sampling correction (async mode). Default 2.0.",
    )

    @model_validator(mode="after")
    def _spread_needs_two(self) -> AlgorithmConfig:
        if self.spread_filter_samples == 1:
            raise ValueError(
                "algorithm.spread_filter_samples=1: expected 0 (off) or at least 2 (one sample cannot "
                "be right some of the time and wrong the rest)"
            )
        return self


class LoraConfig(Section):
    rank: int = Field(
        0,
        ge=0,
        description="LoRA: train low-rank adapters of this rank on the target layers instead of every "
        "weight (0 = off: full fine-tuning). The optimizer states and gradients shrink to the "
        "adapters'; the KL reference is the base with the adapters off (no second copy); rollout "
        "workers get the merged weights. Also the warm start's. ZeRO stage 0-2. Default 0.",
    )
    alpha: float = Field(
        16.0, gt=0, description="LoRA scale numerator: updates are (alpha / rank) B A. Default 16."
    )
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout on the adapters' input (the base runs without). Default 0."
    )
    target_modules: str | list[str] = Field(
        "all-linear",
        description="Layers that get adapters: 'all-linear' (every linear layer but the output head) "
        "or module names, e.g. [q_proj, v_proj]. Default all-linear.",
    )
    save_merged: bool = Field(
        True,
        description="Checkpoints hold the merged model (loadable by launch.py eval --model and vLLM) "
        "beside the adapter (adapter/, peft's format). False: the adapter and the training state only "
        "(small; resumable, but evaluate it by merging it into its base first). Default True.",
    )


class LearnerConfig(Section):
    num_learners: int = Field(1, ge=1, description="Data-parallel learner actors. Default 1.")
    cpus_per_learner: float = Field(1.0, gt=0, description="Ray CPUs per learner actor. Default 1.")
    gpus_per_learner: float = Field(0.0, ge=0, description="GPUs per learner actor. Default 0 (CPU).")
    threads: int | None = _threads_field("learner actor")
    zero_stage: Literal[0, 1, 2, 3] = Field(0, description="DeepSpeed ZeRO stage. Default 0.")
    lr: float = Field(1e-6, gt=0, description="Peak learning rate. Default 1e-6 (paper Sec. 5).")
    lr_warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps. Default 0.")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant", description="Decay after warm-up. Default constant."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay. Default 0.")
    adam_beta2: float = Field(
        0.999,
        gt=0,
        lt=1,
        description="AdamW's second-moment decay, for RL and the warm start. Default 0.999 (PyTorch's). "
        "The tiny preset sets 0.98: at its high warm-start learning rate the loss falls fast, and with "
        "0.999 the step size stays scaled to the first steps' large gradients (measured on the default "
        "run: 1.4% of validation call prompts right after the 600-step warm start with 0.999, 8.9% "
        "with 0.98).",
    )
    grad_clip: float = Field(1.0, gt=0, description="Max global gradient norm. Default 1.0.")
    micro_batch_size: int = Field(
        8,
        ge=1,
        description="Sequences per forward/backward (RL steps: whole groups, at least one). Default 8.",
    )
    share_prompt: bool = Field(
        True,
        description="Run each group's prompt once for its G completions (on its cached keys and "
        "values) instead of G times; same loss and gradients. Default True.",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute each decoder layer's activations in the backward pass instead of keeping "
        "them: activation memory falls from every layer's to about one layer's, for one more forward "
        "pass of each layer. Runs every prompt with its completion in full (Hugging Face's checkpointing keeps no "
        "KV cache, so share_prompt does not apply). Same loss and gradients. Default False; the paper "
        "preset sets it.",
    )
    max_tokens_per_micro_batch: int | None = Field(
        None,
        ge=1,
        description="Pack micro-batches by tokens instead of by count: sequences (RL steps: whole groups) "
        "sorted by length, each micro-batch at most this many padded tokens (rows x its longest "
        "sequence; one longer sequence runs alone), so one long batch no longer sets the peak. The loss "
        "is a token mean over the whole batch, so the split changes no number. Default None (count: "
        "micro_batch_size).",
    )
    single_pass: bool = Field(
        True,
        description="With one PPO epoch: take pi_old's log-probs, the CoT entropies and the importance "
        "weights from the update's own forward pass (detached) instead of a separate no-grad pass; "
        "same loss and gradients. Default True.",
    )
    backend: Literal["gloo", "nccl"] = Field(
        "gloo", description="torch.distributed backend: gloo on CPU, nccl on GPUs. Default gloo."
    )
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA adapters (learner.lora.*).")


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


class ClusterConfig(Section):
    gpu_memory_gib: float | None = Field(
        None,
        gt=0,
        description="Memory of one GPU of the cluster, for the memory plan checked before any work "
        "(launch.py plan). Default None: not checked on GPUs (CPU runs check this machine's memory).",
    )
    address: str = Field(
        "local",
        description="Ray cluster: 'local' starts one on this machine bound to 127.0.0.1; 'auto' or "
        "host:port joins an existing one (ray job submit). Default local.",
    )
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of the local cluster (None = all). Default None."
    )
    colocate: bool = Field(
        True,
        description="Place the rollout workers and reward actors on the learner's node (weights stay "
        "on one machine); false lets them go to any node with room. Default True.",
    )
    placement_timeout_s: float = Field(
        120.0,
        gt=0,
        description="How long the learner ranks and the reward actors may wait for the cluster to "
        "place them before the run stops with what is missing (seconds). Default 120.",
    )


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
        ]
        clu, rew = self.cluster, self.reward
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

    def warm_start_cpus(self) -> float:
        """The warm start's learner CPUs: model.warm_start_cpus, else the whole local cluster (it
        runs alone), else learner.cpus_per_learner."""
        if self.model.warm_start_cpus is not None:
            return self.model.warm_start_cpus
        if self.cluster.address == "local" and self.cluster.num_cpus is not None:
            return float(self.cluster.num_cpus)
        return self.learner.cpus_per_learner


# ---------------------------------------------------------------------------------------------
# Loading


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            paths.extend(_field_paths(ann, f"{prefix}{name}."))
        else:
            paths.append(f"{prefix}{name}")
    return paths


def _closest(path: str) -> str:
    candidates = _field_paths(RunConfig) + list(RunConfig.model_fields)
    match = difflib.get_close_matches(path, candidates, n=1, cutoff=0.0)
    return match[0] if match else ""


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"unknown key '{path}' (value {value!r}); did you mean '{_closest(path)}'?"
    if error["type"] == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    field = path or "config"
    return f"{field}={value!r}: expected {error['msg'][0].lower()}{error['msg'][1:]}"


def validate(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a RunConfig from a plain dict, or raise ConfigError naming every bad field."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        end = "" if problems.endswith((".", "?")) else "."
        raise ConfigError(f"Invalid {source}: {problems}{end}") from None


def parse_value(text: str) -> Any:
    """A command-line value as YAML would read it (numbers, booleans, null, lists)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key.sub=value`` override to a nested dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"Override '{assignment}' is not of the form key.sub=value.")
    key, _, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            f"Override key '{key}' must be section.field (e.g. algorithm.entropy_coef=0.4, "
            f"learner.lora.rank=8); did you mean '{_closest(key)}'?"
        )
    if parts[0] not in RunConfig.model_fields:
        raise ConfigError(
            f"Unknown config section '{parts[0]}' in '{assignment}'; did you mean '{_closest(key)}'?"
        )
    node = data
    for depth, name in enumerate(parts[:-1]):
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"Config section '{where}' must be a mapping, got {node!r}.")
    node[parts[-1]] = parse_value(raw)


def preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return CONFIGS_DIR / f"{name_or_path}.yaml"


def load_config(preset: str = DEFAULT_PRESET, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML preset (a name under configs/ or a path) and apply overrides."""
    path = preset_path(preset)
    if not path.is_file():
        known = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
        raise ConfigError(f"Config preset '{preset}' not found (looked for {path}); known presets: {known}.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    for assignment in overrides or []:
        apply_override(data, assignment)
    return validate(data, source=f"config ({path.name}{' + overrides' if overrides else ''})")


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (every field, defaults included)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
