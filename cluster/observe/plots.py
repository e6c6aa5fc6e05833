"""End-of-run plots from ``runs/<name>/metrics.jsonl`` (PNG, matplotlib's Agg backend).

``plot_run(run_dir)`` writes ``runs/<name>/plots/``: reward.png, val_accuracy.png,
cot_entropy.png, kl.png, time_breakdown.png and overview.png (all of them on one page).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

# The time breakdown's parts of a step, in stacking order, with their labels.
TIME_PARTS = [
    ("time/generate", "generate"),
    ("time/score", "score"),
    ("time/train", "train"),
    ("time/weight_sync", "weight sync"),
    ("time/eval", "evaluation"),
    ("time/overhead", "other"),
]
_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (blank lines skipped); a clear error on a bad line."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
    return records


def series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` over the records that hold a finite number for it."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            steps.append(int(record["step"]))
            values.append(float(value))
    return steps, values


def _moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _line(ax, records, key: str, title: str, ylabel: str, smooth: bool = True, percent: bool = False) -> bool:
    steps, values = series(records, key)
    ax.set_title(title, fontsize=12)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if not steps:
        ax.text(0.5, 0.5, f"no '{key}' in metrics.jsonl", ha="center", va="center", transform=ax.transAxes)
        return False
    scale = 100.0 if percent else 1.0
    shown = [v * scale for v in values]
    marker = "o" if len(steps) <= 30 else None
    ax.plot(
        steps, shown, marker=marker, markersize=4, color=_COLORS[0], alpha=0.45 if smooth else 1.0, label=key
    )
    if smooth and len(steps) >= 5:
        window = max(3, len(steps) // 10)
        ax.plot(
            steps, _moving_average(shown, window), color=_COLORS[0], linewidth=2, label=f"mean of {window}"
        )
        ax.legend(loc="best", fontsize=8)
    if percent:
        ax.set_ylim(-2, 102)
        for step, value in zip(steps, shown, strict=True):
            ax.annotate(
                f"{value:.1f}%",
                (step, value),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
            )
    pad = max(0.5, 0.04 * (max(steps) - min(steps)))
    ax.set_xlim(left=min(steps) - pad, right=max(steps) + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return True


def _time_breakdown(ax, records) -> bool:
    ax.set_title("Time per step", fontsize=12)
    ax.set_xlabel("step")
    ax.set_ylabel("seconds")
    ax.grid(True, axis="y", alpha=0.3)
    rows = [r for r in records if r.get("step", 0) > 0 and isinstance(r.get("time/step"), int | float)]
    if not rows:
        ax.text(
            0.5, 0.5, "no training steps in metrics.jsonl", ha="center", va="center", transform=ax.transAxes
        )
        return False
    steps = [int(r["step"]) for r in rows]
    bottom = [0.0] * len(rows)
    for (key, label), color in zip(TIME_PARTS, _COLORS, strict=True):
        heights = [float(r.get(key) or 0.0) for r in rows]
        if not any(heights):
            continue
        ax.bar(steps, heights, bottom=bottom, color=color, label=label, width=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylim(0, max(bottom) * 1.08 or 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return True


def _reward(ax, records) -> bool:
    """The mean reward, with its split over prompts that need a call and prompts that need none."""
    drawn = _line(ax, records, "reward/mean", "Mean reward (training samples)", "reward")
    for key, color, label in (
        ("reward/call_prompts", _COLORS[1], "prompts that need a call"),
        ("reward/no_call_prompts", _COLORS[2], "prompts that need none"),
        ("multiturn/turn_pass_rate", _COLORS[3], "user turns passed (multi-turn, not rewarded)"),
    ):
        steps, values = series(records, key)
        if steps:
            ax.plot(steps, values, linestyle="--", linewidth=1.2, color=color, label=label)
            ax.legend(loc="best", fontsize=8)
    return drawn


def summary_lines(records: list[dict[str, Any]]) -> list[str]:
    """A few numbers of the run: steps, validation accuracy before and after, rewards, time."""
    lines = []
    steps = [r["step"] for r in records if r.get("step", 0) > 0]
    if steps:
        lines.append(f"steps: {max(steps)}")
    _, acc = series(records, "eval/accuracy")
    if acc:
        what = "multi-turn success" if _multi_turn(records) else "accuracy"
        lines.append(f"validation {what}: {acc[0] * 100:.1f}% -> {acc[-1] * 100:.1f}%")
    _, reward = series(records, "reward/mean")
    if reward:
        lines.append(f"reward: first {reward[0]:.3f}, last {reward[-1]:.3f}, best {max(reward):.3f}")
    _, step_time = series(records, "time/step")
    if step_time:
        lines.append(f"mean step time: {sum(step_time) / len(step_time):.2f} s")
    _, tps = series(records, "throughput/tokens_per_s")
    if tps:
        lines.append(f"mean throughput: {sum(tps) / len(tps):.0f} tokens/s")
    return lines


def _summary(ax, records) -> None:
    ax.axis("off")
    ax.set_title("Summary", fontsize=12)
    ax.text(
        0.02,
        0.95,
        "\n".join(summary_lines(records)),
        va="top",
        ha="left",
        fontsize=11,
        transform=ax.transAxes,
        family="monospace",
    )


def _multi_turn(records: list[dict[str, Any]]) -> bool:
    """Whether the run trained on multi-turn tasks (its validation score is multi-turn success)."""
    return any("multiturn/success" in r for r in records)


# (file stem, drawing function) for the single plots; overview.png holds all five.
def _panels(records):
    title, label = (
        ("Validation multi-turn success (greedy, every user turn passed)", "success (%)")
        if _multi_turn(records)
        else ("Validation accuracy (greedy)", "accuracy (%)")
    )
    return [
        ("reward", lambda ax: _reward(ax, records)),
        ("val_accuracy", lambda ax: _line(ax, records, "eval/accuracy", title, label, False, True)),
        (
            "cot_entropy",
            lambda ax: _line(ax, records, "entropy/cot", "Chain-of-thought entropy", "entropy (nats)"),
        ),
        ("kl", lambda ax: _line(ax, records, "kl", "KL to the reference policy", "KL")),
        ("time_breakdown", lambda ax: _time_breakdown(ax, records)),
    ]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the run's plots; returns the PNG paths (overview.png last). Raises FileNotFoundError
    naming the file when the run has no metrics.jsonl."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics to plot: {path} does not exist")
    records = read_metrics(path)
    out = Path(out_dir) if out_dir else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, draw in _panels(records):
        fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig.add_subplot(1, 1, 1))
        fig.suptitle(f"run {run_dir.name}", fontsize=9, color="0.4")
        target = out / f"{stem}.png"
        fig.savefig(target)
        written.append(target)
    fig = Figure(figsize=(16, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3)
    for ax, (_, draw) in zip(axes.flat, _panels(records), strict=False):
        draw(ax)
    _summary(axes.flat[-1], records)
    fig.suptitle(f"EGPO run {run_dir.name}", fontsize=14)
    target = out / "overview.png"
    fig.savefig(target)
    written.append(target)
    return written
