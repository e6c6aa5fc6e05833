"""Fault tolerance with real Ray actors and real processes: a rollout worker's process and a reward
actor killed mid-step lose no group; a restart budget runs out with a clear error; a training driver
killed mid-run (SIGKILL) resumes from its last checkpoint to the same final step count."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.ray_actors import kill_actor
from tests.support.runs import FAULT_RUN, REPO_ROOT, kill_group, start_train, wait_for

PROMPTS = [[5 + i, 17, 29 + 2 * i, 41, 60 + i] for i in range(8)]


def _rollout_cfg(**fields):
    from cluster.config import RolloutConfig

    base = dict(num_workers=2, cpus_per_worker=0.25, placement_timeout_s=60, chunk_prompts=1, max_restarts=1)
    return RolloutConfig(**{**base, **fields})


def _model_cfg():
    from cluster.config import ModelConfig

    return ModelConfig(max_model_len=256)


def _kill_when_mid_step(pool, worker, result: dict) -> None:
    """SIGKILL ``worker``'s process once a chunk is done and at least two are still queued (so every
    worker, this one included, has a chunk in flight)."""
    import ray

    pid = ray.get(worker.ping.remote(), timeout=60)["pid"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        work = pool._work
        if work is not None and len(work.results) >= 1 and len(work.queue) >= 2:
            os.kill(pid, signal.SIGKILL)
            result["killed_with_queue"] = len(work.queue)
            return
        time.sleep(0.005)


def _items(groups) -> list[dict]:
    # A reward item per completion: a gold call that a random tiny model never writes, so the
    # expected reward is known (0.0) and the order of items is checked by the count per group.
    fn = {"name": "f", "description": "", "parameters": {"type": "dict", "properties": {}, "required": []}}
    return [
        {"text": c["text"], "ground_truth": [{"f": {}}], "functions": [fn], "category": None}
        for group in groups
        for c in group
    ]


@pytest.mark.slow
def test_killed_rollout_worker_and_reward_actor_lose_no_group(ray_cluster, tiny_model_dir):
    import ray

    from cluster.roles.rollout_pool import RolloutPool, RolloutPoolError, Sampling
    from reward import RewardPool

    sampling = Sampling(group_size=2, temperature=1.0, max_new_tokens=48, seed=7)
    pool = RolloutPool(str(tiny_model_dir), _model_cfg(), _rollout_cfg(), name_prefix="ft-rollout")
    rewards = RewardPool(2, 0.25, name_prefix="ft-reward", max_restarts=1)
    try:
        reference = pool.generate(PROMPTS, sampling)  # the same step with nothing killed
        assert pool.last_step["pool/redispatched_chunks"] == 0

        # Kill one worker's process while chunks are in flight and queued.
        victim = pool.workers[0]
        killed: dict = {}
        killer = threading.Thread(target=_kill_when_mid_step, args=(pool, victim, killed))
        killer.start()
        groups = pool.generate(PROMPTS, sampling)
        killer.join()
        assert killed, "the worker was not killed mid-step (the step finished first)"

        # Every prompt has exactly one group, in order, with G completions: nothing lost or doubled.
        assert len(groups) == len(PROMPTS)
        for prompt, group, ref_group in zip(PROMPTS, groups, reference, strict=True):
            assert len(group) == sampling.group_size
            assert all(c["prompt_token_ids"] == prompt for c in group)
            # Same seeds, same weights: the re-dispatched chunk gives the very same samples.
            assert [c["token_ids"] for c in group] == [c["token_ids"] for c in ref_group]
        assert pool.last_step["pool/redispatched_chunks"] >= 1
        assert pool.restarts == 1

        # The replacement joins at the next step boundary; the pool is back to two workers.
        again = pool.generate(PROMPTS, sampling)
        assert len(again) == len(PROMPTS) and pool.size == 2
        assert victim not in pool.workers

        # A reward actor killed before the step's scoring: its chunk is retried on a replacement.
        items = _items(groups)
        expected = rewards.score(items)
        kill_actor(ray.get_actor("ft-reward-0"))
        scored = rewards.score(items)
        assert scored == expected and len(scored) == len(PROMPTS) * sampling.group_size
        assert rewards.restarts == 1

        # The restart budget (rollout.max_restarts=1) is spent: the next death is a clear error.
        kill_actor(pool.workers[0])
        with pytest.raises(RolloutPoolError, match=r"max_restarts=1"):
            pool.generate(PROMPTS, sampling)
    finally:
        pool.shutdown()
        rewards.shutdown()


@pytest.mark.slow
def test_a_worker_dead_during_the_weight_broadcast_is_replaced_and_the_push_retried(
    ray_cluster, tiny_model_dir, console
):
    """A worker dies after the push's liveness check, so the broadcast runs with a dead rank: the
    collective breaks (the learner and some workers fail at once, the rest at the group's timeout),
    the push rebuilds the group without it and broadcasts again; the pool replaces the worker and
    every live worker ends on the new version."""
    import ray

    from cluster.config import load_config
    from cluster.roles.learner_group import LearnerGroup
    from cluster.roles.rollout_pool import RolloutPool, Sampling
    from cluster.roles.weight_sync import WeightSync

    cfg = load_config(
        "tiny",
        [
            "rollout.num_workers=3",
            "rollout.cpus_per_worker=0.25",
            "rollout.max_restarts=1",
            "rollout.weight_sync_timeout_s=5",
            "model.max_model_len=256",
        ],
    )
    learners = LearnerGroup(str(tiny_model_dir), cfg, name_prefix="wb-learner")
    pool = RolloutPool(str(tiny_model_dir), cfg.model, cfg.rollout, name_prefix="wb-rollout")
    try:
        sync = WeightSync(learners, pool, "gloo", cfg.rollout.weight_sync_timeout_s)
        sync.push(version=1)
        assert [ray.get(w.ping.remote())["version"] for w in pool.workers] == [1, 1, 1]

        victim = pool.workers[1]
        os.kill(ray.get(victim.ping.remote())["pid"], signal.SIGKILL)
        checks = []
        real_check = pool.prune_dead

        def check_too_early() -> int:  # the death lands after the liveness check, before the broadcast
            checks.append(1)
            return 0 if len(checks) == 1 else real_check()

        pool.prune_dead = check_too_early
        started = time.monotonic()
        sync.push(version=2)
        took = time.monotonic() - started

        lines = console()
        assert any("broadcast of version 2 broke" in line for line in lines), lines
        assert pool.restarts == 1 and victim not in pool.workers
        assert took < 60, f"the push took {took:.0f}s (group timeout 5s)"
        assert all(ray.get(w.ping.remote())["version"] == 2 for w in pool.workers)

        # The replacement joins at the next step boundary with the current weights.
        pool.generate(PROMPTS[:3], Sampling(group_size=1, temperature=1.0, max_new_tokens=4, seed=1))
        assert pool.size == 3
        assert [ray.get(w.ping.remote())["version"] for w in pool.workers] == [2, 2, 2]
    finally:
        pool.shutdown()
        learners.shutdown()


# ------------------------------------------------------------------------------------ the driver


@pytest.mark.slow
def test_driver_killed_mid_run_resumes_to_the_same_final_step(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "crash"
    log_file = tmp_path / "first.log"
    proc = start_train([*FAULT_RUN, f"logging.runs_dir={runs}", "logging.run_name=crash"], log_file)
    try:
        # After step 1, grow its rollout pool with the command a user would type: the newcomer
        # must load the learner's current weights (version >= 1) before it takes work.
        line = wait_for(
            lambda: re.search(r"--run crash --address (\S+)\)", log_file.read_text()),
            "the scale hint",
            proc,
            log_file,
        )
        wait_for(lambda: "step 1/6" in log_file.read_text(), "step 1", proc, log_file)
        os.kill(proc.pid, signal.SIGSTOP)  # hold the driver while the command runs: steps are short
        try:
            scale = subprocess.run(
                [
                    sys.executable,
                    "launch.py",
                    "scale",
                    "--workers",
                    "2",
                    "--run",
                    "crash",
                    "--address",
                    line[1],
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert scale.returncode == 0, scale.stdout + scale.stderr
        assert "target set to 2" in scale.stdout

        # Kill once a checkpoint of step 2 or later is complete and a step ran on two workers.
        def checkpointed_after_scaling() -> int:
            done = sorted(run_dir.glob("checkpoints/step-*/driver_state.json"))
            metrics = run_dir / "metrics.jsonl"
            lines = metrics.read_text().splitlines() if metrics.is_file() else []
            scaled = any(json.loads(x).get("pool/rollout_workers") == 2 for x in lines if x.endswith("}"))
            step = int(done[-1].parent.name.split("-")[1]) if done and scaled else 0
            return step if step >= 2 else 0

        killed_at = wait_for(checkpointed_after_scaling, "checkpoint >= 2 after scaling", proc, log_file)
        os.kill(proc.pid, signal.SIGKILL)  # the driver dies without any chance to clean up
        proc.wait(timeout=60)
    finally:
        kill_group(proc)  # Ray processes it started, if any outlived it
    assert killed_at < 6, "the run finished before it was killed"
    assert "Done in" not in log_file.read_text()
    before = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in before][: killed_at + 1] == list(range(killed_at + 1))

    resumed_log = tmp_path / "resume.log"
    proc = start_train(["--resume", str(run_dir)], resumed_log)
    try:
        assert proc.wait(timeout=600) == 0, resumed_log.read_text()[-4000:]
    finally:
        kill_group(proc)
    resumed = resumed_log.read_text()
    assert f"from step-{killed_at:06d} (step {killed_at})" in resumed, resumed[-3000:]

    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4, 5, 6]  # each step once, none lost or repeated
    assert all(r["pool/stale_completions"] == 0 for r in records[1:]), "every worker had the current weights"
    # The resumed run keeps the size the run had been scaled to, not rollout.num_workers.
    assert all(r["pool/target_workers"] == 2 for r in records[killed_at + 1 :])
    kept = slice(1, killed_at + 1)  # the steps before the checkpoint are the first run's own
    assert [r["data/batch_digest"] for r in records[kept]] == [r["data/batch_digest"] for r in before[kept]]
    assert [r["time/step"] for r in records[kept]] == [r["time/step"] for r in before[kept]]
    assert (run_dir / "checkpoints" / "step-000006" / "driver_state.json").is_file()
    assert json.loads((run_dir / "report.json").read_text())["steps"] == 6
