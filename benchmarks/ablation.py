"""The paper's Figure 6 at toy scale: EGPO (entropy_coef 0.4) against GRPO (entropy_coef 0).

Runs ``launch.py train`` on the default config (or ``--preset``) for every seed and both
coefficients, interleaved (seed 0 EGPO, seed 0 GRPO, seed 1 EGPO, ...). A seed sets
``train.seed`` and ``rollout.seed``, so each seed has its own warm start, shared by its EGPO and
GRPO runs (cached in ``.cache/warmstart``): the pair differs only in the entropy bonus.

Per run it records greedy validation accuracy after the warm start and after RL (overall, on the
prompts that need a call, on those that need none, on the unseen-values slice) and the reward and
CoT entropy of every step. It prints a table with mean +- standard error over seeds, writes
``benchmarks/results/ablation.json`` (per-seed figures, means, standard errors) and plots the
reward and CoT-entropy curves with standard-error bands to ``benchmarks/results/ablation.png``.

    .venv/bin/python benchmarks/ablation.py                    # 3 seeds x 2, about 45 min on 2 cores
    .venv/bin/python benchmarks/ablation.py --seeds 0 1 2 3 --set train.steps=60

Each finished run is appended to ``ablation.partial.jsonl`` beside the output: a rerun after a
crash or a timeout keeps those (same preset and overrides) and runs only the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
ARMS = {"EGPO": 0.4, "GRPO": 0.0}
EVAL_KEYS = {
    "accuracy": "eval/accuracy",
    "call_prompts": "eval/call_prompts",
    "no_call_prompts": "eval/no_call_prompts",
    "unseen_values": "eval/slice/unseen_values",
    "call_rate": "eval/call_rate",
}
CURVES = {"reward": "reward/mean", "cot_entropy": "entropy/cot"}


def run_arm(preset: str, seed: int, coef: float, extra: list[str], runs_dir: Path, timeout_s: float) -> dict:
    """One training run; returns its before/after evaluation figures, curves and wall time."""
    name = f"seed{seed}-coef{coef:g}"
    command = [
        sys.executable,
        "launch.py",
        "train",
        "--config",
        preset,
        f"algorithm.entropy_coef={coef}",
        f"train.seed={seed}",
        f"rollout.seed={seed}",
        "logging.tensorboard=false",
        f"logging.runs_dir={runs_dir}",
        f"logging.run_name={name}",
        *extra,
    ]
    print(f"ablation: {name} ...", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise SystemExit(f"ablation: {' '.join(command[1:])} failed (exit {result.returncode}):\n{tail}")
    records = [json.loads(line) for line in (runs_dir / name / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/accuracy" in r]
    before, after = evals[0], evals[-1]
    steps = [r for r in records if r["step"] > 0]
    out = {
        "seed": seed,
        "entropy_coef": coef,
        "wall_s": round(wall, 1),
        "before": {k: before.get(key) for k, key in EVAL_KEYS.items()},
        "after": {k: after.get(key) for k, key in EVAL_KEYS.items()},
        "curves": {k: [r.get(key) for r in steps] for k, key in CURVES.items()},
    }
    print(
        f"ablation: {name}: accuracy {out['before']['accuracy']:.3f} -> {out['after']['accuracy']:.3f}, "
        f"call prompts {out['before']['call_prompts']:.3f} -> {out['after']['call_prompts']:.3f} "
        f"({wall / 60:.1f} min)",
        flush=True,
    )
    return out


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return statistics.fmean(values), se


def summarise(runs: list[dict]) -> dict[str, Any]:
    """Per arm: mean +- standard error of every before/after figure, and of the curves per step."""
    summary: dict[str, Any] = {}
    for arm, coef in ARMS.items():
        mine = [r for r in runs if r["entropy_coef"] == coef]
        figures = {}
        for when in ("before", "after"):
            for key in EVAL_KEYS:
                figures[f"{key}/{when}"] = mean_se([r[when][key] for r in mine])
        for key in EVAL_KEYS:
            figures[f"{key}/gain"] = mean_se(
                [r["after"][key] - r["before"][key] for r in mine if r["after"][key] is not None]
            )
        curves = {}
        for key in CURVES:
            length = min(len(r["curves"][key]) for r in mine)
            curves[key] = [mean_se([r["curves"][key][i] for r in mine]) for i in range(length)]
        summary[arm] = {"seeds": [r["seed"] for r in mine], "figures": figures, "curves": curves}
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = ["| figure | " + " | ".join(ARMS) + " |", "|---|" + "---|" * len(ARMS)]
    for key in EVAL_KEYS:
        for when in ("before", "after", "gain"):
            cells = []
            for arm in ARMS:
                mean, se = summary[arm]["figures"][f"{key}/{when}"]
                cells.append(f"{mean:.3f} +- {se:.3f}")
            rows.append(f"| {key} ({when}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(5 * len(CURVES), 3.6))
    for ax, key in zip(axes, CURVES, strict=True):
        for arm, color in zip(ARMS, ("#C44E52", "#4C72B0"), strict=True):
            points = summary[arm]["curves"][key]
            steps = list(range(1, len(points) + 1))
            means = [m for m, _ in points]
            ax.plot(steps, means, color=color, label=f"{arm} (entropy_coef {ARMS[arm]:g})")
            ax.fill_between(
                steps, [m - s for m, s in points], [m + s for m, s in points], color=color, alpha=0.2
            )
        ax.set_xlabel("RL step")
        ax.set_title(f"{key.replace('_', ' ')} (mean +- s.e. over seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny", help="config preset (default: tiny, the default run)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (at least 3 for the README)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is abandoned")
    parser.add_argument("--out", type=Path, default=RESULTS / "ablation.json")
    args = parser.parse_args(argv)

    progress = args.out.with_suffix(".partial.jsonl")  # finished runs: a rerun picks up from them
    done = finished_runs(progress, args.preset, args.set)
    runs = []
    with tempfile.TemporaryDirectory(prefix="egpo-ablation-") as tmp:
        for seed in args.seeds:
            for coef in ARMS.values():
                if (seed, coef) in done:
                    print(f"ablation: seed{seed}-coef{coef:g}: kept from {progress}", flush=True)
                    runs.append(done[seed, coef])
                    continue
                run = run_arm(args.preset, seed, coef, args.set, Path(tmp), args.timeout)
                progress.parent.mkdir(parents=True, exist_ok=True)
                with progress.open("a") as out:
                    out.write(json.dumps({"preset": args.preset, "overrides": args.set, **run}) + "\n")
                runs.append(run)
    summary = summarise(runs)
    print(table(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "preset": args.preset,
        "overrides": args.set,
        "seeds": args.seeds,
        "machine": {
            "cpus": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "runs": runs,
        "summary": summary,
    }
    args.out.write_text(json.dumps(result, indent=1))
    chart = args.out.with_suffix(".png")
    plot(summary, chart)
    progress.unlink(missing_ok=True)
    print(f"ablation: wrote {args.out} and {chart}")


def finished_runs(progress: Path, preset: str, overrides: list[str]) -> dict[tuple[int, float], dict]:
    """The runs an interrupted invocation with the same preset and overrides finished."""
    if not progress.exists():
        return {}
    done = {}
    for line in progress.read_text().splitlines():
        record = json.loads(line)
        if record.pop("preset") == preset and record.pop("overrides") == overrides:
            done[record["seed"], record["entropy_coef"]] = record
    return done


if __name__ == "__main__":
    main()
