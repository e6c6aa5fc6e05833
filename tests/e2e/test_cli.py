"""The egpo console script is the same command as python launch.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import REPO_ROOT

EGPO = Path(sys.executable).parent / "egpo"


@pytest.mark.skipif(not EGPO.is_file(), reason="the egpo script is installed by bash install.sh")
def test_egpo_help_lists_the_commands_as_launch_py_does():
    egpo = subprocess.run([str(EGPO), "--help"], capture_output=True, text=True, timeout=60)
    launch = subprocess.run(
        [sys.executable, "launch.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert egpo.returncode == 0 and launch.returncode == 0
    assert egpo.stdout.startswith("usage: egpo ") and launch.stdout.startswith("usage: launch.py ")
    for command in ("train", "eval", "scale"):
        assert f"    {command} " in egpo.stdout
    assert egpo.stdout.split("\n", 1)[1] == launch.stdout.split("\n", 1)[1]


@pytest.mark.skipif(not EGPO.is_file(), reason="the egpo script is installed by bash install.sh")
def test_egpo_rejects_a_bad_config_like_launch_py(tmp_path):
    result = subprocess.run(
        [str(EGPO), "train", "algorithm.alpha=0.5", f"logging.runs_dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "algorithm.alpha=0.5" in result.stderr
