"""The elastic rollout pool: rollout workers (one vLLM engine each) behind one ``generate`` call.

A step's prompts are cut into chunks and put in a queue; each ready worker takes one chunk at a
time, and the groups come back in request order. The pool's size follows a target that can change
while the run goes on (``launch.py scale``, through :mod:`cluster.roles.scale`'s control actor, or
autoscaling to the cluster's free resources); it is reconciled at every step boundary and between
chunks. The rules:

- A new worker is placed first (a placement group with a timeout: if the cluster cannot place it,
  the pool says so and runs on with the workers it has; the request stays pending and the worker
  joins when resources appear). Then it loads the current weights (the policy ``version``) and
  only then takes work; at a step boundary the pool waits for the workers it is starting.
- A worker being removed takes no new chunk; one with a chunk in flight finishes it first.
- A worker that dies (killed process, ``ray.kill``, node gone) has its chunk put back in the queue
  for the others, and is replaced, up to ``rollout.max_restarts`` replacements over the run; past
  that the pool raises :class:`RolloutPoolError`. Every prompt is generated exactly once into the
  batch, so a step always returns one group per prompt.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from cluster.config import ModelConfig, RolloutConfig
from cluster.roles.ray_setup import actor_options
from common.console import say
from common.faults import death_cause
from common.placement import COLOCATE_HINT, available, bundle, reserve, room

_CONTROL_POLL_S = 0.5  # how often the pool reads the target between chunks
_WAIT_SLICE_S = 1.0  # longest single wait, so a scale request is seen while chunks run


class RolloutPoolError(RuntimeError):
    """The pool cannot generate: its workers kept dying past the restart budget, or none can run."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one ``generate`` call."""

    group_size: int
    temperature: float
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    logprobs: bool = True  # each sampled token's log-prob (False: the completions carry none)

    @classmethod
    def from_config(cls, cfg: RolloutConfig, seed: int | None, logprobs: bool = True) -> Sampling:
        return cls(cfg.group_size, cfg.temperature, cfg.top_p, cfg.max_new_tokens, seed, logprobs)


@dataclass(eq=False)
class _Slot:
    """One worker's place in the pool and what it is doing.

    ``state``: "placing" (waiting for resources), "starting" (engine start and weight load),
    "ready" (takes chunks) or "draining" (being removed: finishes its chunk, takes no more).
    """

    name: str
    pg: Any
    state: str = "placing"
    actor: Any = None
    ref: Any = None  # the call in flight: placement, start/weight load, or a chunk
    chunk: int | None = None
    chunk_version: int = -1  # the pool's version when the chunk was handed out
    version: int = -1  # the policy version the worker has (or is loading)
    deadline: float = math.inf  # placement deadline; inf once it passed and was reported


