"""Does EGPO raise BFCL accuracy? One command: train, then score the warm start and the final policy
on the same BFCL questions.

1. ``launch.py train --config <preset>`` (default ``smollm2-cpu``: SmolLM2-135M-Instruct, a warm
   start, then EGPO) on generated synthetic data (``--data calls``: the warm start on tasks over all
   40 hand-written tools, half of them made-up; RL on call tasks with 5% no-call ones) or the
   preset's own (``--data preset``). BFCL data is never trained on.
2. ``launch.py eval --model runs/<name>/warm_start`` and ``--model runs/<name>`` (its newest
   checkpoint): the first ``--limit`` questions of each category, in file order, from the installed
   ``bfcl-eval``; greedy; every verdict cross-checked with bfcl-eval's own checker.
3. A table per category: questions, accuracy before and after with its binomial standard error,
   the call rate (share of outputs that are a call list; on irrelevance, calls where none fits),
   the call precision (share right of the call lists on the call categories: right answers = calls
   x precision, so a threshold move and better calls are told apart),
   agreement with bfcl-eval's checker; the mean over the four call categories; the wall times.
   Written to ``benchmarks/results/bfcl_gain.json`` (with the evaluated question ids) and
   ``bfcl_gain.png``.

A step already done is not redone: a finished run (its report.json) is reused, an interrupted one
resumed, and an evaluation whose summary exists with the same questions is read back.

    .venv/bin/python benchmarks/bfcl_gain.py                          # ~30 min on 2 cores (+9 the first time)
    .venv/bin/python benchmarks/bfcl_gain.py --limit 10 --name quick --set train.steps=2
    .venv/bin/python benchmarks/bfcl_gain.py --name s1 --from runs/bfcl-gain/warm_start \
        --set train.seed=1 --set data.shuffle_seed=1               # another RL seed, same warm start
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
CALL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")
CATEGORIES = (*CALL_CATEGORIES, "irrelevance")
POLICIES = ("warm_start", "egpo")


def launch(*args: str) -> float:
    """Run ``launch.py`` with its output on this terminal; returns the wall time, exits on failure."""
    command = [sys.executable, "launch.py", *args]
    print(f"\nbfcl_gain: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    status = subprocess.run(command, cwd=REPO_ROOT).returncode
    if status != 0:
        raise SystemExit(
            f"bfcl_gain: launch.py {args[0]} failed (exit {status}); rerun to continue from here"
        )
    return time.perf_counter() - started


# Training data: the preset's own, or the recipe that transfers to BFCL (README, "On BFCL"): a warm
# start on tasks over all 40 hand-written tools, half of them over made-up tools, then RL on call
# tasks with 5% no-call ones. Generated once (deterministic, ~30 s) under .cache/data/, in a folder
# named after the generator's source too, so a changed generator writes its data afresh.
DATA_DIR = REPO_ROOT / ".cache" / "data"
GENERATE = {
    "tools-all-gen50": ["--functions", "all", "--generated-share", "0.5"],
    "tools-all-gen50-nc5": [
        *("--functions", "all", "--generated-share", "0.5"),
        *("--category-weights", "missing_param=0,irrelevance=0.05"),
    ],
}


def generated(name: str) -> Path:
    """The folder of generated data set ``name`` (made now if missing)."""
    out = DATA_DIR / f"{name}-{generator_digest()}"
    if not (out / "train.jsonl.gz").is_file():
        print(f"bfcl_gain: generating {out}", flush=True)
        command = [sys.executable, "-m", "cluster.synthetic", "--out", str(out), *GENERATE[name]]
        if subprocess.run(command, cwd=REPO_ROOT).returncode != 0:
            raise SystemExit(f"bfcl_gain: generating {out} failed")
    return out


def generator_digest() -> str:
    """A short digest of the synthetic generator's source files."""
    sources = sorted((REPO_ROOT / "cluster" / "synthetic").glob("*.py"))
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:10]


def data_overrides(choice: str) -> list[str]:
    if choice == "preset":
        return []
    warm, rl = generated("tools-all-gen50"), generated("tools-all-gen50-nc5")
    return [
        f"data.warm_start_path={warm / 'train.jsonl.gz'}",
        f"data.train_path={rl / 'train.jsonl.gz'}",
        f"data.val_path={rl / 'val.jsonl'}",
    ]


