"""Weights & Biases, next to metrics.jsonl and TensorBoard (``logging.wandb=true``).

The wandb run's id is kept in ``runs/<name>/wandb_id``, so a resumed run continues the same wandb
run. ``wandb`` is an optional extra (``bash install.sh --wandb``); ``WANDB_MODE=offline`` writes the
run under ``runs/<name>/wandb/`` for a later ``wandb sync``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from cluster.config import ConfigError, RunConfig

ID_FILE = "wandb_id"


def check_installed(cfg: RunConfig) -> None:
    """Raise ``ConfigError`` before any work when logging.wandb is on and wandb is not installed."""
    if not cfg.logging.wandb:
        return
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "logging.wandb=true: the wandb package is not installed; run 'bash install.sh --wandb' "
            "(or pip install wandb), or set logging.wandb=false"
        ) from None


class WandbRun:
    """One wandb run per training run: metrics by step, the resolved config, images at the end.
    Started before any work, so a wandb that cannot start stops the run with a ConfigError."""

    def __init__(self, cfg: RunConfig, run_dir: Path):
        import wandb

        id_file = run_dir / ID_FILE
        if id_file.is_file():
            run_id = id_file.read_text().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            id_file.write_text(run_id)
        log = cfg.logging
        try:
            self.run = wandb.init(
                project=log.wandb_project,
                entity=log.wandb_entity,
                name=log.wandb_name or run_dir.name,
                tags=log.wandb_tags or None,
                config=cfg.model_dump(mode="json"),
                dir=str(run_dir),
                id=run_id,
                resume="allow",
            )
        except Exception as exc:  # noqa: BLE001 - no key, no network, a bad entity: the same advice
            raise ConfigError(
                f"logging.wandb=true: wandb.init failed ({type(exc).__name__}: {exc}); log in with "
                "'wandb login' or WANDB_API_KEY, or set WANDB_MODE=offline"
            ) from None

    def log(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl record (its ``step`` is wandb's step)."""
        values = {
            k: v
            for k, v in record.items()
            if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)
        }
        self.run.log(values, step=record["step"])

    def images(self, paths: list[Path]) -> None:
        import wandb

        self.run.log({f"plots/{p.stem}": wandb.Image(str(p)) for p in paths})

    def finish(self) -> None:
        self.run.finish()