@dataclass
class _Work:
    """The chunks of one ``generate`` call."""

    prompts: list[list[int]]
    sampling: Sampling
    bounds: list[tuple[int, int]]
    queue: deque = field(default_factory=deque)
    results: dict[int, list] = field(default_factory=dict)
    redispatched: int = 0
    stale: int = 0  # completions sampled with another version than the pool's at hand-out


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges of at most ``chunk`` prompts covering range(n)."""
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


class RolloutPool:
    """RolloutWorker actors named ``<name_prefix>-<i>`` (i counts up; a replacement gets a new i).

    ``workers`` are the ready workers' actor handles, ``size`` their number, ``version`` the policy
    version they all hold, ``target`` the size the pool is moving to. With ``run_name`` the pool
    starts the run's control actor, so that ``launch.py scale --run <run_name>`` can reach it.
    ``weight_source`` (set by :class:`cluster.roles.weight_sync.WeightSync`) returns object refs of the
    learner's current flat buffers and index, for newcomers; without one, newcomers get the
    buffers of the last :meth:`update_weights`, or the model directory's weights at version 0.
    With ``node_id`` every worker is placed on that node (``cluster.colocate``: the learner's).
    """

    def __init__(
        self,
        model_dir: str,
        model: ModelConfig,
        rollout: RolloutConfig,
        name_prefix: str = "rollout",
        run_name: str | None = None,
        node_id: str | None = None,
        kv_cache_bytes: int | None = None,
        take_turns: bool = False,
    ):
        from actors.rollout import RolloutWorker

        self.cfg = rollout
        self.name_prefix = name_prefix
        self.model_dir = str(model_dir)
        self.node_id = node_id
        self.version = 0
        self.target = rollout.num_workers
        self.restarts = 0
        self.weight_source: Callable[[], tuple[Any, Any]] | None = None
        self._worker_class = RolloutWorker
        self._engine_kwargs = dict(
            dtype=model.dtype,
            max_model_len=model.max_model_len,
            gpu_memory_utilization=rollout.gpu_memory_utilization,
            tensor_parallel_size=rollout.tensor_parallel_size,
            enable_prefix_caching=rollout.enable_prefix_caching,
            seed=rollout.seed,
            kv_cache_memory_bytes=kv_cache_bytes,
            enable_sleep_mode=take_turns,
        )
        # GPU workers free their device while the learner trains; CPU ones have nothing to give back
        self.take_turns = take_turns and rollout.gpus_per_worker > 0
        self._slots: list[_Slot] = []
        self._next_index = 0
        self._weights: tuple[Any, Any, int] | None = None  # (buffers ref, index, version)
        self._work: _Work | None = None
        self._ever_ready = False
        self._last_poll = 0.0
        self.note = ""
        self.last_step: dict[str, float] = {}
        self.control = None
        if run_name:
            from cluster.roles.scale import start_control

            self.control = start_control(
                run_name, self.target, rollout.min_workers, rollout.max_workers, rollout.autoscale
            )
        try:
            self._reconcile(boundary=True)
            self._settle()
            if not self.workers:
                raise RolloutPoolError(
                    f"no rollout worker could be placed within rollout.placement_timeout_s="
                    f"{rollout.placement_timeout_s} s: each needs {self._bundle()} and "
                    f"{room(node_id)}; lower rollout.cpus_per_worker/gpus_per_worker or add nodes"
                    + (COLOCATE_HINT if node_id else "")
                )
        except BaseException:
            self.shutdown()  # no half-built pool left holding resources or names
            raise

    # ------------------------------------------------------------------ public
    @property
    def workers(self) -> list:
        """The ready workers (actor handles), in the order they joined."""
        return [s.actor for s in self._slots if s.state == "ready"]

    @property
    def size(self) -> int:
        return len(self.workers)

    def worker_names(self) -> list[str]:
        return [s.name for s in self._slots if s.state == "ready"]

    def set_target(self, workers: int) -> None:
        """Ask for ``workers`` workers (what ``launch.py scale`` does through the control actor)."""
        if workers < 1:
            raise ValueError(f"rollout pool target must be >= 1, got {workers}")
        if self.control is not None:
            ray.get(self.control.set_target.remote(workers), timeout=30)
        self.target = workers

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[list[dict[str, Any]]]:
        """G completions per prompt (request order), chunks spread over the workers. Each completion
        also names the ``worker`` that generated it."""
        if not prompts:
            raise ValueError("generate: prompts must be a non-empty list")
        self._reconcile(boundary=True)
        self._settle()
        chunk = self.cfg.chunk_prompts or math.ceil(len(prompts) / max(1, self.size))
        bounds = chunk_bounds(len(prompts), chunk)
        self._work = work = _Work(prompts, sampling, bounds, deque(range(len(bounds))))
        try:
            while len(work.results) < len(bounds):
                self._dispatch()
                self._check_can_progress()
                self._pump()
                self._reconcile(boundary=False)
        finally:
            self._work = None
            for slot in self._slots:  # after an error: results of abandoned chunks are dropped
                if slot.chunk is not None:
                    slot.chunk, slot.ref = None, None
        self.last_step = {
            "pool/rollout_workers": self.size,
            "pool/target_workers": self.target,
            "pool/redispatched_chunks": work.redispatched,
            "pool/stale_completions": work.stale,
            "pool/worker_restarts": self.restarts,
        }
        self._report()
        return [group for i in range(len(bounds)) for group in work.results[i]]

    def update_weights(
        self, buffers: list | ray.ObjectRef, index: list | ray.ObjectRef, version: int
    ) -> None:
        """Send one set of flat buffers to every worker (one object-store put, shared; or refs a
        learner already put there); kept for workers that join later."""
        buffers_ref = buffers if isinstance(buffers, ray.ObjectRef) else ray.put(buffers)
        self._weights = (buffers_ref, index, version)
        self.version = version
        ready = [s for s in self._slots if s.state == "ready"]
        refs = [s.actor.update_weights.remote(buffers_ref, index, version) for s in ready]
        for slot, ref in zip(ready, refs, strict=True):
            try:
                ray.get(ref)
                slot.version = version
            except RayActorError as error:  # its replacement loads these weights before work
                self._on_death(slot, error)

    def sleep(self) -> dict[str, float]:
        """``cluster.mode=colocated`` on GPUs: every ready worker frees its device for the learner's
        turn. Returns ``time/rollout_sleep`` (the slowest worker's seconds) and
        ``memory/rollout_freed_gib`` (all workers'); nothing when the pool does not take turns."""
        results = self._turn("sleep")
        if not results:
            return {}
        return {
            "time/rollout_sleep": max(r["seconds"] for r in results),
            "memory/rollout_freed_gib": sum(r["freed_gib"] for r in results),
        }

    def wake_up(self) -> dict[str, float]:
        """After the learner's turn: every ready worker takes its device back (``time/rollout_wake``)."""
        results = self._turn("wake_up")
        return {"time/rollout_wake": max(r["seconds"] for r in results)} if results else {}

    def _turn(self, method: str) -> list[dict[str, float]]:
        if not self.take_turns:
            return []
        ready = [s for s in self._slots if s.state == "ready"]
        refs = [getattr(s.actor, method).remote() for s in ready]
        results = []
        for slot, ref in zip(ready, refs, strict=True):
            try:
                results.append(ray.get(ref))
            except RayActorError as error:  # its replacement starts awake
                self._on_death(slot, error)
        return results

    def prune_dead(self, timeout_s: float = 30.0) -> int:
        """Ping the ready workers; dead ones are replaced (restart budget). Returns how many died."""
        ready = [s for s in self._slots if s.state == "ready"]
        refs = [s.actor.ping.remote() for s in ready]
        dead = 0
        for slot, ref in zip(ready, refs, strict=True):
            try:
                ray.get(ref, timeout=timeout_s)
            except (RayActorError, GetTimeoutError) as error:
                self._on_death(slot, error)
                dead += 1
        return dead

    def metrics(self) -> dict[str, float]:
        """``pool/*`` metrics of the last ``generate`` call."""
        return dict(self.last_step)

    def shutdown(self) -> None:
        for slot in list(self._slots):
            self._remove(slot)
        if self.control is not None:
            ray.kill(self.control, no_restart=True)
            self.control = None

    # ------------------------------------------------------------------ reconciling the size
    def _reconcile(self, boundary: bool) -> None:
        """Move towards the target: start workers (placement first) or retire the extra ones."""
        self._read_target(force=boundary)
        if boundary and self.cfg.autoscale:
            self._autoscale()
        live = [s for s in self._slots if s.state != "draining"]
        for _ in range(self.target - len(live)):
            self._add_slot()
        if len(live) > self.target:
            self._retire(len(live) - self.target)
        if boundary:
            self._report()

    def _read_target(self, force: bool) -> None:
        if self.control is None or (not force and time.monotonic() - self._last_poll < _CONTROL_POLL_S):
            return
        self._last_poll = time.monotonic()
        try:
            self.target = int(ray.get(self.control.get_target.remote(), timeout=5))
        except (RayActorError, GetTimeoutError) as error:
            self._say(
                f"the run's control actor does not answer ({type(error).__name__}); keeping target {self.target}"
            )

    def _autoscale(self) -> None:
        """Target = the workers we have plus what the free resources can place, within the bounds
        (with ``node_id``, the free resources of that node: pinned workers cannot use the rest)."""
        free = available(self.node_id)
        fits = [free.get("CPU", 0.0) / self.cfg.cpus_per_worker]
        if self.cfg.gpus_per_worker:
            fits.append(free.get("GPU", 0.0) / self.cfg.gpus_per_worker)
        have = sum(1 for s in self._slots if s.state in ("starting", "ready"))
        ceiling = self.cfg.max_workers or math.inf
        self.target = int(min(max(have + int(min(fits) + 1e-9), self.cfg.min_workers), ceiling))

    def _add_slot(self) -> None:
        name = f"{self.name_prefix}-{self._next_index}"
        self._next_index += 1
        pg = reserve([self._bundle()], node_id=self.node_id)
        deadline = time.monotonic() + self.cfg.placement_timeout_s
        self._slots.append(_Slot(name=name, pg=pg, ref=pg.ready(), deadline=deadline))

    def _bundle(self) -> dict[str, float]:
        return bundle(self.cfg.cpus_per_worker, self.cfg.gpus_per_worker)

    def _retire(self, count: int) -> None:
        """Retire ``count`` workers: unplaced ones first, then starting, idle, and busy ones last
        (a busy one drains: it finishes its chunk and goes)."""
        order = {"placing": 0, "starting": 1, "ready": 2}
        candidates = sorted(
            (s for s in self._slots if s.state != "draining"),
            key=lambda s: (order[s.state], s.chunk is not None, -self._slots.index(s)),
        )
        for slot in candidates[:count]:
            if slot.chunk is None:
                self._remove(slot)
            else:
                slot.state = "draining"

    def _remove(self, slot: _Slot) -> None:
        if slot.actor is not None:
            ray.kill(slot.actor, no_restart=True)
        remove_placement_group(slot.pg)
        self._slots.remove(slot)

    def _settle(self) -> None:
        """Step boundary: wait until every new worker is ready, or its placement timed out."""
        while any(
            s.state == "starting" or (s.state == "placing" and s.deadline < math.inf) for s in self._slots
        ):
            self._pump()

    # ------------------------------------------------------------------ events
    def _pump(self) -> None:
        """Wait for the next event (a placement, a started worker, a chunk) and handle it."""
        by_ref = {s.ref: s for s in self._slots if s.ref is not None}
        now = time.monotonic()
        deadlines = [s.deadline - now for s in self._slots if s.state == "placing"]
        timeout = max(0.0, min([_WAIT_SLICE_S, *deadlines]))
        if by_ref:
            done, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        else:
            time.sleep(timeout)
            done = []
        for ref in done:
            self._handle(by_ref[ref], ref)
        self._placement_timeouts()

    def _handle(self, slot: _Slot, ref) -> None:
        slot.ref = None
        if slot.state == "placing":
            self._start_worker(slot)
            return
        try:
            result = ray.get(ref)
        except RayActorError as error:
            self._on_death(slot, error)
            return
        if slot.chunk is not None:
            self._chunk_done(slot, result)
        elif slot.state == "starting":
            self._worker_started(slot)

    def _start_worker(self, slot: _Slot) -> None:
        strategy = PlacementGroupSchedulingStrategy(slot.pg, placement_group_bundle_index=0)
        options = actor_options(
            slot.name, self.cfg.cpus_per_worker, self.cfg.gpus_per_worker, threads=self.cfg.threads
        )
        slot.actor = self._worker_class.options(
            **options, scheduling_strategy=strategy, max_restarts=0, max_task_retries=0
        ).remote(self.model_dir, **self._engine_kwargs)
        slot.state = "starting"
        slot.deadline = math.inf
        self._load_current_weights(slot)

    def _load_current_weights(self, slot: _Slot) -> None:
        """Give ``slot`` the pool's current weights; its ``ref`` completes when it has them."""
        slot.version = self.version
        if self._weights is not None and self._weights[2] == self.version:
            buffers_ref, index, _ = self._weights
            slot.ref = slot.actor.update_weights.remote(buffers_ref, index, self.version)
        elif self.version == 0 and self._weights is None:
            slot.ref = slot.actor.ping.remote()  # the model directory's weights are version 0
        elif self.weight_source is not None:
            buffers_ref, index_ref = self.weight_source()
            slot.ref = slot.actor.update_weights.remote(buffers_ref, index_ref, self.version)
        else:
            raise RolloutPoolError(
                f"rollout worker {slot.name} cannot get policy version {self.version}: the pool has "
                "neither its buffers nor a weight source"
            )

    def _worker_started(self, slot: _Slot) -> None:
        if slot.version != self.version:  # new weights came out while it loaded: load those
            self._load_current_weights(slot)
            return
        slot.state = "ready"
        self._ever_ready = True
        if self._work is not None:
            self._say(f"rollout worker {slot.name} joined (policy version {self.version})")

    def _placement_timeouts(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.state == "placing" and slot.deadline <= now:
                slot.deadline = math.inf  # report once; the request stays pending
                self._say(
                    f"the cluster cannot place rollout worker {slot.name} (needs {self._bundle()}; "
                    f"{room(self.node_id)}) within {self.cfg.placement_timeout_s} s: running with "
                    f"{self.size} worker(s); it joins if resources appear"
                )

    # ------------------------------------------------------------------ chunks
    def _dispatch(self) -> None:
        work = self._work
        for slot in self._slots:
            if not work.queue:
                return
            if slot.state == "ready" and slot.chunk is None:
                self._submit(slot, work.queue.popleft())

    def _submit(self, slot: _Slot, number: int) -> None:
        work = self._work
        start, end = work.bounds[number]
        s = work.sampling
        slot.chunk = number
        slot.chunk_version = self.version
        slot.ref = slot.actor.generate.remote(
            work.prompts[start:end],
            s.group_size,
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=s.max_new_tokens,
            seed=s.seed,
            first_index=start,  # seeds follow the prompt's place in the step, not the chunking
            logprobs=s.logprobs,
        )

    def _chunk_done(self, slot: _Slot, groups: list) -> None:
        work = self._work
        start, end = work.bounds[slot.chunk]
        if len(groups) != end - start:
            raise RolloutPoolError(
                f"rollout worker {slot.name} returned {len(groups)} groups for {end - start} prompts"
            )
        for group in groups:
            for completion in group:
                completion["worker"] = slot.name
                work.stale += completion["policy_version"] != slot.chunk_version
        work.results[slot.chunk] = groups
        slot.chunk = None
        if slot.state == "draining":
            self._remove(slot)

    def _on_death(self, slot: _Slot, error: Exception) -> None:
        """A worker died: its chunk goes back to the queue; it is replaced within the budget."""
        if slot.chunk is not None and self._work is not None:
            self._work.queue.appendleft(slot.chunk)
            self._work.redispatched += 1
        retiring = slot.state == "draining"
        self._remove(slot)
        cause = death_cause(error)
        if not self._ever_ready:
            raise RolloutPoolError(f"rollout worker {slot.name} failed to start: {error}") from error
        if retiring:
            return
        if self.restarts >= self.cfg.max_restarts:
            raise RolloutPoolError(
                f"rollout worker {slot.name} died ({cause}) and the pool already replaced "
                f"{self.restarts} workers (rollout.max_restarts={self.cfg.max_restarts}); see the Ray "
                "logs for the cause, or raise rollout.max_restarts"
            ) from error
        self.restarts += 1
        self._say(
            f"rollout worker {slot.name} died ({cause}); its prompts go to the other workers and a "
            f"replacement starts (restart {self.restarts}/{self.cfg.max_restarts})"
        )
        self._reconcile(boundary=False)

    def _check_can_progress(self) -> None:
        busy = any(s.ref is not None and s.state in ("ready", "draining", "starting") for s in self._slots)
        hopeful = any(s.state == "placing" and s.deadline < math.inf for s in self._slots)
        if not busy and not hopeful and not any(s.state == "ready" for s in self._slots):
            raise RolloutPoolError(
                f"no rollout worker can take the step's prompts: none is running and the cluster cannot "
                f"place one (needs {self._bundle()}; {room(self.node_id)})"
            )

    # ------------------------------------------------------------------ reporting
    def _say(self, message: str) -> None:
        self.note = message
        say(f"Rollout pool: {message}")
        self._report()

    def _report(self) -> None:
        if self.control is None:
            return
        counts = {state: sum(1 for s in self._slots if s.state == state) for state in ("placing", "starting")}
        report = {
            "workers": self.size,
            "target": self.target,
            "version": self.version,
            "restarts": self.restarts,
            "note": self.note,
            **counts,
        }
        self.control.pool_report.remote(report)
