"""Whole training runs from a test: ``launch.py train`` in a subprocess at the repository root, and
the settings that make such a run take a few seconds a step on 2 cores."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Settings for a whole training run of a few seconds a step on 2 cores (subprocess tests add
# train.steps and their own runs_dir): a 0.2M model (hidden 64) on the first 2,000 training
# samples, 4 prompts x G=4, short completions, a tiny warm start.
SMALL_RUN = [
    "model.tiny_hidden_size=64",
    "model.tiny_num_heads=2",
    "model.tiny_num_kv_heads=1",
    "data.train_limit=2000",
    "rollout.threads=1",  # one thread per role, as on Ray's defaults: some tests run async mode
    "learner.threads=1",
    "train.prompts_per_step=4",
    "rollout.group_size=4",
    "rollout.max_new_tokens=24",
    "learner.micro_batch_size=8",
    "model.warm_start_sft_steps=2",
    "algorithm.spread_filter_samples=0",  # a 2-step warm start gets no prompt right to screen for
    "train.eval_limit=8",
    "train.checkpoint_every=1",
    "cluster.num_cpus=2",
]

# Two steps: the loop's and LoRA's end-to-end runs.
FAST = ["train.steps=2", *SMALL_RUN]

# Six steps, rollout workers small enough that a replacement or a scaled-up one fits: the fault runs.
FAULT_RUN = ["train.steps=6", *SMALL_RUN, "rollout.cpus_per_worker=0.25", "logging.tensorboard=false"]


def train(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``launch.py train *args`` to the end; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "launch.py", "train", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def start_train(args: list[str], log_file: Path) -> subprocess.Popen:
    """``launch.py train *args`` started in the background, its output to ``log_file``."""
    out = log_file.open("w")
    return subprocess.Popen(
        [sys.executable, "launch.py", "train", *args],
        cwd=REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the test can clean up all it started
    )


def wait_for(condition, what: str, proc: subprocess.Popen, log_file: Path, timeout: float = 600):
    """Poll ``condition()`` until it is truthy and return its value; fail if the run exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"train exited ({proc.returncode}) before {what}:\n{log_file.read_text()[-4000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}:\n{log_file.read_text()[-4000:]}")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group (the Ray processes it started, too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
