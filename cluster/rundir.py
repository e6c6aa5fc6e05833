"""``runs/<name>``: the run directory, its checkpoints and driver state, and resuming a run."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from cluster.config import ConfigError, RunConfig, load_config, preset_path, save_config, validate

CHECKPOINTS = "checkpoints"


STATE_FILE = "driver_state.json"


WARM_START_LINK = "warm_start"  # runs/<name>/warm_start -> the cached warm-started model


class RunDir:
    """``runs/<name>``: config.yaml, metrics.jsonl, checkpoints/step-<N>/, eval outputs, report."""

    def __init__(self, path: Path):
        self.path = path
        self.checkpoints = path / CHECKPOINTS

    @classmethod
    def create(cls, cfg: RunConfig) -> RunDir:
        name = cfg.logging.run_name or f"{Path(cfg.model.path).name}-{datetime.now():%Y%m%d-%H%M%S}"
        path = Path(cfg.logging.runs_dir) / name
        if (path / STATE_FILE).exists() or any(path.glob(f"{CHECKPOINTS}/step-*")):
            raise ConfigError(
                f"logging.run_name={name!r}: {path} already holds a run; resume it with "
                f"'python launch.py train --resume {path}' or choose another name"
            )
        path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, path / "config.yaml")
        return cls(path)

    def discard_if_unused(self) -> None:
        """Remove the folder of a run that failed before any work (no metrics, no checkpoint yet),
        so a bad config or data file leaves no run behind that holds only config.yaml."""
        if not (self.path / "metrics.jsonl").exists() and not self.checkpoints.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def link_warm_start(self, model_dir: Path) -> None:
        """``runs/<name>/warm_start``: a link to the warm-started model (cached under .cache/), so
        ``launch.py eval --model runs/<name>/warm_start`` scores the policy RL started from."""
        link = self.path / WARM_START_LINK
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(model_dir.resolve(), target_is_directory=True)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint (an interrupted write never counts)."""
        done = [p for p in self.checkpoints.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
        return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)

    def save_checkpoint(self, learners, step: int, state: dict[str, Any]) -> Path:
        """Write the learner's checkpoint and the driver's state to a temporary folder, then rename:
        a crash mid-write leaves no folder that looks complete."""
        final = self.checkpoints / f"step-{step:06d}"
        partial = self.checkpoints / f".step-{step:06d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        learners.save_checkpoint(str(partial))
        tmp_state = partial / (STATE_FILE + ".tmp")
        tmp_state.write_text(json.dumps(state))
        tmp_state.rename(partial / STATE_FILE)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        return final


def resume_config(run_dir: str, overrides: list[str] | None = None) -> RunConfig:
    """The saved config of ``run_dir`` with ``overrides`` applied (e.g. more train.steps)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no run there ({path} does not exist)")
    cfg = load_config(str(preset_path(str(path))), overrides)
    data = cfg.model_dump()
    data["logging"]["run_name"] = Path(run_dir).name
    data["logging"]["runs_dir"] = str(Path(run_dir).parent)
    return validate(data, source=f"config of {run_dir}")
