"""Run metrics: one JSON line per step, TensorBoard scalars (and Weights & Biases when on), and a
concise console line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

# What the console line shows, in order, with its format.
_CONSOLE = [
    ("reward/mean", "reward {:.3f}"),
    ("call_rate/train", "calls {:.2f}"),
    ("multiturn/turn_pass_rate", "turns_ok {:.2f}"),
    ("multiturn/turns_per_trajectory", "turns {:.1f}"),
    ("eval/accuracy", "val_acc {:.3f}"),
    ("entropy/cot", "H_cot {:.3f}"),
    ("kl", "kl {:.4f}"),
    ("frac_zero_std_groups", "zero_std {:.2f}"),
    ("time/step", "{:.1f}s"),
]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Appends each step's metrics to ``metrics.jsonl`` (flushed and synced, so a crash loses
    nothing already logged) and mirrors them to TensorBoard."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, wandb=None):
        """``wandb``: a ``cluster.observe.wandb_log.WandbRun`` that gets every record too, or None."""
        self.path = Path(run_dir) / "metrics.jsonl"
        self.wandb = wandb
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        record = {"step": step, **{k: _clean(v) for k, v in sorted(metrics.items())}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self.wandb is not None:
            self.wandb.log(record)
        return record

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop records after ``step`` (a resumed run redoes those steps)."""
        kept = [r for r in self.read() if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def console_line(step: int, total: int, metrics: dict[str, Any]) -> str:
    parts = [f"step {step}/{total}"]
    for key, fmt in _CONSOLE:
        value = metrics.get(key)
        if isinstance(value, int | float) and value is not None:
            parts.append(fmt.format(value))
    return " | ".join(parts)
