"""Where an RL step's time goes: generate, score, learner recompute, update, weight sync, overhead.

Runs ``launch.py train`` for a config in three modes, interleaved (sync, async, colocated, sync ...
for ``--rounds``): synchronously (``algorithm.max_staleness=0``) and asynchronously
(``max_staleness=1``: the next batch is sampled while the learner trains), rollout worker and
learner each with one of the machine's cores (one thread each); and colocated
(``cluster.mode=colocated``: they take turns, each phase with both cores). The 2-core compute
floor is sync's generate + score + recompute + update over two: the step's work spread evenly
over both cores with nothing else on the path; each mode's step is reported against it.

Per mode it prints the mean time per step (steps 1-2 dropped as warm-up) split into:
- generate, score: the rollout pool and the reward pool (in async mode they overlap training);
- recompute, update: the learner's no-grad pass (old log-probs, entropies) and its optimizer step;
- weight sync: the new weights to every rollout worker (a broadcast; colocated: the object store);
- overhead: everything else on the step's critical path (Ray calls, batching, the learner call's
  transfer, waiting for the rollout workers). Goal: at most 5% of the step.
Plus tokens/s and completions/s, and for async mode the step time over max(generate + score,
train) (goal: within 1.2x). Weight sync is set against a raw in-memory copy of the same bytes
(``torch`` ``copy_`` of one flat buffer, best of 50): the physical floor on one machine.

    .venv/bin/python benchmarks/step_breakdown.py                 # the tiny default config
    .venv/bin/python benchmarks/step_breakdown.py --preset tiny --set model.tiny_hidden_size=256 \
        --set model.tiny_num_layers=4 --steps 8

Figures go to benchmarks/results/step_breakdown.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PATH = REPO_ROOT / "benchmarks" / "results" / "step_breakdown.json"
# sync and async: separate roles, one core (thread) each; async samples the next batch while the
# learner trains. colocated: the roles take turns, each phase on both cores (cluster.mode=colocated).
MODES = {
    "sync": ["algorithm.max_staleness=0", "rollout.threads=1", "learner.threads=1"],
    "async": ["algorithm.max_staleness=1", "rollout.threads=1", "learner.threads=1"],
    "colocated": [
        "cluster.mode=colocated",
        "algorithm.max_staleness=0",
        "rollout.threads=null",
        "learner.threads=null",
    ],
    # colocated with the batch split over two one-thread engines instead of one two-thread engine
    "colocated-2w": [
        "cluster.mode=colocated",
        "algorithm.max_staleness=0",
        "rollout.num_workers=2",
        "rollout.cpus_per_worker=0.45",
        "rollout.threads=1",
        "learner.threads=null",
    ],
}
# One Ray CPU each for the rollout worker and the learner; nothing but timing in the run.
PLACEMENT = [
    "cluster.num_cpus=2",
    "rollout.num_workers=1",
    "rollout.cpus_per_worker=0.9",
    "learner.cpus_per_learner=1",
    "reward.cpus_per_actor=0.1",
]
QUIET = [
    "train.eval_every=0",
    "train.eval_limit=1",
    "train.checkpoint_every=0",
    "logging.tensorboard=false",
    "algorithm.spread_filter_samples=0",  # screening runs before the first step: no step's time
]
PARTS = ["generate", "score", "recompute", "update", "weight_sync", "overhead"]
WARMUP_STEPS = 2


def run_train(overrides: list[str], runs_dir: Path, name: str, timeout_s: float) -> tuple[list[dict], float]:
    """Run ``launch.py train`` with ``overrides``; returns the per-step metrics and the wall time."""
    command = [
        sys.executable,
        "launch.py",
        "train",
        *overrides,
        f"logging.runs_dir={runs_dir}",
        f"logging.run_name={name}",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise SystemExit(
            f"step_breakdown: {' '.join(command[1:])} failed (exit {result.returncode}):\n{tail}"
        )
    lines = (runs_dir / name / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [r for r in records if r["step"] > 0], wall


def breakdown(records: list[dict], async_mode: bool) -> dict[str, float]:
    """Mean seconds per step of each part, over the steps after the warm-up."""
    steady = [r for r in records if r["step"] > WARMUP_STEPS] or records
    mean = {key: statistics.fmean(r.get(key, 0.0) for r in steady) for key in _KEYS}
    step = mean["time/step"]
    train_rest = mean["time/train"] - mean["time/recompute"] - mean["time/update"]
    parts = {
        "recompute": mean["time/recompute"],
        "update": mean["time/update"],
        "weight_sync": mean["time/weight_sync"],
    }
    if async_mode:  # generate and score ran beside training; only waiting for them is on the path
        parts["generate"] = parts["score"] = 0.0
        on_path = sum(parts.values())
    else:
        parts["generate"], parts["score"] = mean["time/generate"], mean["time/score"]
        on_path = sum(parts.values())
    parts["overhead"] = step - on_path  # includes train_rest and, in async mode, waiting
    out = {
        "steps_measured": len(steady),
        "step_s": step,
        **{f"{k}_s": v for k, v in parts.items()},
        "overhead_share": parts["overhead"] / step,
        "train_call_rest_s": train_rest,
        "generate_total_s": mean["time/generate"],
        "score_total_s": mean["time/score"],
        "train_total_s": mean["time/train"],
        "tokens_per_s": mean["throughput/tokens_per_s"],
        "completions_per_s": mean["throughput/completions_per_s"],
    }
    if async_mode:
        out["wait_rollouts_s"] = mean["time/wait_rollouts"]
        out["wait_workers_s"] = mean["time/wait_workers"]
        bound = max(mean["time/generate"] + mean["time/score"], mean["time/train"])
        out["step_over_max_generate_train"] = step / bound
    return out


_KEYS = [
    "time/step",
    "time/generate",
    "time/score",
    "time/train",
    "time/recompute",
    "time/update",
    "time/weight_sync",
    "time/wait_rollouts",
    "time/wait_workers",
    "throughput/tokens_per_s",
    "throughput/completions_per_s",
]


def raw_copy_seconds(num_bytes: int, repeats: int = 50) -> float:
    """Best time of one in-memory copy of ``num_bytes`` (what moving the weights costs at the least)."""
    import torch

    src = torch.empty(num_bytes // 4, dtype=torch.float32).uniform_()
    dst = torch.zeros_like(src)  # pages touched: the copy is timed, not the first-touch faults
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return best


def model_bytes(run_dir: Path) -> int:
    """Bytes of the weights a push moves (the final checkpoint's safetensors)."""
    files = list((run_dir / "checkpoints").glob("step-*/*.safetensors"))
    latest = max((f.parent for f in files), key=lambda p: p.name)
    return sum(f.stat().st_size for f in latest.glob("*.safetensors"))


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{'mode':<9} {'step s':>7} "
        + " ".join(f"{p:>11}" for p in PARTS)
        + f" {'tok/s':>8} {'compl/s':>8}"
    )
    for mode, r in results.items():
        cells = " ".join(f"{r[p + '_s']:>6.3f} {100 * r[p + '_s'] / r['step_s']:>3.0f}%" for p in PARTS)
        print(
            f"{mode:<9} {r['step_s']:>7.3f} {cells} {r['tokens_per_s']:>8.0f} {r['completions_per_s']:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny", help="config preset (configs/<name>.yaml). Default tiny.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--steps", type=int, default=8, help="RL steps per run (first 2 dropped). Default 8.")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the modes, interleaved. Default 1.")
    parser.add_argument(
        "--modes",
        default="sync,async,colocated",
        help=f"modes to run, comma-separated, from {', '.join(MODES)} (sync is the baseline). "
        "Default sync,async,colocated.",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run. Default 1800.")
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    args = parser.parse_args()
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be > {WARMUP_STEPS} (the first {WARMUP_STEPS} are warm-up)")
    modes = {m: MODES[m] for m in args.modes.split(",") if m in MODES}
    if "sync" not in modes or len(modes) != len(args.modes.split(",")):
        parser.error(f"--modes {args.modes!r}: a comma-separated subset of {', '.join(MODES)} with sync")

    base = [f"--config={args.preset}", *PLACEMENT, *QUIET, f"train.steps={args.steps}", *args.set]
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="step-breakdown-") as tmp:
        for round_ in range(1, args.rounds + 1):
            for mode, extra in modes.items():
                name = f"{mode}-{round_}"
                print(f"[{name}] launch.py train {' '.join(base[1:] + extra)}", flush=True)
                records, wall = run_train([*base, *extra], Path(tmp), name, args.timeout)
                result = breakdown(records, async_mode=mode == "async")
                result["wall_s"] = wall
                runs[mode].append(result)
                print(
                    f"[{name}] {result['step_s']:.3f} s/step, overhead {100 * result['overhead_share']:.1f}%"
                )
        weight_bytes = model_bytes(Path(tmp) / f"sync-{args.rounds}")
    copy_s = raw_copy_seconds(weight_bytes)

    # The round with the median step time stands for each mode.
    results = {mode: sorted(rs, key=lambda r: r["step_s"])[len(rs) // 2] for mode, rs in runs.items()}
    print_table(results)
    sync = results["sync"]
    sync_s = statistics.fmean(r["weight_sync_s"] for r in results.values())
    # The 2-core compute floor: the work of a step (one core per phase, in sync mode) spread evenly
    # over both cores, with nothing else on the path.
    floor = (sync["generate_s"] + sync["score_s"] + sync["recompute_s"] + sync["update_s"]) / 2
    summary = {
        "compute_floor_s": floor,
        "weight_bytes": weight_bytes,
        "weight_sync_s": sync_s,
        "raw_copy_s": copy_s,
        "weight_sync_over_raw_copy": sync_s / copy_s,
    }
    lines = [""]
    for mode, r in results.items():
        summary[f"{mode}_over_floor"] = r["step_s"] / floor
        summary[f"{mode}_speedup_vs_sync"] = sync["step_s"] / r["step_s"]
        lines.append(
            f"{mode}: {r['step_s']:.3f} s a step = {summary[f'{mode}_over_floor']:.2f}x the 2-core compute "
            f"floor ({floor:.3f} s), {summary[f'{mode}_speedup_vs_sync']:.2f}x sync's speed"
        )
    if "async" in results:
        summary["async_step_over_max_generate_train"] = results["async"]["step_over_max_generate_train"]
        lines.append(
            f"async step = {summary['async_step_over_max_generate_train']:.2f}x max(generate + score, "
            "train) (goal <= 1.2)"
        )
    overheads = ", ".join(f"{m} {100 * r['overhead_share']:.1f}%" for m, r in results.items())
    lines.append(f"overhead: {overheads} of the step (goal <= 5%)")
    lines.append(
        f"weight sync: {1000 * sync_s:.1f} ms for {weight_bytes / 1e6:.2f} MB; a raw copy of the same bytes "
        f"takes {1000 * copy_s:.3f} ms ({summary['weight_sync_over_raw_copy']:.0f}x)"
    )
    print("\n".join(lines))
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "preset": args.preset,
        "overrides": base[1:],
        "steps": args.steps,
        "warmup_steps_dropped": WARMUP_STEPS,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "results": results,
        "rounds": runs,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"Figures written to {args.out}")


if __name__ == "__main__":
    main()
