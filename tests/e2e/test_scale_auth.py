"""The scale command exactly as the driver prints it, against a default-style run with Ray's token
authentication on (Ray 2.60's default): it grows and shrinks the pool; a missing or wrong token, an
unknown run name, each gets its own message."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.runs import REPO_ROOT, SMALL_RUN

PRINTED = re.compile(r"change while it runs: (python launch\.py scale --workers N --run \S+ --address \S+)\)")


def _auth_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user on a fresh machine: token auth left at Ray's default (on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(home), **extra)
    return env


def _scale(printed: str, workers: int, env: dict[str, str], run: str | None = None):
    argv = shlex.split(printed.replace("--workers N", f"--workers {workers}"))
    argv[0] = sys.executable  # "python" as the user's shell resolves it
    if run is not None:
        argv[argv.index("--run") + 1] = run
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def _wait_for_workers(metrics: Path, workers: int, proc, after: int = 0, timeout_s: float = 240) -> int:
    """The first step after ``after`` whose metrics show ``workers`` rollout workers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file():
            for line in metrics.read_text().splitlines():
                record = json.loads(line)
                if record["step"] > after and record.get("pool/rollout_workers") == workers:
                    return record["step"]
        time.sleep(0.5)
    raise AssertionError(f"no step after {after} with {workers} rollout workers (run exit {proc.poll()})")


def _printed_command(log: Path, proc, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if match := PRINTED.search(log.read_text()):
            return match.group(1)
        time.sleep(0.5)
    raise AssertionError(
        f"the driver printed no scale command (exit {proc.poll()}):\n{log.read_text()[-3000:]}"
    )


@pytest.mark.slow
def test_the_printed_scale_command_works_with_token_auth_on(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = _auth_env(home)
    runs = tmp_path / "runs"
    log = tmp_path / "driver.log"
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "train", "train.steps=400", *SMALL_RUN, "train.checkpoint_every=0",
         "rollout.cpus_per_worker=0.25", "rollout.max_workers=2", f"logging.runs_dir={runs}",
         "logging.run_name=auth-run"],
        cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        printed = _printed_command(log, proc)
        assert (home / ".ray" / "auth_token").is_file(), "the local cluster saved no token: auth is off"

        grown = _scale(printed, 2, env)
        assert grown.returncode == 0, grown.stderr[-2000:]
        assert "target set to 2" in grown.stdout
        metrics = runs / "auth-run" / "metrics.jsonl"
        at_two = _wait_for_workers(metrics, 2, proc)

        shrunk = _scale(printed, 1, env)
        assert shrunk.returncode == 0, shrunk.stderr[-2000:]
        _wait_for_workers(metrics, 1, proc, after=at_two)

        unknown = _scale(printed, 2, env, run="no-such-run")
        assert unknown.returncode == 2 and "no run named 'no-such-run' is running" in unknown.stderr

        empty_home = tmp_path / "elsewhere"
        empty_home.mkdir()
        no_token = _scale(printed, 2, _auth_env(empty_home))
        assert no_token.returncode == 2
        assert "did not let this client in, and no Ray auth token was found here" in no_token.stderr, (
            no_token.stderr[-2000:]
        )

        wrong = _scale(printed, 2, _auth_env(empty_home, RAY_AUTH_TOKEN="0" * 32))
        assert wrong.returncode == 2
        assert "did not let this client in with the auth token from RAY_AUTH_TOKEN" in wrong.stderr, (
            wrong.stderr[-2000:]
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=60)
