"""Faults during a whole training run (issue 21), in asynchronous mode: a reward actor and a rollout
worker killed between steps, then more worker deaths than rollout.max_restarts (a clear stop, the last
checkpoint intact and resumable). Every step is logged exactly once and nothing is lost. One run
covers both: each run of the whole stack costs over a minute of the suite's time."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import FAULT_RUN, kill_group, start_train, wait_for

STEPS = 10
RUN = [*FAULT_RUN, f"train.steps={STEPS}", "train.checkpoint_every=1"]
KILL = """
import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
(entry,) = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"] == sys.argv[2]]
ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]), no_restart=True)
"""


def _address(log_file: Path, proc) -> str:
    hint = wait_for(
        lambda: re.search(r"--address (\S+)\)", log_file.read_text()), "the scale hint", proc, log_file
    )
    return hint[1]


def _kill_after_step(name: str, step: int, proc, log_file: Path) -> None:
    """Kill the run's actor ``name`` (as Ray does when its process dies) once step ``step`` is logged."""
    address = _address(log_file, proc)
    wait_for(lambda: f"step {step}/{STEPS}" in log_file.read_text(), f"step {step}", proc, log_file)
    os.kill(proc.pid, signal.SIGSTOP)  # hold the driver while the kill runs: steps take under a second
    try:
        killed = subprocess.run(
            [sys.executable, "-c", KILL, address, name], capture_output=True, text=True, timeout=120
        )
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert killed.returncode == 0, killed.stderr[-2000:]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_killed_actors_are_replaced_until_max_restarts_then_the_run_stops_clearly_and_resumes(tmp_path):
    """Asynchronous mode (max_staleness=1), rollout.max_restarts=1: a reward actor killed between
    steps 2 and 3 and a rollout worker killed between steps 4 and 5 are replaced, counted and named;
    the replacement worker killed after step 6 is one death too many: the run stops, naming the
    field, with its last checkpoint intact, and a resume runs it to the end, every step logged once."""
    runs, log_file = tmp_path / "runs", tmp_path / "run.log"
    run_dir = runs / "ak"
    args = [*RUN, "algorithm.max_staleness=1", "rollout.max_restarts=1", f"logging.runs_dir={runs}",
            "logging.run_name=ak"]  # fmt: skip
    proc = start_train(args, log_file)
    try:
        _kill_after_step("reward-0", 2, proc, log_file)
        _kill_after_step("rollout-0", 4, proc, log_file)
        _kill_after_step("rollout-1", 6, proc, log_file)  # the replacement
        assert proc.wait(timeout=600) != 0, "the run went on past rollout.max_restarts"
    finally:
        kill_group(proc)
    text = log_file.read_text()
    assert "Reward pool: reward actor reward-0 died" in text
    assert "Rollout pool: rollout worker rollout-0 died" in text
    assert "rollout worker rollout-1 died" in text and "(rollout.max_restarts=1)" in text, text[-3000:]
    done = sorted(run_dir.glob("checkpoints/step-*/driver_state.json"))
    assert done, "no complete checkpoint before the stop"
    last = int(done[-1].parent.name.split("-")[1])
    assert 6 <= last < STEPS
    records = _records(run_dir)
    assert [r["step"] for r in records][: last + 1] == list(range(last + 1))
    assert records[1]["pool/reward_restarts"] == 0 and records[last]["pool/reward_restarts"] == 1
    assert records[last]["pool/worker_restarts"] == 1
    assert all(r["policy/staleness"] <= 1 for r in records[1:])

    resumed_log = tmp_path / "resume.log"
    proc = start_train(["--resume", str(run_dir)], resumed_log)
    try:
        assert proc.wait(timeout=600) == 0, resumed_log.read_text()[-4000:]
    finally:
        kill_group(proc)
    assert f"from step-{last:06d} (step {last})" in resumed_log.read_text()
    assert [r["step"] for r in _records(run_dir)] == list(range(STEPS + 1))


@pytest.mark.slow
def test_colocated_mode_replaces_a_killed_worker_with_the_current_weights(tmp_path):
    """cluster.mode=colocated (weights through the object store, no weight-sync group): a rollout
    worker killed between steps 2 and 3 is replaced; the replacement loads the learner's current
    weights before it samples, so no step trains on completions of an older policy."""
    runs, log_file = tmp_path / "runs", tmp_path / "run.log"
    args = [*FAULT_RUN, f"train.steps={STEPS}", "train.checkpoint_every=0", "cluster.mode=colocated",
            "rollout.threads=null", "learner.threads=null", f"logging.runs_dir={runs}",
            "logging.run_name=co"]  # fmt: skip
    proc = start_train(args, log_file)
    try:
        _kill_after_step("rollout-0", 2, proc, log_file)
        assert proc.wait(timeout=600) == 0, log_file.read_text()[-4000:]
    finally:
        kill_group(proc)
    text = log_file.read_text()
    assert "Colocated: rollout workers and learner take turns" in text
    assert "Rollout pool: rollout worker rollout-0 died" in text
    records = _records(runs / "co")
    assert [r["step"] for r in records] == list(range(STEPS + 1))
    assert records[-1]["pool/worker_restarts"] == 1
    assert all(r["pool/stale_completions"] == 0 and r["policy/staleness"] == 0 for r in records[1:])
