"""One RL step of the driver: sample and score a step's groups (with dynamic sampling), then
train the learner on them and push the new weights (``rl_step``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cluster.config import RunConfig
from cluster.data.feed import Prompt, PromptFeed
from cluster.eval.sides import rollout_split
from cluster.pipeline import RolloutPipeline
from common.types import RolloutBatch
from reward.score import Verdict


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


def sample_and_score(
    step: int, cfg: RunConfig, feed: PromptFeed, rollout, reward_pool, play=None
) -> Rollouts:
    """Generate G completions for each prompt of ``step`` and score them. With dynamic sampling,
    groups whose rewards are all equal (no learning signal) are replaced by groups of fresh prompts,
    for at most ``algorithm.dynamic_sampling_rounds`` rounds. ``play`` replaces
    ``generate_and_judge`` (same arguments and result): multi-turn tasks give it
    ``cluster.trajectories.play_and_judge``."""
    from cluster.roles.rollout_pool import Sampling

    timings = {"time/generate": 0.0, "time/score": 0.0}
    version = rollout.version

    def sample(prompts: list[Prompt], seed: int) -> tuple[list, list[list[Verdict]]]:
        sampling = Sampling.from_config(cfg.rollout, seed, logprobs=cfg.sampler_logprobs())
        return (play or generate_and_judge)(prompts, sampling, rollout, reward_pool, timings)

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


def generate_and_judge(
    prompts: list[Prompt], sampling, rollout, reward_pool, timings: dict[str, float] | None = None
) -> tuple[list[list[dict[str, Any]]], list[list[Verdict]]]:
    """A group of completions for each prompt, and the reward pool's verdicts on them (``[P][G]``
    each). ``timings``, when given, accumulates ``time/generate`` and ``time/score``."""
    t = time.perf_counter()
    groups = rollout.generate([p.ids for p in prompts], sampling)
    generated = time.perf_counter()
    texts = [[c["text"] for c in group] for group in groups]
    verdicts = reward_pool.judge_groups([p.reward_group(g) for p, g in zip(prompts, texts, strict=True)])
    if timings is not None:
        timings["time/generate"] += generated - t
        timings["time/score"] += time.perf_counter() - generated
    return groups, verdicts


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
    multi_turn = "loss_mask" in completions[0]  # trajectories: the model's tokens only take loss
    batch = RolloutBatch(
        prompt_ids=[p.ids for p in prompts],
        completion_ids=[[c["token_ids"] for c in group] for group in rollouts.groups],
        sampler_logprobs=[[c["logprobs"] for c in group] for group in rollouts.groups]
        if cfg.sampler_logprobs()
        else None,
        loss_mask=[[c["loss_mask"] for c in group] for group in rollouts.groups] if multi_turn else None,
        rewards=[[v.reward for v in group] for group in rollouts.verdicts],
        temperature=cfg.rollout.temperature,
        staleness=staleness,
    )
    colocated = cfg.cluster.mode == "colocated"
    turns = rollout.sleep() if colocated else {}  # on GPUs the learner gets the devices
    t = time.perf_counter()
    metrics = learners.train_step(batch)
    metrics["throughput/learner_tokens_per_s"] = metrics.pop("throughput/tokens_per_s", 0.0)
    train_s = time.perf_counter() - t

    t = time.perf_counter()
    with pipeline.exclusive():
        locked = time.perf_counter()
        if colocated:  # the engines take the devices back before the new weights
            turns.update(rollout.wake_up())
        weight_sync.push(version=step)
        sync_s = time.perf_counter() - locked - turns.get("time/rollout_wake", 0.0)
    pipeline.pushed(step)
    push_wait = locked - t

    step_s = time.perf_counter() - t0
    timings = {
        **rollouts.timings,
        "time/train": train_s,
        "time/weight_sync": sync_s,
        "time/step": step_s,
        **turns,
    }
    if pipeline.max_staleness == 0:  # generate and score ran inside take()
        busy = timings["time/generate"] + timings["time/score"]
    else:  # they overlapped training; the step only waited for what was not ready yet
        timings["time/wait_rollouts"] = waited
        timings["time/wait_workers"] = push_wait
        busy = waited + push_wait
    turn_s = turns.get("time/rollout_sleep", 0.0) + turns.get("time/rollout_wake", 0.0)
    timings["time/overhead"] = step_s - busy - train_s - sync_s - turn_s

    rewards = rollouts.rewards
    lengths = [len(c["token_ids"]) for c in completions]
    tokens = sum(lengths) + batch.group_size * sum(len(p) for p in batch.prompt_ids)  # a prompt per row
    metrics.update(timings)
    metrics.update(rollouts.stats)
    if multi_turn:
        from cluster.trajectories import trajectory_metrics

        metrics.update(trajectory_metrics(rollouts.groups, rollouts.verdicts))
    else:
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


def batch_digest(prompts: list) -> str:
    """A short fingerprint of which samples (or multi-turn tasks) a step trained on (resume keeps
    the data order)."""
    import hashlib

    return hashlib.sha256("\n".join(p.id for p in prompts).encode()).hexdigest()[:12]
