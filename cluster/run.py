"""The single controller: the EGPO training loop, read top to bottom (architecture.md).

sample prompts -> rollout pool generates G completions each -> reward pool scores them
-> learner recomputes log-probs and CoT entropy, computes EGPO advantages, updates
-> new weights to every rollout worker -> metrics, evaluation, checkpoints
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cluster.config import ConfigError, RunConfig, load_config, preset_path, save_config, validate
from cluster.data.feed import Prompt, PromptFeed, load_splits, load_warm_start_samples, render_all
from cluster.eval.sides import rollout_split
from cluster.observe.metrics import MetricsLog
from cluster.observe.progress import StepProgress, phase, say
from cluster.observe.telemetry import Telemetry
from cluster.pipeline import RolloutPipeline
from cluster.roles.kv_cache import rollout_kv_cache
from cluster.roles.memory_plan import host_memory, memory_plan
from common.tokenizer import load_tokenizer
from reward.score import Verdict

CHECKPOINTS = "checkpoints"
STATE_FILE = "driver_state.json"
WARM_START_LINK = "warm_start"  # runs/<name>/warm_start -> the cached warm-started model


# ----------------------------------------------------------------------------- run directory


class RunDir:
    """``runs/<name>``: config.yaml, metrics.jsonl, checkpoints/step-<N>/, eval outputs, report."""

    def __init__(self, path: Path):
        self.path = path
        self.checkpoints = path / CHECKPOINTS

    @classmethod
    def create(cls, cfg: RunConfig) -> RunDir:
        name = cfg.logging.run_name or f"{Path(cfg.model.path).name}-{datetime.now():%Y%m%d-%H%M%S}"
        path = Path(cfg.logging.runs_dir) / name
        if (path / STATE_FILE).exists() or any(path.glob(f"{CHECKPOINTS}/step-*")):
            raise ConfigError(
                f"logging.run_name={name!r}: {path} already holds a run; resume it with "
                f"'python launch.py train --resume {path}' or choose another name"
            )
        path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, path / "config.yaml")
        return cls(path)

    def discard_if_unused(self) -> None:
        """Remove the folder of a run that failed before any work (no metrics, no checkpoint yet),
        so a bad config or data file leaves no run behind that holds only config.yaml."""
        if not (self.path / "metrics.jsonl").exists() and not self.checkpoints.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def link_warm_start(self, model_dir: Path) -> None:
        """``runs/<name>/warm_start``: a link to the warm-started model (cached under .cache/), so
        ``launch.py eval --model runs/<name>/warm_start`` scores the policy RL started from."""
        link = self.path / WARM_START_LINK
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(model_dir.resolve(), target_is_directory=True)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint (an interrupted write never counts)."""
        done = [p for p in self.checkpoints.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
        return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)

    def save_checkpoint(self, learners, step: int, state: dict[str, Any]) -> Path:
        """Write the learner's checkpoint and the driver's state to a temporary folder, then rename:
        a crash mid-write leaves no folder that looks complete."""
        final = self.checkpoints / f"step-{step:06d}"
        partial = self.checkpoints / f".step-{step:06d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        learners.save_checkpoint(str(partial))
        tmp_state = partial / (STATE_FILE + ".tmp")
        tmp_state.write_text(json.dumps(state))
        tmp_state.rename(partial / STATE_FILE)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        return final


