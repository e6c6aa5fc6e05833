"""Before RL: keep the training prompts the starting policy gets right some of the time, not always.

A group whose completions all earn the same reward has zero advantage and teaches nothing. With the
strict binary reward this is most groups once a warm start has solved the easy prompts (measured on
SmolLM2 after its 120-step warm start: 50-100% of the sampled groups flat). Dynamic sampling
replaces flat groups while training; this filter screens the prompts once, before the first step:
each screened prompt is sampled ``algorithm.spread_filter_samples`` times by the starting policy at
the rollout temperature, scored by the reward pool, and kept when its rewards differ.

The verdict counts are written to the run directory (``spread_filter.json``) before training starts,
so a resumed run trains on the same prompts without screening again. While screening, each chunk's
counts are appended to ``spread_filter.partial.jsonl``: a run stopped mid-screening goes on from the
last chunk done.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from cluster.config import RunConfig
from cluster.data.feed import Prompt
from cluster.observe.progress import phase, say
from cluster.step import generate_and_judge

RECORD_FILE = "spread_filter.json"
PARTIAL_FILE = "spread_filter.partial.jsonl"
CHUNK = 32  # prompts per generate call: progress and pool re-balancing at this grain
_SEED_OFFSET = 7_919_000  # screening seeds stay clear of the steps' (rollout.seed + step)


def spread_filter(
    prompts: list[Prompt], cfg: RunConfig, rollout, reward_pool, run_path: Path
) -> list[Prompt]:
    """The training prompts to feed: all of them when the filter is off, else those with spread."""
    alg = cfg.algorithm
    if not alg.spread_filter_samples:
        return prompts
    path = run_path / RECORD_FILE
    if path.exists():
        record = json.loads(path.read_text())
        say(f"Spread filter: read back from {path} ({_summary(record)})")
        if record["samples"] != alg.spread_filter_samples:
            say(
                f"Spread filter: the run screened with {record['samples']} samples a prompt; "
                f"algorithm.spread_filter_samples={alg.spread_filter_samples} applies to new runs only"
            )
    else:
        screened = screening_order(prompts, cfg.data.shuffle_seed)[: alg.spread_filter_prompts]
        passes = screen(screened, cfg, rollout, reward_pool, run_path / PARTIAL_FILE)
        record = {
            "samples": alg.spread_filter_samples,
            "temperature": cfg.rollout.temperature,
            "passes": {p.sample.id: n for p, n in zip(screened, passes, strict=True)},
            "categories": {p.sample.id: p.sample.category for p in screened},
        }
        _write_text(path, json.dumps(record, indent=1))
        (run_path / PARTIAL_FILE).unlink(missing_ok=True)
        say(f"Spread filter: {_summary(record)}; verdicts in {path}")
    kept_ids = {i for i, k in record["passes"].items() if has_spread(k, record["samples"])}
    kept = [p for p in prompts if p.sample.id in kept_ids]
    if not kept:
        raise ValueError(
            f"algorithm.spread_filter_samples={alg.spread_filter_samples}: no screened prompt has "
            f"spread ({_summary(record)}); screen more prompts (algorithm.spread_filter_prompts), "
            "sample more (algorithm.spread_filter_samples) or train without the filter"
        )
    return kept


def has_spread(passes: int, samples: int) -> bool:
    """Right some of the time, not always: a group of such completions has a learning signal."""
    return 0 < passes < samples


def screening_order(prompts: list[Prompt], seed: int) -> list[Prompt]:
    """The prompts in a seeded order, so a prefix is a fair sample of the set."""
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed)).tolist()
    return [prompts[i] for i in order]


def screen(
    prompts: list[Prompt], cfg: RunConfig, rollout, reward_pool, partial: Path | None = None
) -> list[int]:
    """How many of ``algorithm.spread_filter_samples`` completions of each prompt earn reward 1.

    ``partial``: a JSONL file of the chunks already screened (``{"ids", "passes"}`` a line), read
    first and appended to after each chunk."""
    from cluster.roles.rollout_pool import Sampling

    n = cfg.algorithm.spread_filter_samples
    passes = _done(partial, prompts)
    with phase("spread filter", total=len(prompts), unit="prompt") as bar:
        if passes:
            bar.advance(len(passes), f"{len(passes)} read back from {partial}")
        for start in range(len(passes), len(prompts), CHUNK):
            chunk = prompts[start : start + CHUNK]
            seed = cfg.rollout.seed + _SEED_OFFSET + start
            sampling = replace(Sampling.from_config(cfg.rollout, seed, logprobs=False), group_size=n)
            _, verdicts = generate_and_judge(chunk, sampling, rollout, reward_pool)
            counts = [sum(v.reward == 1.0 for v in group) for group in verdicts]
            if partial is not None:
                partial.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("a") as f:
                    f.write(json.dumps({"ids": [p.sample.id for p in chunk], "passes": counts}) + "\n")
            passes += counts
            spread = sum(has_spread(k, n) for k in passes)
            bar.advance(len(chunk), f"{spread} of {len(passes)} with spread")
    return passes


def _done(partial: Path | None, prompts: list[Prompt]) -> list[int]:
    """The counts of the chunks a stopped screening finished: whole chunks that match the prompts'
    order (a torn last line, or another order, and what follows it, is screened again)."""
    if partial is None or not partial.exists():
        return []
    passes: list[int] = []
    good: list[str] = []
    for line in partial.read_text().splitlines():
        try:
            chunk = json.loads(line)
        except ValueError:
            break
        ids = [p.sample.id for p in prompts[len(passes) : len(passes) + len(chunk["ids"])]]
        if ids != chunk["ids"] or len(chunk["passes"]) != len(ids):
            break
        passes += chunk["passes"]
        good.append(line)
    _write_text(partial, "".join(f"{line}\n" for line in good))  # later chunks append after these
    return passes


def _summary(record: dict) -> str:
    """'of 640 screened, 180 with spread (28%), 400 always right, 60 never; kept by category ...'"""
    n, passes, categories = record["samples"], record["passes"], record["categories"]
    total = len(passes)
    spread = [i for i, k in passes.items() if has_spread(k, n)]
    right = sum(k == n for k in passes.values())
    kept = Counter(categories[i] for i in spread)
    screened = Counter(categories.values())
    per_category = ", ".join(f"{c} {kept[c]}/{screened[c]}" for c in sorted(screened))
    return (
        f"of {total} prompts screened ({n} samples each), {len(spread)} have spread "
        f"({len(spread) / max(total, 1):.0%}), {right} always right, {total - len(spread) - right} never; "
        f"kept by category: {per_category}"
    )


def _write_text(path: Path, text: str) -> None:
    """Atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
