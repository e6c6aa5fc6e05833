"""What every config section shares: the error type, the strict section base, the repo's paths."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_PRESET = "tiny"


class ConfigError(ValueError):
    """A config that cannot run; the message is one paragraph meant for the user."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def threads_field(role: str):
    """``threads`` of a role that runs beside another (rollout workers, learners)."""
    return Field(
        None,
        ge=1,
        description=f"Compute threads of each {role} (OMP_NUM_THREADS). Default None = its Ray CPUs "
        "(rounded down, at least 1). In synchronous mode sampling and training take turns, so each "
        "may use every core of a machine they share (the tiny preset: 2 and 2 on 2 cores); with "
        "algorithm.max_staleness > 0 they run at once, so keep the sum at the cores.",
    )
