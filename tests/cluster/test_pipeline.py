"""The asynchronous mode's producer (cluster.pipeline): order, the staleness bound, exclusive use
of the rollout workers, errors and shutdown. Real threads; ``produce`` stands in for a rollout
batch and records which policy version the workers held when it started."""

from __future__ import annotations

import threading
import time

import pytest

from cluster.pipeline import RolloutPipeline


class Workers:
    """The rollout workers as the loop sees them: batches sampled, a policy version pushed after
    every step. ``overlaps`` counts a batch or push that found the workers already in use."""

    def __init__(self, produce_s: float = 0.0):
        self.version = 0
        self.busy = threading.Lock()
        self.started: dict[int, int] = {}  # step -> version the batch was sampled with
        self.produce_s = produce_s
        self.overlaps = 0

    def produce(self, step: int) -> dict:
        if not self.busy.acquire(blocking=False):
            self.overlaps += 1  # a push or another batch was using the workers
            self.busy.acquire()
        try:
            self.started[step] = self.version
            time.sleep(self.produce_s)
            return {"step": step, "version": self.version}
        finally:
            self.busy.release()

    def push(self, version: int) -> None:
        if not self.busy.acquire(blocking=False):
            self.overlaps += 1
            self.busy.acquire()
        try:
            time.sleep(0.001)
            self.version = version
        finally:
            self.busy.release()


def run_loop(max_staleness: int, steps: int = 8, produce_s: float = 0.0, train_s: float = 0.0) -> Workers:
    workers = Workers(produce_s)
    pipeline = RolloutPipeline(workers.produce, 1, steps, max_staleness, version=0)
    try:
        for step in range(1, steps + 1):
            batch = pipeline.take(step)
            assert batch["step"] == step
            learner_version = step - 1
            assert learner_version - batch["version"] <= max_staleness
            time.sleep(train_s)
            with pipeline.exclusive():
                workers.push(step)
            pipeline.pushed(step)
    finally:
        pipeline.close()
    return workers


def test_synchronous_mode_samples_every_step_with_the_newest_weights():
    workers = run_loop(max_staleness=0)
    assert workers.started == {step: step - 1 for step in range(1, 9)}
    assert workers.overlaps == 0


@pytest.mark.parametrize("max_staleness", [1, 2])
def test_async_mode_runs_ahead_but_never_past_the_bound(max_staleness):
    # training is slower than generating, so the producer runs as far ahead as the bound allows
    workers = run_loop(max_staleness, steps=8, produce_s=0.005, train_s=0.05)
    staleness = {step: (step - 1) - version for step, version in workers.started.items()}
    assert max(staleness.values()) == max_staleness
    assert all(0 <= s <= max_staleness for s in staleness.values())
    assert workers.overlaps == 0  # a batch and a weight push never used the workers at once


def test_async_mode_samples_the_next_batch_while_the_learner_trains():
    workers = Workers()
    pipeline = RolloutPipeline(workers.produce, 1, 3, max_staleness=1, version=0)
    try:
        pipeline.take(1)
        # "training" step 1: the batch of step 2 is sampled meanwhile, before any new weights
        deadline = time.monotonic() + 10
        while 2 not in workers.started and time.monotonic() < deadline:
            time.sleep(0.001)
        assert workers.started.get(2) == 0
        assert 3 not in workers.started  # step 3 may not start before version 1 (bound 1)
        with pipeline.exclusive():
            workers.push(1)
        pipeline.pushed(1)
        assert pipeline.take(2) == {"step": 2, "version": 0}
        assert pipeline.take(3) == {"step": 3, "version": 1}
    finally:
        pipeline.close()


def test_a_producer_failure_reaches_the_learner():
    def produce(step):
        if step == 2:
            raise RuntimeError("rollout worker died for good")
        return step

    pipeline = RolloutPipeline(produce, 1, 3, max_staleness=1, version=0)
    assert pipeline.take(1) == 1
    with pytest.raises(RuntimeError, match="died for good"):
        pipeline.take(2)
    pipeline.close()


def test_close_stops_a_producer_waiting_for_weights():
    produced = []
    pipeline = RolloutPipeline(produced.append, 1, 10, max_staleness=1, version=0)
    time.sleep(0.05)
    assert produced == [1, 2]  # step 3 needs version 1, which never comes
    pipeline.close()
    assert produced == [1, 2]


def test_steps_are_taken_in_order_and_the_bound_is_validated():
    pipeline = RolloutPipeline(lambda s: s, 1, 3, max_staleness=0, version=0)
    with pytest.raises(ValueError, match="in order"):
        pipeline.take(2)
    with pytest.raises(ValueError, match="max_staleness"):
        RolloutPipeline(lambda s: s, 1, 3, max_staleness=-1, version=0)
