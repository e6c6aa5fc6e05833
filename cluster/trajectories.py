"""Multi-turn RL (``data.multi_turn``): trajectories played with the environment in the loop as the
completions of a step's groups, their reward, their metrics, and the greedy multi-turn validation.

Each task of the step is played ``G`` times by ``MultiTurnRunner`` (cluster/eval/multiturn.py, the
same loop as BFCL multi-turn evaluation, here sampled at the rollout temperature and with our own
environments in this process). A trajectory is one completion of its task's group:

- ``token_ids``: every token after the first prompt, in order: the model's sampled steps as sampled
  (never decoded and encoded again), and between them the end-of-turn tokens, the tool results and
  the next user turns as the chat template renders them;
- ``loss_mask``: 1 on the sampled tokens, 0 on the rest; ``logprobs``: the sampler's log-prob of
  each sampled token, 0.0 on the masked ones, and 0.0 throughout when the run does not ask vLLM for
  them (``RunConfig.sampler_logprobs``: the step then hands the learner none; never read).

The reward pool judges every trajectory (``RewardPool.judge_trajectories``): it replays the model's
texts on a fresh environment and gives 1 only when every user turn passes its state check and every
model step is think-then-answer (``reward.trajectory``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cluster.data.tasks import TaskPrompt
from cluster.eval.multiturn import LocalEnv, Trajectory, pool_runner


def play(
    prompts: list[TaskPrompt],
    sampling,
    rollout,
    tokenizer,
    cfg,
    *,
    greedy: bool = False,
) -> list[Trajectory]:
    """Play each task ``sampling.group_size`` times (once when ``greedy``), task-major."""
    from dataclasses import replace

    repeats = 1 if greedy else sampling.group_size
    entries = [p.task for p in prompts for _ in range(repeats)]
    runner = pool_runner(
        rollout,
        tokenizer,
        replace(sampling, temperature=0.0) if greedy else sampling,
        style=cfg.data.prompt_style,
        max_model_len=cfg.model.max_model_len,
        slots=len(entries),
        env_factory=LocalEnv,
        verbose=False,
    )
    played = runner.run(entries)
    for t, prompt in zip(played, [p for p in prompts for _ in range(repeats)], strict=True):
        if t.ids[: t.prompt_tokens] != prompt.ids:
            raise RuntimeError(f"task {prompt.id}: the played first prompt differs from the rendered one")
    return played


def completion(t: Trajectory) -> dict[str, Any]:
    """One trajectory as one completion of its group (see the module docstring)."""
    ids = t.ids[t.prompt_tokens :]
    assert len(ids) == len(t.mask) == len(t.logprobs), "one mask bit and one log-prob per token"
    return {
        "token_ids": ids,
        "logprobs": t.logprobs,
        "loss_mask": t.mask,
        "text": "\n".join(t.outputs),
        "finish_reason": "length" if t.cut else "stop",
        "turns_played": len(t.turn_outputs),
        "steps": len(t.outputs),
        "env_errors": t.env_errors,
        "env_s": t.env_s,
    }


def play_and_judge(
    prompts: list[TaskPrompt],
    sampling,
    rollout,
    reward_pool,
    timings: dict[str, float] | None = None,
    *,
    tokenizer,
    cfg,
):
    """``generate_and_judge`` for multi-turn tasks: G trajectories per task and the reward pool's
    verdicts on them (``[P][G]`` each)."""
    t0 = time.perf_counter()
    played = play(prompts, sampling, rollout, tokenizer, cfg)
    G = sampling.group_size
    by_task = [played[i * G : (i + 1) * G] for i in range(len(prompts))]
    groups = [[completion(t) for t in group] for group in by_task]
    generated = time.perf_counter()
    verdicts = reward_pool.judge_trajectories(
        [
            {"task": p.task, "trajectories": [t.turn_outputs for t in group]}
            for p, group in zip(prompts, by_task, strict=True)
        ]
    )
    if timings is not None:
        timings["time/generate"] += generated - t0
        timings["time/score"] += time.perf_counter() - generated
        timings["time/env"] = timings.get("time/env", 0.0) + sum(t.env_s for t in played)
    return groups, verdicts


def trajectory_metrics(groups: list[list[dict[str, Any]]], verdicts) -> dict[str, float]:
    """A step's multi-turn metrics: per-turn pass rate (logged, not rewarded), turns per trajectory,
    steps and calls per turn, environment errors, and the observation (masked) and model tokens."""
    flat = [c for group in groups for c in group]
    judged = [v for group in verdicts for v in group]
    played = sum(c["turns_played"] for c in flat)
    masks = [c["loss_mask"] for c in flat]
    return {
        "multiturn/turn_pass_rate": sum(v.turns_passed for v in judged)
        / max(1, sum(v.turns for v in judged)),
        "multiturn/success": sum(v.reward for v in judged) / len(judged),
        "multiturn/format_ok": sum(v.format_ok for v in judged) / len(judged),
        "multiturn/turns_per_trajectory": played / len(flat),
        "multiturn/steps_per_turn": sum(c["steps"] for c in flat) / max(1, played),
        "multiturn/calls_per_turn": sum(v.calls for v in judged) / max(1, played),
        "multiturn/env_errors": sum(c["env_errors"] for c in flat) / len(flat),
        "multiturn/observation_tokens": sum(len(m) - sum(m) for m in masks),
        "multiturn/model_tokens": sum(sum(m) for m in masks),
    }


def evaluate_tasks(prompts: list[TaskPrompt], rollout, tokenizer, cfg, out_path: Path) -> dict[str, Any]:
    """Greedy multi-turn validation: each task played once; ``eval/accuracy`` is the share whose
    every user turn passed its check (BFCL's all-or-nothing entry score), also per category and per
    slice; each trajectory's record goes to ``out_path`` (JSONL)."""
    from cluster.roles.rollout_pool import Sampling

    sampling = Sampling(1, 0.0, max_new_tokens=cfg.rollout.max_new_tokens, seed=0)
    played = play(prompts, sampling, rollout, tokenizer, cfg, greedy=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w") as out:
        for t in played:
            out.write(json.dumps(t.record()) + "\n")

    def accuracy(items: list[Trajectory]) -> float:
        return sum(bool(t.correct) for t in items) / len(items)

    result: dict[str, Any] = {
        "eval/accuracy": accuracy(played),
        "eval/count": len(played),
        "eval/multiturn/turn_pass_rate": sum(t.turns_passed for t in played)
        / max(1, sum(len(t.entry["question"]) for t in played)),
    }
    for key, name in (("category", "accuracy"), ("slice", "slice")):
        for value in sorted({t.entry[key] for t in played if t.entry.get(key)}):
            result[f"eval/{name}/{value}"] = accuracy([t for t in played if t.entry.get(key) == value])
    return result
