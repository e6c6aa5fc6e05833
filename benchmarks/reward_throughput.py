"""Reward throughput: our parse+check vs BFCL's decode + ``ast_checker`` on the same completions.

Completions are built from every ground truth of BFCL's single-turn AST categories (the rendered
gold and mutations of it, each after a think block) plus irrelevance questions answered in prose.
Both pipelines run in this process, interleaved, best of ``--repeats``; BFCL is handed the answer
text already split from the think block (outside its timing), so the comparison favours BFCL.
Verdicts are compared too: the two must agree on every completion.

Two workloads, and the worst case of ``reward.score`` by text size (call-shaped text just under and
far over ``MAX_COMPLETION_CHARS``: over the cap the text scores 0 unparsed, in constant time).

Two workloads:
- ``unique``: every answer text distinct (our answer-parse cache is cleared before each repeat);
- ``grpo_groups``: G completions per prompt with distinct think text, answers drawn from a few
  variants per prompt, as a group sampled at temperature 0.7 tends to repeat itself.

    .venv/bin/python benchmarks/reward_throughput.py [--repeats 5] [--group-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from conformance import bfcl_oracle  # noqa: E402
from conformance.mutations import call_mutations  # noqa: E402
from reward import render_calls, score  # noqa: E402
from reward.checker import clear_string_cache  # noqa: E402
from reward.grammar import MAX_COMPLETION_CHARS, clear_parse_cache, split_think  # noqa: E402

RESULT_PATH = REPO_ROOT / "benchmarks" / "results" / "reward_throughput.json"
PROSE = "None of the given functions can answer this; the question lacks what they need."

Item = tuple[str, list, list, str]  # (completion, ground truth, functions, category)


def think_text(rng: random.Random, category: str) -> str:
    steps = rng.randint(1, 4)
    return " ".join(
        f"Step {i}: the user wants a {category} call, so I check each parameter's type and value."
        for i in range(steps)
    )


def build_workloads(seed: int, group_size: int) -> dict[str, list[Item]]:
    rng = random.Random(seed)
    unique: list[Item] = []
    groups: list[Item] = []
    for category in bfcl_oracle.AST_CATEGORIES:
        for entry in bfcl_oracle.load_category(category):
            variants = call_mutations(entry, category)
            chosen = [variants[0], *rng.sample(variants[1:], min(2, len(variants) - 1))]
            for _, calls in chosen:
                text = f"<think>{think_text(rng, category)}</think>\n{render_calls(calls)}"
                unique.append((text, entry["ground_truth"], entry["function"], category))
            for _ in range(group_size):
                _, calls = rng.choices(chosen, weights=[6, 1, 1][: len(chosen)])[0]
                text = f"<think>{think_text(rng, category)}</think>\n{render_calls(calls)}"
                groups.append((text, entry["ground_truth"], entry["function"], category))
    for category in ("irrelevance", "live_irrelevance"):
        for entry in bfcl_oracle.load_category(category):
            text = f"<think>{think_text(rng, category)}</think>\n{PROSE}"
            unique.append((text, [], entry["function"], category))
            groups += [(text, [], entry["function"], category)] * group_size
    return {"unique": unique, "grpo_groups": groups}


def ours(items: list[Item]) -> list[float]:
    return [score(text, gold, functions, category) for text, gold, functions, category in items]


def bfcl_pipeline(answers: list[str], items: list[Item]) -> list[float]:
    """BFCL's own path: ``default_decode_ast_prompting`` then ``ast_checker`` (or the relevance rule)."""
    bfcl = bfcl_oracle.bfcl_functions()
    rewards = []
    for answer, (_, gold, functions, category) in zip(answers, items, strict=True):
        try:
            decoded = bfcl.decode(answer)
        except Exception:
            decoded = None
        if "irrelevance" in category:
            rewards.append(float(decoded is None or bfcl.is_empty_output(decoded)))
            continue
        if decoded is None or not bfcl.is_calls_format(decoded):
            rewards.append(0.0)
            continue
        try:
            result = bfcl.ast_checker(functions, decoded, gold, bfcl.python, category, bfcl_oracle.MODEL_NAME)
            rewards.append(float(result["valid"]))
        except Exception:
            rewards.append(0.0)
    return rewards


