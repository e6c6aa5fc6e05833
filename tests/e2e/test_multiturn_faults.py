"""Multi-turn trajectories under faults, with real Ray actors and vLLM workers: a rollout worker
killed, or the pool scaled down, while trajectories are half played changes no trajectory. Each
round of steps is one ``generate`` call of the pool, whose chunks run exactly once, so every
trajectory still gets exactly one step per round: the same tokens, masks and verdicts as a play
with nothing killed or scaled."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.e2e.test_fault_tolerance import _rollout_cfg

TASKS = 6


def _tasks():
    """Tasks whose first turn needs no call: a random model passes it by writing none, so its
    trajectories go on to a second round (a miss-function or miss-parameter turn first)."""
    from cluster.synthetic.multiturn import generate_split

    tasks = [t for t in generate_split("train", 300, seed=5) if t["ground_truth"][0] == []]
    assert len(tasks) >= TASKS
    return tasks[:TASKS]


def _setup(tiny_model_dir):
    from cluster.config import RunConfig
    from cluster.data.tasks import render_tasks
    from common.tokenizer import load_tokenizer

    cfg = RunConfig.model_validate(
        {"data": {"multi_turn": True, "prompt_style": "signatures"}, "model": {"max_model_len": 2048}}
    )
    tokenizer = load_tokenizer(tiny_model_dir)
    return cfg, tokenizer, render_tasks(_tasks(), tokenizer, cfg, "test")


def _in_round(pool, number: int, queued: int, action) -> threading.Thread:
    """Run ``action`` once the ``number``-th ``generate`` call of ``pool`` has a chunk done and at
    least ``queued`` still queued (each round of a play is one call)."""

    def watch() -> None:
        seen: list[int] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            work = pool._work
            if work is not None and (not seen or seen[-1] != id(work)):
                seen.append(id(work))
            if len(seen) == number and len(work.results) >= 1 and len(work.queue) >= queued:
                action()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _same_play(played, reference) -> None:
    for t, ref in zip(played, reference, strict=True):
        assert t.entry["id"] == ref.entry["id"]
        assert t.ids == ref.ids and t.mask == ref.mask, f"{t.entry['id']}: the trajectory changed"
        assert t.turn_outputs == ref.turn_outputs
        assert (t.correct, t.turns_passed) == (ref.correct, ref.turns_passed)


@pytest.mark.slow
def test_a_worker_killed_or_the_pool_scaled_mid_trajectory_changes_no_trajectory(ray_cluster, tiny_model_dir):
    import ray

    from cluster.roles.rollout_pool import RolloutPool, Sampling
    from cluster.trajectories import play

    cfg, tokenizer, prompts = _setup(tiny_model_dir)
    sampling = Sampling(group_size=2, temperature=1.0, max_new_tokens=24, seed=7)
    pool = RolloutPool(
        str(tiny_model_dir),
        cfg.model,
        _rollout_cfg(num_workers=2, chunk_prompts=1, max_restarts=1),
        name_prefix="mtf-rollout",
        run_name="multiturn-faults",
    )
    try:
        reference = play(prompts, sampling, pool, tokenizer, cfg)
        assert len(reference) == TASKS * sampling.group_size
        assert all(len(t.turn_outputs) >= 2 for t in reference), "every trajectory reaches a second turn"

        # A worker's process killed in the second round, with chunks done, in flight and queued.
        pid = ray.get(pool.workers[0].ping.remote(), timeout=60)["pid"]
        killed = []
        killer = _in_round(pool, 2, 2, lambda: (os.kill(pid, signal.SIGKILL), killed.append(True)))
        played = play(prompts, sampling, pool, tokenizer, cfg)
        killer.join()
        assert killed, "the worker was not killed in the second round (the play finished first)"
        _same_play(played, reference)
        assert pool.restarts == 1

        # Scaled down from two workers to one in the second round: the same trajectories again.
        play(prompts[:1], sampling, pool, tokenizer, cfg)  # the replacement joins at a call boundary
        assert pool.size == 2
        scaler = _in_round(pool, 2, 2, lambda: pool.set_target(1))
        played = play(prompts, sampling, pool, tokenizer, cfg)
        scaler.join()
        _same_play(played, reference)
        play(prompts[:1], sampling, pool, tokenizer, cfg)
        assert pool.size == 1
    finally:
        pool.shutdown()
