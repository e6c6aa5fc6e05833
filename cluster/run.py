"""The single controller: the EGPO training loop, read top to bottom (architecture.md).

sample prompts -> rollout pool generates G completions each -> reward pool scores them
-> learner recomputes log-probs and CoT entropy, computes EGPO advantages, updates
-> new weights to every rollout worker -> metrics, evaluation, checkpoints
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cluster.config import ConfigError, RunConfig, load_config, save_config
from cluster.data.feed import PromptFeed
from cluster.observe.metrics import MetricsLog
from cluster.observe.progress import StepProgress, phase, say
from cluster.observe.telemetry import Telemetry
from cluster.pipeline import RolloutPipeline
from cluster.roles.kv_cache import rollout_kv_cache
from cluster.roles.memory_plan import host_memory, memory_plan
from cluster.rundir import STATE_FILE, RunDir
from cluster.step import rl_step, sample_and_score
from cluster.task_kinds import task_kind

# ----------------------------------------------------------------------------- the loop


def train(cfg: RunConfig, resume: str | None = None) -> int:
    """Run (or resume) training; returns the process exit status."""
    from cluster.eval.validation import accuracy_report
    from cluster.models.resolve import ModelNotFound
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
        kind = task_kind(cfg)
        data = kind.load()
        model_dir, tokenizer = data.model_dir, data.tokenizer
        train_prompts, val_prompts = data.train, data.val
        plan = memory_plan(cfg, data.longest, host_memory(cfg), model_dir)
        say(plan.table())
        if plan.problems:
            raise ValueError("the run does not fit in memory: " + "; ".join(plan.problems))
        kv_cache = rollout_kv_cache(cfg, model_dir, data.longest)
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

    policy_dir = warm_start(cfg, Path(model_dir), data.warm, tokenizer)
    if cfg.model.warm_start_sft_steps:
        run.link_warm_start(policy_dir)
    # The learner ranks load the model while the rollout workers and reward actors start, unless a
    # device may be shared: then vLLM sizes its cache after the learner holds its memory.
    learners = LearnerGroup(str(policy_dir), cfg, wait=may_share_a_gpu(cfg))
    node_id = learners.node_id if cfg.cluster.colocate else None  # None: any node with room
    rollout = RolloutPool(
        str(policy_dir),
        cfg.model,
        colocated_rollout(cfg, learners),
        run_name=run.path.name,
        node_id=node_id,
        kv_cache_bytes=kv_cache,
        take_turns=cfg.cluster.mode == "colocated",
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
    try:
        train_prompts = kind.screen(train_prompts, rollout, reward_pool, run.path)
    except ValueError as exc:
        for pool in (rollout, learners, reward_pool):
            pool.shutdown()
        print(f"launch.py: {exc}", file=sys.stderr)
        return 2
    learners.wait_ready()
    weight_sync = WeightSync(
        learners,
        rollout,
        cfg.learner.backend,
        cfg.rollout.weight_sync_timeout_s,
        in_place=cfg.cluster.mode == "colocated",
    )
    metrics_log = MetricsLog(run.path, cfg.logging.tensorboard, wandb_run)
    telemetry = Telemetry(run.path.name)
    feed = PromptFeed(train_prompts, cfg.train.prompts_per_step, cfg.data.shuffle_seed)

    def run_eval(step: int) -> dict[str, Any]:
        t = time.perf_counter()
        with phase(f"evaluation (step {step})", total=len(val_prompts), unit="prompt") as bar:
            out = run.path / "eval" / f"step-{step:06d}.jsonl"
            result = kind.evaluate(val_prompts, rollout, reward_pool, tokenizer, out)
            bar.advance(len(val_prompts), f"{kind.headline} {result['eval/accuracy']:.3f}")
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
        say(
            f"Validation {kind.headline} before RL: {before['eval/accuracy']:.3f} "
            f"({before['eval/count']} {kind.unit})"
        )

    total = cfg.train.steps
    last_eval = before
    progress = StepProgress(total, start_step, cfg.logging.verbose)
    play = kind.sampler(tokenizer)
    pipeline = RolloutPipeline(
        lambda step: sample_and_score(step, cfg, feed, rollout, reward_pool, play),
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
        f"\nDone in {report['wall_time_s'] / 60:.1f} min. Validation {kind.headline} (greedy, {before['eval/count']} {kind.unit}): "
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


def colocated_rollout(cfg: RunConfig, learners):
    """``cfg.rollout``, with ``cluster.mode=colocated``'s threads when it leaves them unset: every
    core of the learner's node, shared among the workers (sampling and training take turns)."""
    from common.placement import shared_threads

    if cfg.cluster.mode != "colocated":
        return cfg.rollout
    threads = cfg.rollout.threads or shared_threads(learners.node_id, cfg.rollout.num_workers)
    say(
        f"Colocated: rollout workers and learner take turns on node {learners.node_id[:8]}: "
        f"{threads} thread(s) a worker, {learners.threads or 'Ray default'} a learner rank"
        + (", engines sleep while the learner trains" if cfg.rollout.gpus_per_worker else "")
        + "; weights through the node's shared-memory object store"
    )
    return cfg.rollout.model_copy(update={"threads": threads})


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


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(train(load_config()))