def clear_caches() -> None:
    """Forget memoised answer parses and normalised strings, so no repeat reuses an earlier one."""
    clear_parse_cache()
    clear_string_cache()


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(items: list[Item], repeats: int, slice_size: int = 256) -> dict[str, float | int]:
    """Best-of-``repeats`` per slice of ``slice_size`` completions, the two pipelines alternating.

    Timing slice by slice, alternately, keeps both pipelines under the same load on a shared machine.
    """
    answers = [split_think(text)[1] or "" for text, *_ in items]
    clear_caches()
    ours_rewards, bfcl_rewards = ours(items), bfcl_pipeline(answers, items)
    disagreements = sum(a != b for a, b in zip(ours_rewards, bfcl_rewards, strict=True))
    ours_s = bfcl_s = 0.0
    for start in range(0, len(items), slice_size):
        part, part_answers = items[start : start + slice_size], answers[start : start + slice_size]
        ours_best = bfcl_best = float("inf")
        for _ in range(repeats):
            clear_caches()
            ours_best = min(ours_best, timed(lambda: ours(part)))  # noqa: B023 - called at once
            bfcl_best = min(bfcl_best, timed(lambda: bfcl_pipeline(part_answers, part)))  # noqa: B023
        ours_s, bfcl_s = ours_s + ours_best, bfcl_s + bfcl_best
    return {
        "completions": len(items),
        "ours_completions_per_s": round(len(items) / ours_s),
        "bfcl_completions_per_s": round(len(items) / bfcl_s),
        "ratio": round(bfcl_s / ours_s, 2),
        "mean_reward": round(sum(ours_rewards) / len(items), 3),
        "verdict_disagreements": disagreements,
    }


WORST_FUNCTION = {
    "name": "f",
    "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
}


def call_shaped(chars: int) -> str:
    """A think block and one call list of about ``chars`` characters: the costliest text to parse."""
    text = "<think>t</think>[" + ", ".join(["f(a=1)"] * max(1, (chars - 20) // 8)) + "]"
    return text + " " * (chars - len(text))  # padded to exactly ``chars`` (trailing space parses)


def worst_case(repeats: int) -> list[dict[str, float | int]]:
    """Seconds per ``score`` call on call-shaped text of growing size, best of ``repeats``."""
    sizes = [1024, 16 * 1024, MAX_COMPLETION_CHARS - 64, MAX_COMPLETION_CHARS + 1, 1 << 20, 10 << 20]
    rows = []
    for size in sizes:
        text = call_shaped(size)
        times = []
        for _ in range(repeats):
            clear_caches()  # every repeat parses anew (answers up to 4,096 characters are memoised)
            times.append(timed(lambda t=text: score(t, [{"f": {"a": [1]}}], [WORST_FUNCTION])))
        seconds = min(times)
        rows.append({"chars": len(text), "over_cap": len(text) > MAX_COMPLETION_CHARS, "seconds": seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    args = parser.parse_args()
    results = {
        name: measure(items, args.repeats)
        for name, items in build_workloads(args.seed, args.group_size).items()
    }
    for name, row in results.items():
        print(
            f"{name:12s} {row['completions']:6d} completions: ours {row['ours_completions_per_s']:>8,}/s, "
            f"BFCL {row['bfcl_completions_per_s']:>8,}/s, ratio {row['ratio']:.2f}x, "
            f"verdict disagreements {row['verdict_disagreements']}"
        )
    worst = worst_case(max(1, min(args.repeats, 3)))
    for row in worst:
        print(
            f"worst case   {row['chars']:>10,} chars{' (over the cap)' if row['over_cap'] else '':16s}: "
            f"{row['seconds'] * 1000:9.3f} ms per score"
        )
    report = {
        "benchmark": "reward parse+check vs BFCL decode+ast_checker, same completions, same process",
        "command": "python benchmarks/reward_throughput.py " + " ".join(sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "repeats": args.repeats,
        "group_size": args.group_size,
        "workloads": results,
        "max_completion_chars": MAX_COMPLETION_CHARS,
        "worst_case": worst,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
