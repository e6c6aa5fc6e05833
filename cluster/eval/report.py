"""Readable evaluation reports: the terminal table, a PNG bar chart per category, and two runs
side by side. Everything here reads the ``summary.json`` an evaluation writes to
``runs/<name>/eval/``, so reports can be redrawn or compared later without the model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
OUTPUTS_FILE = "outputs.jsonl"
CHART_FILE = "accuracy.png"
COMPARISON_FILE = "comparison.json"
COMPARISON_CHART = "comparison.png"

_AGGREGATE_ROWS = (
    ("v3", "non_live", "BFCL v3 Non-Live"),
    ("v3", "live", "BFCL v3 Live"),
    ("v3", "multi_turn", "BFCL v3 Multi-turn"),
    ("v3", "overall", "BFCL v3 Overall"),
    ("v4", "non_live", "BFCL v4 Non-Live"),
    ("v4", "live", "BFCL v4 Live"),
    ("v4", "irrelevance", "BFCL v4 Irrelevance"),
    ("v4", "multi_turn", "BFCL v4 Multi-turn"),
    ("v4", "overall", "BFCL v4 Overall"),
)


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(6)
    return f"{100 * value:5.1f}%"


def _missing_note(missing: list[str]) -> str:
    if not missing:
        return ""
    shown = ", ".join(missing[:4]) + (f", +{len(missing) - 4} more" if len(missing) > 4 else "")
    return f"partial: not run {shown}"


def summary_table(summary: dict[str, Any]) -> str:
    """The per-category table (correct / total / accuracy / share of outputs that are call lists /
    share of the call lists written where a call is due that are right; with ``--samples K``,
    pass@K and mean@K), the overall line, the questions that need a call and those that need none,
    and, for BFCL runs, the v3 and v4 aggregates with the parts that were not run."""
    k = summary.get("samples") or 0
    rows = [("category", "correct", "total", "accuracy", "calls", "right calls")]
    if k:
        rows[0] += (f"pass@{k}", f"mean@{k}")
    sides = list(summary.get("sides", {}).items())
    scores = [*summary["categories"].items(), ("all (micro)", summary["overall"]), *sides]
    for category, score in scores:
        row = (
            category,
            str(score["correct"]),
            str(score["total"]),
            _pct(score["accuracy"]),
            _pct(score.get("call_rate")),
            _pct(score.get("call_precision")),
        )
        rows.append(row + ((_pct(score.get("pass_at_k")), _pct(score.get("mean_at_k"))) if k else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1 - len(sides), "-" * len(lines[0]))
    aggregates = summary.get("aggregates")
    if aggregates:
        lines.append("")
        width = max(len(label) for *_, label in _AGGREGATE_ROWS)
        for version, key, label in _AGGREGATE_ROWS:
            entry = aggregates[version].get(key, {"accuracy": None, "missing": [key]})
            note = _missing_note(entry["missing"])
            lines.append(f"{label.ljust(width)}  {_pct(entry['accuracy'])}  {note}".rstrip())
    return "\n".join(lines)


def bar_chart(summary: dict[str, Any], path: str | Path) -> Path:
    """A PNG with one bar per category (accuracy in %, n on each bar); matplotlib's Agg backend."""
    plt = _pyplot()
    names = list(summary["categories"])
    values = [100 * (summary["categories"][n]["accuracy"] or 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.8))
    bars = ax.bar(names, values, color="#4c72b0")
    for bar, name in zip(bars, names, strict=True):
        score = summary["categories"][name]
        ax.annotate(
            f"{score['correct']}/{score['total']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    _decorate(ax, f"{summary.get('name', '')}: {summary.get('model', '')}", names)
    return _save(fig, plt, path)


def load_summary(where: str | Path) -> dict[str, Any]:
    """The summary of an evaluation: ``runs/<name>/eval``, ``runs/<name>`` or the JSON file itself."""
    path = Path(where)
    for candidate in (path, path / SUMMARY_FILE, path / "eval" / SUMMARY_FILE):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(
        f"--compare: no evaluation summary at {where} (looked for {path / SUMMARY_FILE} and "
        f"{path / 'eval' / SUMMARY_FILE}); run 'python launch.py eval ... --name <name>' first"
    )


def comparison(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Per-category and aggregate accuracy of two evaluations, and B - A, over the union of their
    categories (None where a run lacks one); also overall and on each side (the questions that
    need a call, those that need none) and, when both sampled K times (``--samples K``), their
    pass@K."""
    categories = list(dict.fromkeys([*a["categories"], *b["categories"]]))
    rows = {}
    for category in categories:
        acc_a = a["categories"].get(category, {}).get("accuracy")
        acc_b = b["categories"].get(category, {}).get("accuracy")
        rows[category] = _row(acc_a, acc_b)
    wholes = {"all (micro)": (a["overall"], b["overall"])}
    for side in dict.fromkeys([*a.get("sides", {}), *b.get("sides", {})]):
        wholes[side] = (a.get("sides", {}).get(side, {}), b.get("sides", {}).get(side, {}))
    k = a.get("samples") if a.get("samples") == b.get("samples") else None
    for name, (score_a, score_b) in wholes.items():
        rows[name] = _row(score_a.get("accuracy"), score_b.get("accuracy"))
    if k:
        for name, (score_a, score_b) in wholes.items():
            rows[f"{name}, pass@{k}"] = _row(score_a.get("pass_at_k"), score_b.get("pass_at_k"))
    aggregates = {}
    if a.get("aggregates") and b.get("aggregates"):
        for version, key, label in _AGGREGATE_ROWS:
            acc_a = a["aggregates"][version].get(key, {}).get("accuracy")  # older summaries lack multi_turn
            acc_b = b["aggregates"][version].get(key, {}).get("accuracy")
            aggregates[label] = _row(acc_a, acc_b)
    return {"a": _label(a), "b": _label(b), "categories": rows, "aggregates": aggregates}


def comparison_table(result: dict[str, Any]) -> str:
    """Two runs side by side: one row per category and aggregate, with the change in points."""
    a, b = result["a"], result["b"]
    header = ("", f"A: {a}", f"B: {b}", "B - A")
    rows = [header]
    for name, row in [*result["categories"].items(), *result["aggregates"].items()]:
        delta = "-" if row["delta"] is None else f"{100 * row['delta']:+.1f} pts"
        rows.append((name, _pct(row["a"]), _pct(row["b"]), delta))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def comparison_chart(result: dict[str, Any], path: str | Path) -> Path:
    """Grouped bars, A and B per category (and per aggregate both runs have)."""
    plt = _pyplot()
    rows = {**result["categories"], **result["aggregates"]}
    names = [n for n, row in rows.items() if row["a"] is not None or row["b"] is not None]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(names) + 1.5), 4.0))
    width = 0.4
    xs = range(len(names))
    for offset, key, color in ((-width / 2, "a", "#4c72b0"), (width / 2, "b", "#dd8452")):
        values = [100 * (rows[n][key] or 0.0) for n in names]
        ax.bar([x + offset for x in xs], values, width, label=f"{key.upper()}: {result[key]}", color=color)
    ax.set_xticks(list(xs))
    _decorate(ax, f"A: {result['a']}  vs  B: {result['b']}", names)
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def _row(a: float | None, b: float | None) -> dict[str, float | None]:
    return {"a": a, "b": b, "delta": None if a is None or b is None else b - a}


def _label(summary: dict[str, Any]) -> str:
    return str(summary.get("name") or summary.get("model") or "?")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _decorate(ax, title: str, names: list[str]) -> None:
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
