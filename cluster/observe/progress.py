"""Console output of a run: progress bars with ETA and one concise line per step.

On a terminal the training steps and the long phases (warm start, evaluation) show a tqdm bar
with elapsed time and ETA; messages print above the bars. Off a terminal (``ray job logs``, CI)
bars are off and each step's line carries its own ETA, so logs stay one line per step.
``logging.verbose=true`` adds a detail line per step (time breakdown, advantages, learner).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

from cluster.observe.metrics import console_line
from common.console import say  # noqa: F401 - the console voice, re-exported for the driver

# Verbose detail line: (label, [(metrics key, format)]).
_DETAILS = [
    (
        "time",
        [
            ("time/generate", "generate {:.2f}s"),
            ("time/score", "score {:.2f}s"),
            ("time/train", "train {:.2f}s"),
            ("time/weight_sync", "sync {:.2f}s"),
            ("time/eval", "eval {:.2f}s"),
            ("time/overhead", "other {:.2f}s"),
        ],
    ),
    (
        "learner",
        [
            ("loss", "loss {:.4f}"),
            ("pg_loss", "pg {:.4f}"),
            ("grad_norm", "grad_norm {:.3f}"),
            ("clip_frac", "clip {:.3f}"),
            ("lr", "lr {:.2e}"),
        ],
    ),
    (
        "adv",
        [
            ("adv/std", "std {:.3f}"),
            ("adv/bonus_mean", "bonus {:.4f}"),
            ("entropy/token", "H_tok {:.3f}"),
        ],
    ),
    (
        "rollout",
        [
            ("response_length/mean", "len {:.1f}"),
            ("frac_truncated", "truncated {:.2f}"),
            ("throughput/tokens_per_s", "{:.0f} tok/s"),
            ("pool/rollout_workers", "workers {:d}"),
            ("policy_version", "version {:d}"),
        ],
    ),
    (
        "multi-turn",
        [
            ("multiturn/steps_per_turn", "steps/turn {:.2f}"),
            ("multiturn/calls_per_turn", "calls/turn {:.2f}"),
            ("multiturn/env_errors", "env_errors {:.2f}"),
            ("multiturn/observation_tokens", "obs_tokens {:d}"),
            ("time/env", "env {:.2f}s"),
        ],
    ),
]


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``; ``9.4`` -> ``9s``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def detail_line(metrics: dict[str, Any]) -> str:
    """The verbose second line of a step: time breakdown, learner, advantages, rollout."""
    groups = []
    for label, fields in _DETAILS:
        parts = []
        for key, fmt in fields:
            value = metrics.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            parts.append(fmt.format(int(value) if "{:d}" in fmt else value))
        if parts:
            groups.append(f"{label}: " + " ".join(parts))
    return "    " + " | ".join(groups)


def _use_bars(file: TextIO, bars: bool | None) -> bool:
    if bars is not None:
        return bars
    return bool(getattr(file, "isatty", lambda: False)())


class StepProgress:
    """The training-steps bar: ``step_done(step, metrics)`` prints the step's line (with ETA)
    and advances the bar. Steps already done (a resumed run) count as the bar's start."""

    def __init__(
        self,
        total: int,
        start: int = 0,
        verbose: bool = False,
        file: TextIO | None = None,
        bars: bool | None = None,
    ):
        self.total, self.start, self.verbose = total, start, verbose
        self.file = file or sys.stdout
        self._started = time.perf_counter()
        self._bar = None
        if _use_bars(sys.stderr, bars):
            self._bar = tqdm(
                total=total, initial=start, desc="EGPO", unit="step", dynamic_ncols=True, leave=False
            )

    def eta(self, step: int) -> float | None:
        """Seconds left, from the mean wall time of the steps this process ran (None before any)."""
        done = step - self.start
        if done <= 0:
            return None
        return (time.perf_counter() - self._started) / done * (self.total - step)

    def line(self, step: int, metrics: dict[str, Any]) -> str:
        """The concise step line: :func:`cluster.observe.metrics.console_line` plus the ETA."""
        text = console_line(step, self.total, metrics)
        eta = self.eta(step)
        if eta is not None and step < self.total:
            text += f" | eta {format_duration(eta)}"
        return text

    def step_done(self, step: int, metrics: dict[str, Any]) -> str:
        text = self.line(step, metrics)
        say(text, self.file)
        if self.verbose:
            say(detail_line(metrics), self.file)
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            reward = metrics.get("reward/mean")
            if isinstance(reward, int | float):
                self._bar.set_postfix_str(f"reward {reward:.3f}", refresh=True)
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Phase:
    """A long phase (warm start, evaluation) in progress; see :func:`phase`.

    Without a bar (logs, not a terminal) it prints a line at 25%, 50% and 75% of ``total``, so a
    long warm start in ``ray job logs`` still shows its pace and ETA."""

    MILESTONES = (0.25, 0.5, 0.75)

    def __init__(
        self, bar: tqdm | None, name: str = "", total: int | None = None, unit: str = "step", file=None
    ):
        self._bar = bar
        self.name, self.total, self.unit, self.file = name, total, unit, file
        self.started = time.perf_counter()
        self.done = 0
        self.info = ""
        self._next = 0

    def advance(self, n: int = 1, info: str = "") -> None:
        """Count ``n`` units done; ``info`` (e.g. ``loss 0.412``) shows beside the bar."""
        self.done += n
        if info:
            self.info = info
        if self._bar is not None:
            self._bar.update(n)
            if info:
                self._bar.set_postfix_str(info, refresh=False)
        elif self.total and self.total >= 8:
            self._milestone()

    def _milestone(self) -> None:
        passed = False
        while self._next < len(self.MILESTONES) and self.done >= self.MILESTONES[self._next] * self.total:
            self._next, passed = self._next + 1, True
        if not passed or self.done >= self.total:
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        info = f", {self.info}" if self.info else ""
        say(
            f"{self.name}: {self.done}/{self.total} {self.unit}s, {format_duration(elapsed)} "
            f"(eta {format_duration(eta)}{info})",
            self.file,
        )


@contextmanager
def phase(
    name: str,
    total: int | None = None,
    unit: str = "step",
    file: TextIO | None = None,
    bars: bool | None = None,
) -> Iterator[Phase]:
    """A bar with ETA while the phase runs, and one summary line when it ends::

    with phase("warm start", total=200) as p:
        for ...: p.advance(info=f"loss {loss:.3f}")
    # -> "warm start: 200/200 steps in 34s (loss 0.412)"
    """
    out = file or sys.stdout
    bar = None
    if _use_bars(sys.stderr, bars):
        bar = tqdm(total=total, desc=name, unit=unit, dynamic_ncols=True, leave=False)
    progress = Phase(bar, name, total, unit, out)
    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()
    count = f"{progress.done}/{total} {unit}s" if total else f"{progress.done} {unit}s"
    info = f" ({progress.info})" if progress.info else ""
    say(f"{name}: {count} in {format_duration(time.perf_counter() - progress.started)}{info}", out)
