"""Evaluation on the validation split: greedy decoding by the rollout pool, the training reward."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from cluster.feed import Prompt
from cluster.rollout_pool import RolloutPool, Sampling


def evaluate(
    prompts: list[Prompt],
    rollout: RolloutPool,
    reward_pool,
    max_new_tokens: int,
    out_file: str | Path | None = None,
) -> dict[str, Any]:
    """Greedy-decode every prompt once, score with the strict reward, return accuracy overall and
    per category; with ``out_file``, write every output with its verdict as JSON lines."""
    if not prompts:
        return {"eval/accuracy": float("nan"), "eval/count": 0}
    groups = rollout.generate([p.ids for p in prompts], Sampling(1, 0.0, max_new_tokens=max_new_tokens))
    texts = [group[0]["text"] for group in groups]
    rewards = reward_pool.score([p.reward_item(t) for p, t in zip(prompts, texts, strict=True)])
    by_category: dict[str, list[float]] = defaultdict(list)
    for prompt, reward in zip(prompts, rewards, strict=True):
        by_category[prompt.sample.category].append(reward)
    metrics: dict[str, Any] = {"eval/accuracy": sum(rewards) / len(rewards), "eval/count": len(rewards)}
    for category, values in sorted(by_category.items()):
        metrics[f"eval/accuracy/{category}"] = sum(values) / len(values)
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