def resume_config(run_dir: str, overrides: list[str] | None = None) -> RunConfig:
    """The saved config of ``run_dir`` with ``overrides`` applied (e.g. more train.steps)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no run there ({path} does not exist)")
    cfg = load_config(str(preset_path(str(path))), overrides)
    data = cfg.model_dump()
    data["logging"]["run_name"] = Path(run_dir).name
    data["logging"]["runs_dir"] = str(Path(run_dir).parent)
    return validate(data, source=f"config of {run_dir}")


# ----------------------------------------------------------------------------- the loop


@dataclass
class Rollouts:
    """One step's prompts, their groups of completions and the reward pool's verdicts on them
    (``[P][G]`` each)."""

    prompts: list[Prompt]
    groups: list[list[dict[str, Any]]]
    verdicts: list[list[Verdict]]
    version: int  # the policy version that sampled them
    timings: dict[str, float]
    stats: dict[str, float]

    @property
    def rewards(self) -> list[float]:
        """The rewards, group-major."""
        return [v.reward for group in self.verdicts for v in group]


def sample_and_score(step: int, cfg: RunConfig, feed: PromptFeed, rollout, reward_pool) -> Rollouts:
    """Generate G completions for each prompt of ``step`` and score them. With dynamic sampling,
    groups whose rewards are all equal (no learning signal) are replaced by groups of fresh prompts,
    for at most ``algorithm.dynamic_sampling_rounds`` rounds."""
    from cluster.roles.rollout_pool import Sampling

    timings = {"time/generate": 0.0, "time/score": 0.0}
    version = rollout.version

    def sample(prompts: list[Prompt], seed: int) -> tuple[list, list[list[Verdict]]]:
        t = time.perf_counter()
        groups = rollout.generate([p.ids for p in prompts], Sampling.from_config(cfg.rollout, seed))
        timings["time/generate"] += time.perf_counter() - t
        t = time.perf_counter()
        texts = [[c["text"] for c in group] for group in groups]
        verdicts = reward_pool.judge_groups([p.reward_group(g) for p, g in zip(prompts, texts, strict=True)])
        timings["time/score"] += time.perf_counter() - t
        return groups, verdicts

    prompts = feed.batch(step)
    groups, verdicts = sample(prompts, cfg.rollout.seed + step)
    flat_first = sum(_flat(v) for v in verdicts)
    replaced = 0
    alg = cfg.algorithm
    rounds = alg.dynamic_sampling_rounds if alg.dynamic_sampling else 0
    for round_ in range(1, rounds + 1):
        flat = [i for i, v in enumerate(verdicts) if _flat(v)]
        if not flat:
            break
        fresh = feed.extra(step, round_, len(flat))
        new_groups, new_verdicts = sample(fresh, cfg.rollout.seed + step + _ROUND_SEED_STRIDE * round_)
        for i, prompt, group, verdict in zip(flat, fresh, new_groups, new_verdicts, strict=True):
            prompts[i], groups[i], verdicts[i] = prompt, group, verdict
        replaced += len(flat)
    stats = {"frac_zero_std_groups_sampled": flat_first / len(prompts)}
    if alg.dynamic_sampling:
        stats["dynamic_sampling/replaced_groups"] = replaced
    return Rollouts(prompts, groups, verdicts, version, timings, stats)


_ROUND_SEED_STRIDE = 1_000_003


def _flat(verdicts: list[Verdict]) -> bool:
    """All of a group's rewards are equal: no learning signal."""
    return all(v.reward == verdicts[0].reward for v in verdicts)


