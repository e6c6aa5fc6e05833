"""Validation during training: greedy accuracy on the validation split, per category and on each
side (call / no call), and the end-of-run report of before against after."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from cluster.data.feed import Prompt
from cluster.eval.sides import call_precision, call_rate, side_accuracy
from cluster.roles.rollout_pool import RolloutPool, Sampling


def evaluate(
    prompts: list[Prompt],
    rollout: RolloutPool,
    reward_pool,
    max_new_tokens: int,
    out_file: str | Path | None = None,
) -> dict[str, Any]:
    """Greedy-decode every prompt once, score with the strict reward, return accuracy overall and
    per category, on each side (``cluster.eval.sides``), ``eval/call_rate`` and ``eval/call_precision``;
    with ``out_file``, write every output with its verdict as JSON lines."""
    if not prompts:
        return {"eval/accuracy": float("nan"), "eval/count": 0}
    groups = rollout.generate([p.ids for p in prompts], Sampling(1, 0.0, max_new_tokens=max_new_tokens))
    texts = [group[0]["text"] for group in groups]
    judged = reward_pool.judge_groups([p.reward_group([t]) for p, t in zip(prompts, texts, strict=True)])
    verdicts = [group[0] for group in judged]
    rewards = [v.reward for v in verdicts]
    by_category: dict[str, list[float]] = defaultdict(list)
    for prompt, reward in zip(prompts, rewards, strict=True):
        by_category[prompt.sample.category].append(reward)
    metrics: dict[str, Any] = {"eval/accuracy": sum(rewards) / len(rewards), "eval/count": len(rewards)}
    for category, values in sorted(by_category.items()):
        metrics[f"eval/accuracy/{category}"] = sum(values) / len(values)
    metrics.update(side_accuracy(prompts, rewards))
    for key, value in (
        ("eval/call_rate", call_rate(prompts, verdicts)),
        ("eval/call_precision", call_precision(prompts, verdicts)),
    ):
        if value is not None:
            metrics[key] = value
    if out_file is not None:
        Path(out_file).parent.mkdir(parents=True, exist_ok=True)
        with open(out_file, "w") as f:
            for prompt, text, reward in zip(prompts, texts, rewards, strict=True):
                record = {
                    "id": prompt.sample.id,
                    "category": prompt.sample.category,
                    "reward": reward,
                    "output": text,
                }
                f.write(json.dumps(record) + "\n")
    return metrics


def accuracy_report(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Lines for the end-of-run report: accuracy per category and the call rate, before -> after
    RL, and a warning when the gain comes from abstaining (the call rate more than halved)."""
    categories = sorted(k.removeprefix("eval/accuracy/") for k in after if k.startswith("eval/accuracy/"))
    parts = [
        f"{c} {before.get(f'eval/accuracy/{c}', float('nan')):.2f} -> {after[f'eval/accuracy/{c}']:.2f}"
        for c in categories
    ]
    lines = [f"By category: {', '.join(parts)}."] if parts else []
    sides = [
        f"{label} {before[key]:.3f} -> {after[key]:.3f}"
        for key, label in (
            ("eval/call_prompts", "prompts that need a call"),
            ("eval/no_call_prompts", "prompts that need none"),
        )
        if key in before and key in after
    ]
    sides += [
        f"slice {k.removeprefix('eval/slice/')} {before[k]:.3f} -> {after[k]:.3f}"
        for k in sorted(after)
        if k.startswith("eval/slice/") and k in before
    ]
    if sides:
        lines.append(f"Accuracy on {', '.join(sides)}.")
    rate_before, rate_after = before.get("eval/call_rate"), after.get("eval/call_rate")
    if rate_before is None or rate_after is None:
        return lines
    line = (
        f"Prompts that need a call answered with one (right or wrong): {rate_before:.0%} -> {rate_after:.0%}"
    )
    precision_before, precision_after = before.get("eval/call_precision"), after.get("eval/call_precision")
    if precision_before is not None and precision_after is not None:
        line += f"; of those calls, right (call precision): {precision_before:.0%} -> {precision_after:.0%}"
    lines.append(line + ".")
    if rate_after < 0.5 * rate_before:
        lines.append(
            "Warning: the policy now abstains on most prompts that need a call; its gain is on the "
            "no-call categories, not better calls (see eval/call_rate)."
        )
    return lines