def train(args: argparse.Namespace, run_dir: Path) -> float | None:
    """Train (or resume) the run; None when it had already finished."""
    if (run_dir / "report.json").is_file():
        print(f"bfcl_gain: {run_dir} has finished training; reusing it", flush=True)
        return None
    if (run_dir / "checkpoints").is_dir():
        return launch("train", "--resume", str(run_dir), *args.set)
    start = []
    if args.start:  # RL only, from a checkpoint trained earlier
        start = [f"model.path={args.start.resolve()}", "model.warm_start_sft_steps=0"]
    return launch(
        "train",
        "--config",
        args.config,
        f"logging.runs_dir={args.runs_dir}",
        f"logging.run_name={args.name}",
        *data_overrides(args.data),
        *start,
        *args.set,
    )


def before_policy(args: argparse.Namespace, run_dir: Path) -> tuple[Path, str]:
    """The checkpoint RL started from, and the name its BFCL evaluation is stored under.

    Every run that starts from the same checkpoint shares that evaluation: ``runs/<a>/warm_start``
    is scored once, as ``<a>-bfcl-warm-start``, whether by run <a> itself or by a later ``--from``.
    """
    model = args.start or run_dir / "warm_start"
    if not model.exists():
        raise SystemExit(
            f"bfcl_gain: {model} is missing: the run has no warm start (model.warm_start_sft_steps=0?); "
            "give the checkpoint RL starts from with --from"
        )
    if model.name == "warm_start":
        return model, f"{model.absolute().parent.name}-bfcl-warm-start"
    return model, f"{model.absolute().name}-bfcl-start"


def evaluate(args: argparse.Namespace, model: Path, name: str) -> tuple[dict[str, Any], float | None]:
    """The BFCL summary of one policy (read back when already scored on the same questions)."""
    out = Path(args.runs_dir) / name / "eval" / "summary.json"
    if out.is_file():
        summary = json.loads(out.read_text())
        if list(summary["categories"]) == args.categories and summary.get("limit") == args.limit:
            print(f"bfcl_gain: reusing {out}", flush=True)
            return summary, None
    wall = launch(
        "eval",
        "--config",
        args.config,
        "--model",
        str(model),
        "--bfcl",
        ",".join(args.categories),
        "--limit",
        str(args.limit),
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--cross-check",
        "--name",
        name,
        f"logging.runs_dir={args.runs_dir}",
    )
    return json.loads(out.read_text()), wall


def binomial_se(correct: int, total: int) -> float:
    p = correct / total
    return math.sqrt(p * (1 - p) / total)


def category_row(summaries: dict[str, dict[str, Any]], category: str) -> dict[str, Any]:
    row: dict[str, Any] = {"questions": summaries["warm_start"]["categories"][category]["total"]}
    for policy in POLICIES:
        score = summaries[policy]["categories"][category]
        row[policy] = {
            "correct": score["correct"],
            "accuracy": score["accuracy"],
            "se": binomial_se(score["correct"], score["total"]),
            "call_rate": score.get("call_rate"),
        }
    row["delta"] = row["egpo"]["accuracy"] - row["warm_start"]["accuracy"]
    return row


def call_mean(rows: dict[str, dict[str, Any]], policy: str) -> dict[str, float]:
    """Unweighted mean accuracy over the four call categories, and its standard error."""
    cats = [rows[c] for c in CALL_CATEGORIES if c in rows]
    mean = sum(r[policy]["accuracy"] for r in cats) / len(cats)
    se = math.sqrt(sum(r[policy]["se"] ** 2 for r in cats)) / len(cats)
    return {"accuracy": mean, "se": se}