def rl_step(
    step: int, cfg: RunConfig, pipeline: RolloutPipeline, learners, weight_sync, rollout, reward_pool
) -> dict[str, Any]:
    """One EGPO step: take the step's scored rollouts, update the learner, push the new weights."""
    t0 = time.perf_counter()
    rollouts = pipeline.take(step)
    waited = time.perf_counter() - t0
    staleness = (step - 1) - rollouts.version
    if staleness > cfg.algorithm.max_staleness:  # the pipeline's invariant; never silently train on it
        raise RuntimeError(
            f"step {step}: rollouts of policy version {rollouts.version} are {staleness} versions old "
            f"(algorithm.max_staleness={cfg.algorithm.max_staleness})"
        )
    prompts, completions = rollouts.prompts, [c for group in rollouts.groups for c in group]
    G = cfg.rollout.group_size
    batch = {
        "prompt_ids": [p.ids for p in prompts for _ in range(G)],
        "completion_ids": [c["token_ids"] for c in completions],
        "rewards": rollouts.rewards,
        "group_size": G,
        "temperature": cfg.rollout.temperature,
        "sampler_logprobs": [c["logprobs"] for c in completions],
        "staleness": staleness,
    }
    t = time.perf_counter()
    metrics = learners.train_step(batch)
    metrics["throughput/learner_tokens_per_s"] = metrics.pop("throughput/tokens_per_s", 0.0)
    train_s = time.perf_counter() - t

    t = time.perf_counter()
    with pipeline.exclusive():
        locked = time.perf_counter()
        weight_sync.push(version=step)
        sync_s = time.perf_counter() - locked
    pipeline.pushed(step)
    push_wait = locked - t

    step_s = time.perf_counter() - t0
    timings = {
        **rollouts.timings,
        "time/train": train_s,
        "time/weight_sync": sync_s,
        "time/step": step_s,
    }
    if pipeline.max_staleness == 0:  # generate and score ran inside take()
        busy = timings["time/generate"] + timings["time/score"]
    else:  # they overlapped training; the step only waited for what was not ready yet
        timings["time/wait_rollouts"] = waited
        timings["time/wait_workers"] = push_wait
        busy = waited + push_wait
    timings["time/overhead"] = step_s - busy - train_s - sync_s

    rewards = rollouts.rewards
    lengths = [len(c["token_ids"]) for c in completions]
    tokens = sum(lengths) + sum(len(p) for p in batch["prompt_ids"])
    metrics.update(timings)
    metrics.update(rollouts.stats)
    metrics.update(rollout_split(prompts, rollouts.verdicts))
    metrics.update(
        {
            "reward/mean": sum(rewards) / len(rewards),
            "response_length/mean": sum(lengths) / len(lengths),
            "frac_truncated": sum(c["finish_reason"] == "length" for c in completions) / len(completions),
            "throughput/tokens_per_s": tokens / step_s,
            "throughput/completions_per_s": len(completions) / step_s,
            "pool/rollout_workers": rollout.size,
            **rollout.metrics(),
            **reward_pool.metrics(),
            "pool/learners": learners.world_size,
            "policy_version": step,
            "policy/staleness": staleness,
            "data/batch_digest": batch_digest(prompts),
        }
    )
    return metrics


