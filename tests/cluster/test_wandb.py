"""logging.wandb: without wandb installed the run stops first. (That an offline run holds every
metric of metrics.jsonl and the plots, and that a resumed run continues the same wandb run, is
checked by tests/e2e/test_loop.py with the reader in tests/support/wandb_files.py.)"""

from __future__ import annotations

import sys

import pytest

from cluster.config import ConfigError, load_config
from cluster.observe.wandb_log import check_installed


def test_wandb_on_without_the_package_stops_before_any_work(monkeypatch):
    cfg = load_config("tiny", ["logging.wandb=true"])
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now raises ImportError
    with pytest.raises(
        ConfigError,
        match=r"logging.wandb=true: the wandb package is not installed; run 'bash install.sh --wandb'",
    ):
        check_installed(cfg)
    check_installed(load_config("tiny", []))  # off: nothing to check