def summarise(
    args: argparse.Namespace,
    summaries: dict[str, dict[str, Any]],
    records: dict[str, list[dict[str, Any]]],
    walls: dict[str, float | None],
) -> dict[str, Any]:
    rows = {c: category_row(summaries, c) for c in args.categories}
    for category, counts in paired(records["warm_start"], records["egpo"]).items():
        rows[category].update(counts)
    for policy in POLICIES:
        for category, calls in calls_made(records[policy]).items():
            rows[category][policy].update(calls)
    result: dict[str, Any] = {
        "config": args.config,
        "data": args.data,
        "overrides": args.set,
        "run": str(Path(args.runs_dir) / args.name),
        "limit_per_category": args.limit,
        "max_new_tokens": args.max_new_tokens,
        "questions": sum(r["questions"] for r in rows.values()),
        "categories": rows,
        "agreement": {p: (summaries[p].get("cross_check") or {}).get("agreement") for p in POLICIES},
        "wall_s": {k: None if v is None else round(v, 1) for k, v in walls.items()},
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "question_ids": question_ids(records["egpo"]),
    }
    report = Path(args.runs_dir) / args.name / "report.json"
    if report.is_file():  # the run's own greedy evaluation on the synthetic validation split
        data = json.loads(report.read_text())
        keys = ("call_prompts", "no_call_prompts", "call_rate", "call_precision")
        result["synthetic_validation"] = {
            policy: {k: data.get(f"eval_{when}_detail", {}).get(k) for k in keys}
            for policy, when in (("warm_start", "before"), ("egpo", "after"))
        }
    if all(c in rows for c in CALL_CATEGORIES):
        before, after = call_mean(rows, "warm_start"), call_mean(rows, "egpo")
        gained = sum(rows[c]["gained"] for c in CALL_CATEGORIES)
        lost = sum(rows[c]["lost"] for c in CALL_CATEGORIES)
        for policy, mean in (("warm_start", before), ("egpo", after)):
            called = sum(rows[c][policy]["called"] for c in CALL_CATEGORIES)
            right = sum(rows[c][policy]["correct"] for c in CALL_CATEGORIES)
            mean.update(called=called, call_precision=right / called if called else None)
        result["call_categories_mean"] = {
            "warm_start": before,
            "egpo": after,
            "delta": after["accuracy"] - before["accuracy"],
            "gained": gained,
            "lost": lost,
            "sign_test_p": sign_test(gained, lost),
        }
    return result


def outputs(args: argparse.Namespace, name: str) -> list[dict[str, Any]]:
    path = Path(args.runs_dir) / name / "eval" / "outputs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def question_ids(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for record in records:
        ids.setdefault(record["category"], []).append(record["id"])
    return ids