def train(cfg: RunConfig, resume: str | None = None) -> int:
    """Run (or resume) training; returns the process exit status."""
    from cluster.eval.command import accuracy_report, evaluate
    from cluster.models.resolve import ModelNotFound, resolve_model
    from cluster.observe.wandb_log import WandbRun, check_installed
    from cluster.roles.learner_group import LearnerGroup
    from cluster.roles.ray_setup import actor_env, connect
    from cluster.roles.rollout_pool import RolloutPool
    from cluster.roles.weight_sync import WeightSync
    from cluster.warm_start import warm_start
    from reward import RewardPool

    started = time.time()
    actor_env()
    run = None
    try:
        check_installed(cfg)
        run = RunDir(Path(resume)) if resume else RunDir.create(cfg)
        train_samples, val_samples = load_splits(cfg)
        model_dir = resolve_model(cfg.model, _corpus(train_samples, cfg))
        tokenizer = load_tokenizer(model_dir)
        train_prompts = render_all(train_samples, tokenizer, cfg, "train")
        val_prompts = render_all(val_samples, tokenizer, cfg, "validation")
        if cfg.train.eval_limit:
            val_prompts = val_prompts[: cfg.train.eval_limit]
        warm_samples = load_warm_start_samples(cfg) if cfg.model.warm_start_sft_steps else None
        warm_prompts = (
            render_all(warm_samples, tokenizer, cfg, "warm start") if warm_samples else train_prompts
        )
        longest = max(len(p.ids) for p in train_prompts + val_prompts)
        plan = memory_plan(cfg, longest, host_memory(cfg), model_dir)
        say(plan.table())
        if plan.problems:
            raise ValueError("the run does not fit in memory: " + "; ".join(plan.problems))
        kv_cache = rollout_kv_cache(cfg, model_dir, longest)
        wandb_run = WandbRun(cfg, run.path) if cfg.logging.wandb else None
    except (ConfigError, ModelNotFound, ValueError, OSError) as exc:
        if run is not None and not resume:
            run.discard_if_unused()
        print(f"launch.py: {exc}", file=sys.stderr)
        return 2
    if cfg.model.revision:  # a hub id's resolved commit: a resume loads the same weights
        save_config(cfg, run.path / "config.yaml")
    say(f"Run directory: {run.path}")
    dashboard = connect(cfg.cluster)
    if dashboard:
        say(f"Ray dashboard: {dashboard}")

    say(f"Data: {len(train_prompts)} training prompts, {len(val_prompts)} validation prompts")

    policy_dir = warm_start(cfg, Path(model_dir), warm_prompts, tokenizer)
    if cfg.model.warm_start_sft_steps:
        run.link_warm_start(policy_dir)
    # The learner ranks load the model while the rollout workers and reward actors start, unless a
    # device may be shared: then vLLM sizes its cache after the learner holds its memory.
    learners = LearnerGroup(str(policy_dir), cfg, wait=may_share_a_gpu(cfg))
    node_id = learners.node_id if cfg.cluster.colocate else None  # None: any node with room
    rollout = RolloutPool(
        str(policy_dir),
        cfg.model,
        cfg.rollout,
        run_name=run.path.name,
        node_id=node_id,
        kv_cache_bytes=kv_cache,
    )
    say(
        f"Rollout workers: {rollout.size} (change while it runs: python launch.py scale --workers N "
        f"--run {run.path.name} --address {_ray_address()})"
    )
    reward_pool = RewardPool(
        cfg.reward.num_actors,
        cfg.reward.cpus_per_actor,
        cfg.reward.output_format,
        name_prefix="reward",
        start_timeout_s=cfg.cluster.placement_timeout_s,
        node_id=node_id,
    )
    learners.wait_ready()
    weight_sync = WeightSync(learners, rollout, cfg.learner.backend, cfg.rollout.weight_sync_timeout_s)
    metrics_log = MetricsLog(run.path, cfg.logging.tensorboard, wandb_run)
    telemetry = Telemetry(run.path.name)
    feed = PromptFeed(train_prompts, cfg.train.prompts_per_step, cfg.data.shuffle_seed)

    def run_eval(step: int) -> dict[str, Any]:
        t = time.perf_counter()
        with phase(f"evaluation (step {step})", total=len(val_prompts), unit="prompt") as bar:
            result = evaluate(
                val_prompts,
                rollout,
                reward_pool,
                cfg.rollout.max_new_tokens,
                run.path / "eval" / f"step-{step:06d}.jsonl",
            )
            bar.advance(len(val_prompts), f"accuracy {result['eval/accuracy']:.3f}")
        result["time/eval"] = time.perf_counter() - t
        return result

    start_step, state = 0, {}
    latest = run.latest_checkpoint() if resume else None
    if latest is not None:
        state = json.loads((latest / STATE_FILE).read_text())
        start_step = state["step"]
        learners.load_checkpoint(str(latest))
        weight_sync.push(version=start_step)
        metrics_log.truncate_after(start_step)
        say(f"Resumed {run.path} from {latest.name} (step {start_step})")
        workers = state.get("rollout_workers")
        if workers and workers != rollout.target and not cfg.rollout.autoscale:
            rollout.set_target(workers)  # the size the run had been scaled to
            say(f"Rollout workers: {workers}, as the run had been scaled to before the checkpoint")
    elif resume:
        say(f"No complete checkpoint in {run.path}; starting it from step 0")
        metrics_log.truncate_after(0)

    before = state.get("eval_before")
    if before is None:
        before = run_eval(0)
        metrics_log.log(0, before)
        telemetry.record(0, before)
        say(f"Validation accuracy before RL: {before['eval/accuracy']:.3f} ({before['eval/count']} prompts)")

    total = cfg.train.steps
    last_eval = before
    progress = StepProgress(total, start_step, cfg.logging.verbose)
    pipeline = RolloutPipeline(
        lambda step: sample_and_score(step, cfg, feed, rollout, reward_pool),
        first_step=start_step + 1,
        last_step=total,
        max_staleness=cfg.algorithm.max_staleness,
        version=rollout.version,
    )
    try:
        for step in range(start_step + 1, total + 1):
            metrics = rl_step(step, cfg, pipeline, learners, weight_sync, rollout, reward_pool)
            if step == total or (cfg.train.eval_every and step % cfg.train.eval_every == 0):
                with pipeline.exclusive():
                    last_eval = run_eval(step)
                metrics.update(last_eval)
            metrics_log.log(step, metrics)
            telemetry.record(step, metrics)
            progress.step_done(step, metrics)
            if step == total or (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0):
                state = {"step": step, "eval_before": before, "rollout_workers": rollout.target}
                path = run.save_checkpoint(learners, step, state)
                if cfg.logging.verbose:
                    say(f"Checkpoint: {path}")
    finally:
        pipeline.close(wait=False)

    progress.close()
    report = {
        "run": str(run.path),
        "steps": total,
        "eval_before": before["eval/accuracy"],
        "eval_after": last_eval["eval/accuracy"],
        "eval_before_detail": _eval_detail(before),
        "eval_after_detail": _eval_detail(last_eval),
        "wall_time_s": time.time() - started,
        "final_model": str(run.latest_checkpoint()),
        "entropy_coef": cfg.algorithm.entropy_coef,
    }
    (run.path / "report.json").write_text(json.dumps(report, indent=2))
    say(
        f"\nDone in {report['wall_time_s'] / 60:.1f} min. Validation accuracy (greedy, {before['eval/count']} prompts): "
        f"{report['eval_before']:.3f} after the warm start -> {report['eval_after']:.3f} after {total} EGPO steps "
        f"({(report['eval_after'] - report['eval_before']) * 100:+.1f} points).\n"
        + "".join(f"{line}\n" for line in accuracy_report(before, last_eval))
        + f"Final model (Hugging Face format): {report['final_model']}\nMetrics: {run.path / 'metrics.jsonl'}"
    )
    plots = _plot(run.path)
    if wandb_run is not None and plots:
        wandb_run.images(plots)
    metrics_log.close()
    for pool in (rollout, learners, reward_pool):
        pool.shutdown()
    return 0


