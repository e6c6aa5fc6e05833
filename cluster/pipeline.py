"""Rollouts ahead of the learner: the asynchronous mode (``algorithm.max_staleness``).

The learner trains step ``s`` with policy version ``s - 1`` (the weights after ``s - 1`` updates).
With ``max_staleness = k`` the rollouts of step ``s`` may be sampled by any version
``>= s - 1 - k``: a producer thread generates and scores them as soon as the rollout workers hold
such a version, while the learner trains on earlier steps. ``k = 0`` is the synchronous loop
(rollouts of step ``s`` wait for the weights of step ``s - 1``) and runs inline, with no thread.

The rollout workers do one thing at a time: generating a batch, taking new weights or
evaluating. :meth:`RolloutPipeline.exclusive` gives the caller the workers between batches.

    pipeline = RolloutPipeline(produce, first_step=1, last_step=T, max_staleness=1, version=0)
    for step in range(1, T + 1):
        batch = pipeline.take(step)          # waits only if the producer is behind
        ... train on batch ...
        with pipeline.exclusive():
            push weights as version ``step``
        pipeline.pushed(step)
    pipeline.close()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Produce = Callable[[int], Any]


class RolloutPipeline:
    """Produces ``produce(step)`` for ``first_step..last_step`` in order, at most ``max_staleness``
    policy versions ahead of the learner. ``version`` is the policy version the workers hold now."""

    def __init__(self, produce: Produce, first_step: int, last_step: int, max_staleness: int, version: int):
        if max_staleness < 0:
            raise ValueError(f"max_staleness must be >= 0, got {max_staleness}")
        self.produce = produce
        self.max_staleness = max_staleness
        self.version = version
        self._next = first_step
        self._last = last_step
        self._ready: dict[int, Any] = {}
        self._error: BaseException | None = None
        self._closed = False
        self._workers = threading.Lock()  # held while the rollout workers are busy
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        if max_staleness > 0 and first_step <= last_step:
            self._thread = threading.Thread(target=self._run, name="rollout-ahead", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ the learner's side
    def take(self, step: int) -> Any:
        """The rollouts of ``step`` (steps are taken in order); re-raises a producer failure."""
        if self._thread is None:
            if step != self._next:
                raise ValueError(f"steps are taken in order: expected {self._next}, got {step}")
            self._next += 1
            with self._workers:
                return self.produce(step)
        with self._changed:
            while step not in self._ready and self._error is None:
                self._changed.wait()
            if step in self._ready:
                return self._ready.pop(step)
            raise self._error

    def pushed(self, version: int) -> None:
        """The rollout workers now hold policy ``version``: later batches may start."""
        with self._changed:
            self.version = version
            self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The rollout workers to the caller alone (a weight push, an evaluation), between batches."""
        with self._workers:
            yield

    def close(self, wait: bool = True) -> None:
        """Stop producing. A batch in progress is dropped when it finishes; ``wait`` waits for that
        (an interrupted run does not: the thread is a daemon)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None and wait:
            self._thread.join()
            self._thread = None

    # ------------------------------------------------------------------ the producer thread
    def may_start(self, step: int) -> bool:
        """Whether the rollouts of ``step`` may be sampled with the version the workers hold now."""
        return self.version >= step - 1 - self.max_staleness

    def _run(self) -> None:
        try:
            for step in range(self._next, self._last + 1):
                with self._changed:
                    while not self._closed and not self.may_start(step):
                        self._changed.wait()
                    if self._closed:
                        return
                with self._workers:
                    result = self.produce(step)
                with self._changed:
                    self._ready[step] = result
                    self._changed.notify_all()
        except BaseException as error:  # noqa: BLE001 - handed to the learner's side, re-raised there
            with self._changed:
                self._error = error
                self._changed.notify_all()