def calls_made(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per category, the outputs that are a call list (``called``) and, on a category whose
    questions need a call, the share of those that are right (``call_precision``): right answers =
    calls x precision, so a policy that only calls more or abstains more moves the first factor."""
    out: dict[str, dict[str, Any]] = {}
    for category in dict.fromkeys(r["category"] for r in records):
        called = [r for r in records if r["category"] == category and r["called"]]
        right = sum(r["correct"] for r in called)
        precision = right / len(called) if called and category in CALL_CATEGORIES else None
        out[category] = {"called": len(called), "call_precision": precision}
    return out


def sign_test(gained: int, lost: int) -> float:
    """Exact two-sided p-value of gained vs lost under 'RL changes nothing' (McNemar's exact test)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per category, the questions the final policy gets right that the start got wrong, and back."""
    was = {(r["category"], r["id"]): r["correct"] for r in before}
    counts: dict[str, dict[str, int]] = {}
    for record in after:
        row = counts.setdefault(record["category"], {"gained": 0, "lost": 0})
        right_before = was[(record["category"], record["id"])]
        row["gained"] += record["correct"] and not right_before
        row["lost"] += right_before and not record["correct"]
    return counts


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| category | questions | after the warm start | after EGPO | change | gained / lost "
        "| call rate before -> after | right calls before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for category, row in result["categories"].items():
        before, after = row["warm_start"], row["egpo"]
        lines.append(
            f"| {category} | {row['questions']} | {pct(before['accuracy'])} +- {pct(before['se'])} "
            f"| {pct(after['accuracy'])} +- {pct(after['se'])} | {100 * row['delta']:+.1f} "
            f"| {row['gained']} / {row['lost']} | {pct(before['call_rate'])} -> {pct(after['call_rate'])} "
            f"| {pct(before.get('call_precision'))} -> {pct(after.get('call_precision'))} |"
        )
    mean = result.get("call_categories_mean")
    if mean:
        before, after = mean["warm_start"], mean["egpo"]
        lines.append(
            f"| mean of the 4 call categories | | {pct(before['accuracy'])} +- {pct(before['se'])} "
            f"| {pct(after['accuracy'])} +- {pct(after['se'])} | {100 * mean['delta']:+.1f} "
            f"| {mean['gained']} / {mean['lost']} (sign test p = {mean['sign_test_p']:.2g}) | "
            f"| {pct(before.get('call_precision'))} (of {before.get('called')} calls) -> "
            f"{pct(after.get('call_precision'))} (of {after.get('called')}) |"
        )
    synthetic = result.get("synthetic_validation")
    if synthetic:
        before, after = synthetic["warm_start"], synthetic["egpo"]
        lines.append(
            f"| (the run's synthetic validation: call prompts / no-call prompts) | | "
            f"{pct(before['call_prompts'])} / {pct(before['no_call_prompts'])} | "
            f"{pct(after['call_prompts'])} / {pct(after['no_call_prompts'])} | | | "
            f"{pct(before['call_rate'])} -> {pct(after['call_rate'])} "
            f"| {pct(before.get('call_precision'))} -> {pct(after.get('call_precision'))} |"
        )
    agreement = result["agreement"]
    lines.append("")
    lines.append(
        f"{result['questions']} questions; agreement with bfcl-eval's checker: warm start "
        f"{pct(agreement['warm_start'])}%, EGPO {pct(agreement['egpo'])}%; wall times (s): "
        + ", ".join(f"{k} {'reused' if v is None else v}" for k, v in result["wall_s"].items())
    )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["categories"])
    fig, ax = plt.subplots(figsize=(1.5 * len(names) + 2, 4))
    width = 0.38
    for i, (policy, label, color) in enumerate(
        (("warm_start", "after the warm start", "#9aa9c2"), ("egpo", "after EGPO", "#4c72b0"))
    ):
        rows = [result["categories"][n][policy] for n in names]
        xs = [j + (i - 0.5) * width for j in range(len(names))]
        ax.bar(
            xs,
            [100 * r["accuracy"] for r in rows],
            width,
            yerr=[100 * r["se"] for r in rows],
            capsize=3,
            label=label,
            color=color,
        )
    ax.set_xticks(range(len(names)), names, rotation=15)
    ax.set_ylabel("accuracy (%), +- binomial SE")
    ax.set_title(f"BFCL, {result['questions']} questions: {result['config']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="smollm2-cpu", help="training preset (default: smollm2-cpu)")
    parser.add_argument("--name", default="bfcl-gain", help="run name: runs/<name> (default: bfcl-gain)")
    parser.add_argument("--runs-dir", default="runs", help="where runs go (default: runs)")
    parser.add_argument(
        "--limit", type=int, default=80, help="questions per category, the first N (default 80)"
    )
    parser.add_argument(
        "--categories",
        default=",".join(CATEGORIES),
        help=f"BFCL categories (default: {','.join(CATEGORIES)})",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=192, help="completion cap in evaluation (default 192)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="section.field=value", help="training override"
    )
    parser.add_argument(
        "--data",
        choices=["calls", "preset"],
        default="calls",
        help="training data: 'calls' (default): warm start on tasks over all 40 tools, half made-up, "
        "RL on call tasks with 5%% no-call ones (generated once under .cache/data/); 'preset': the "
        "preset's own (the bundled files)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=Path,
        metavar="CHECKPOINT",
        help="RL only, from this checkpoint (e.g. runs/<earlier>/warm_start: model.path=CHECKPOINT, "
        "model.warm_start_sft_steps=0); it is the 'before' policy, scored once for every run from it. "
        "With --set train.seed=N: seeds of RL from one warm start",
    )
    parser.add_argument(
        "--out", default=str(RESULTS / "bfcl_gain.json"), help="result JSON (the PNG goes beside it)"
    )
    args = parser.parse_args(argv)
    args.categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    if args.limit < 1:
        parser.error("--limit must be at least 1")

    run_dir = Path(args.runs_dir) / args.name
    walls: dict[str, float | None] = {"train": train(args, run_dir)}
    summaries, records = {}, {}
    for policy, (model, name) in (
        ("warm_start", before_policy(args, run_dir)),
        ("egpo", (run_dir, f"{args.name}-bfcl-egpo")),
    ):
        summaries[policy], walls[f"eval_{policy}"] = evaluate(args, model, name)
        records[policy] = outputs(args, name)
    out = Path(args.out)
    if out.is_file():  # a step reused from an earlier call keeps the wall time that call measured
        earlier = json.loads(out.read_text())
        if earlier.get("run") == str(run_dir):
            walls = {k: earlier["wall_s"].get(k) if v is None else v for k, v in walls.items()}
    result = summarise(args, summaries, records, walls)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot(result, out.with_suffix(".png"))
    print("\n" + table(result))
    print(f"\nbfcl_gain: wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