def may_share_a_gpu(cfg: RunConfig) -> bool:
    """Whether a learner rank and a rollout worker may hold the same GPU (a fraction of one each)."""
    return 0 < cfg.learner.gpus_per_learner < 1 or 0 < cfg.rollout.gpus_per_worker < 1


def _eval_detail(result: dict[str, Any]) -> dict[str, float]:
    """An evaluation's per-category accuracies and call rate, for report.json."""
    return {
        k.removeprefix("eval/"): v
        for k, v in result.items()
        if k.startswith(
            (
                "eval/accuracy/",
                "eval/call_rate",
                "eval/call_precision",
                "eval/call_prompts",
                "eval/no_call_prompts",
                "eval/slice/",
            )
        )
    }


def _plot(run_path: Path) -> list[Path]:
    """End-of-run PNG plots in runs/<name>/plots/ (a plotting failure never fails the run)."""
    from cluster.observe.plots import plot_run

    try:
        paths = plot_run(run_path)
    except Exception as exc:  # noqa: BLE001 - plots are a convenience; the run itself is done
        say(f"Plots: not written ({type(exc).__name__}: {exc})")
        return []
    say(f"Plots: {paths[-1].parent}")
    return paths


def _ray_address() -> str:
    import ray

    return ray.get_runtime_context().gcs_address


def batch_digest(prompts: list[Prompt]) -> str:
    """A short fingerprint of which samples a step trained on (resume keeps the data order)."""
    import hashlib

    return hashlib.sha256("\n".join(p.sample.id for p in prompts).encode()).hexdigest()[:12]


def _corpus(samples, cfg: RunConfig) -> list[str]:
    from cluster.data import corpus_texts

    if cfg.model.path != "tiny":
        return []
    return corpus_texts(samples, cfg.reward.output_format, cfg.data.prompt_style)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(train(load_config()))
