"""The reward actor pool: Ray actors that score completions with the strict binary reward (Eq. 3).

A batch is cut into contiguous chunks spread over the actors; rewards come back in input order.
An actor that dies is replaced (up to ``max_restarts`` times over the pool's life) and its
unfinished chunks are sent to the replacement, so every completion is scored and appears once.
Scoring is a pure function of the item, so a chunk retried after a death gives the same rewards.
"""

from __future__ import annotations

import math
import time
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from common.console import say
from common.faults import death_cause
from common.placement import COLOCATE_HINT, PlacementError, bundle, reserve, wait_placed
from reward.grammar import MAX_COMPLETION_CHARS
from reward.prompt import OutputFormat
from reward.score import Verdict, judge, score
from reward.trajectory import TrajectoryVerdict, judge_trajectory

REQUIRED_KEYS = ("text", "ground_truth", "functions")
GROUP_KEYS = ("texts", "ground_truth", "functions")
TRAJECTORY_GROUP_KEYS = ("task", "trajectories")
_NAME_RELEASE_TIMEOUT_S = 10.0


class RewardActor:
    """One scoring process: ``score_chunk(items) -> rewards``, ``judge_chunk(groups) -> verdicts``."""

    def __init__(self, fmt: OutputFormat = "python") -> None:
        self.fmt = fmt

    def score_chunk(self, items: list[dict[str, Any]]) -> list[float]:
        return [
            score(item["text"], item["ground_truth"], item["functions"], item.get("category"), self.fmt)
            for item in items
        ]

    def judge_chunk(self, groups: list[dict[str, Any]]) -> list[list[Verdict]]:
        return [
            [
                judge(text, group["ground_truth"], group["functions"], group.get("category"), self.fmt)
                for text in group["texts"]
            ]
            for group in groups
        ]

    def judge_trajectory_chunk(self, groups: list[dict[str, Any]]) -> list[list[TrajectoryVerdict]]:
        return [
            [judge_trajectory(group["task"], turns) for turns in group["trajectories"]] for group in groups
        ]

    def ping(self) -> bool:
        return True


class RewardPoolError(RuntimeError):
    """The pool cannot score: its actors kept dying past ``max_restarts``."""


class RewardPool:
    """``num_actors`` reward actors with ``cpus_per_actor`` CPUs each (fractions allowed).

    ``score(items)`` takes dicts with keys ``text``, ``ground_truth``, ``functions`` and optional
    ``category`` and returns one float per item, in order. ``judge_groups(groups)`` takes one dict
    per prompt, its completions under ``texts``, and returns their verdicts (reward and call syntax)
    group by group. ``chunk_size`` bounds the items (or groups) per remote call (default: the
    batch split evenly over the actors). Actors are named ``f"{name_prefix}-{i}"`` when
    ``name_prefix`` is given. Needs ``ray.init`` done by the caller.
    The actors hold one placement group, a bundle each (a replacement takes its predecessor's);
    with ``node_id`` every bundle is on that node, otherwise they spread over the cluster.
    Raises :class:`RewardPoolError` when the cluster cannot place the actors within ``start_timeout_s``.
    """

    def __init__(
        self,
        num_actors: int = 1,
        cpus_per_actor: float = 0.25,
        fmt: OutputFormat = "python",
        max_restarts: int = 3,
        name_prefix: str | None = None,
        chunk_size: int | None = None,
        start_timeout_s: float = 120.0,
        node_id: str | None = None,
    ) -> None:
        if num_actors < 1:
            raise ValueError(f"reward pool num_actors must be >= 1, got {num_actors}")
        if cpus_per_actor <= 0:
            raise ValueError(f"reward pool cpus_per_actor must be > 0, got {cpus_per_actor}")
        if max_restarts < 0:
            raise ValueError(f"reward pool max_restarts must be >= 0, got {max_restarts}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"reward pool chunk_size must be >= 1 or None, got {chunk_size}")
        if fmt not in ("python", "hermes"):
            raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")
        if not ray.is_initialized():
            raise RuntimeError("RewardPool needs a running Ray: call ray.init() first")
        self.fmt = fmt
        self.cpus_per_actor = cpus_per_actor
        self.max_restarts = max_restarts
        self.name_prefix = name_prefix
        self.chunk_size = chunk_size
        self.restarts = 0
        self.oversize = 0  # completions over MAX_COMPLETION_CHARS, scored 0 unparsed
        self._actor_class = ray.remote(RewardActor)
        self._actors: list[Any] = []
        self._pg = reserve([bundle(cpus_per_actor)] * num_actors, "PACK" if node_id else "SPREAD", node_id)
        try:
            hint = "; lower reward.cpus_per_actor or the other roles' CPUs, or add nodes"
            try:
                wait_placed(
                    self._pg,
                    "reward actors",
                    start_timeout_s,
                    hint + (COLOCATE_HINT if node_id else ""),
                    node_id,
                )
            except PlacementError as error:
                self._pg = None  # wait_placed removed it
                raise RewardPoolError(str(error)) from None
            for index in range(num_actors):
                self._actors.append(self._start_actor(index))
            ray.get([actor.ping.remote() for actor in self._actors])
        except BaseException:
            self.shutdown()  # no half-built pool left holding CPUs or names
            raise

    @property
    def size(self) -> int:
        """The number of actors."""
        return len(self._actors)

    def actor_name(self, index: int) -> str | None:
        """The Ray name of actor ``index`` (None without ``name_prefix``)."""
        return None if self.name_prefix is None else f"{self.name_prefix}-{index}"

    def score(self, items: list[dict[str, Any]]) -> list[float]:
        """Rewards for ``items`` in input order; a dead actor's chunks are retried on its replacement."""
        _validate(items, REQUIRED_KEYS, "reward item")
        self.oversize += _oversize(item["text"] for item in items)
        return self._run("score_chunk", items)

    def judge_groups(self, groups: list[dict[str, Any]]) -> list[list[Verdict]]:
        """The verdict of every completion, group by group in input order. Each group is one
        prompt's completions (``texts``) with its ``ground_truth``, ``functions`` and optional
        ``category``, which so cross to the actors once per group, not once per completion."""
        _validate(groups, GROUP_KEYS, "reward group")
        self.oversize += _oversize(text for group in groups for text in group["texts"])
        return self._run("judge_chunk", groups)

    def judge_trajectories(self, groups: list[dict[str, Any]]) -> list[list[TrajectoryVerdict]]:
        """The verdict of every multi-turn trajectory, group by group in input order. Each group is
        one task (``task``: a multi-turn sample with its environment name and initial state) and its
        trajectories (``trajectories``: per trajectory, the model's texts step by step per user
        turn); the actors replay each on a fresh environment (``reward.trajectory``)."""
        _validate(groups, TRAJECTORY_GROUP_KEYS, "trajectory group")
        return self._run("judge_trajectory_chunk", groups)

    def _run(self, method: str, units: list[Any]) -> list[Any]:
        """``method`` of the actors over ``units`` cut into chunks; results in input order, a dead
        actor's chunks retried on its replacement."""
        if not self._actors:
            raise RewardPoolError("the reward pool is shut down")
        results: list[Any] = [None] * len(units)
        pending: dict[ray.ObjectRef, tuple[int, int, int, Any]] = {}

        def submit(slot: int, start: int, stop: int) -> None:
            ref = getattr(self._actors[slot], method).remote(units[start:stop])
            pending[ref] = (start, stop, slot, self._actors[slot])

        for number, (start, stop) in enumerate(self._chunks(len(units))):
            submit(number % len(self._actors), start, stop)
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            start, stop, slot, actor = pending.pop(ready)
            try:
                chunk = ray.get(ready)
            except RayActorError as error:
                if self._actors[slot] is actor:
                    self._replace(slot, error)
                submit(slot, start, stop)
                continue
            if len(chunk) != stop - start:
                raise RewardPoolError(
                    f"reward actor {slot} returned {len(chunk)} results for {stop - start} inputs"
                )
            results[start:stop] = chunk
        assert all(r is not None for r in results), "every input is scored"
        return results

    def shutdown(self) -> None:
        """Kill every actor; the pool cannot score afterwards."""
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
        if self._pg is not None:
            ray.util.remove_placement_group(self._pg)
            self._pg = None

    def _chunks(self, count: int) -> list[tuple[int, int]]:
        size = self.chunk_size or max(1, math.ceil(count / len(self._actors)))
        return [(start, min(start + size, count)) for start in range(0, count, size)]

    def _start_actor(self, index: int, replacing: bool = False) -> Any:
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_actor,
            "max_restarts": 0,
            "max_task_retries": 0,
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                self._pg, placement_group_bundle_index=index
            ),
        }
        name = self.actor_name(index)
        if name is None:
            return self._actor_class.options(**options).remote(self.fmt)
        deadline = time.monotonic() + (_NAME_RELEASE_TIMEOUT_S if replacing else 0.0)
        while True:  # a dead actor's name is released by Ray shortly after its death
            try:
                return self._actor_class.options(name=name, **options).remote(self.fmt)
            except ValueError as error:
                if time.monotonic() > deadline:
                    raise ValueError(f"reward actor name {name!r} is taken: {error}") from error
                time.sleep(0.1)

    def metrics(self) -> dict[str, int]:
        """Per-step pool metrics: actors now, replacements so far, and the completions so far that
        were over ``MAX_COMPLETION_CHARS`` (scored 0 unparsed)."""
        return {
            "pool/reward_actors": self.size,
            "pool/reward_restarts": self.restarts,
            "reward/oversize_total": self.oversize,
        }

    def _replace(self, slot: int, error: Exception) -> None:
        name = self.actor_name(slot) or f"{slot}"
        cause = death_cause(error)
        if self.restarts >= self.max_restarts:
            raise RewardPoolError(
                f"reward actor {name} died ({cause}) and the pool already replaced {self.restarts} actors "
                f"(reward pool max_restarts={self.max_restarts}); see the Ray logs for the cause"
            )
        self.restarts += 1
        say(
            f"Reward pool: reward actor {name} died ({cause}); its unscored chunks go to a replacement "
            f"(restart {self.restarts}/{self.max_restarts})"
        )
        ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._start_actor(slot, replacing=True)


def _oversize(texts) -> int:
    return sum(isinstance(text, str) and len(text) > MAX_COMPLETION_CHARS for text in texts)


def _validate(units: list[dict[str, Any]], keys: tuple[str, ...], what: str) -> None:
    for index, unit in enumerate(units):
        if not isinstance(unit, dict):
            raise ValueError(f"{what} {index} must be a dict, got {type(unit).__name__}")
        missing = [key for key in keys if key not in unit]
        if missing:
            raise ValueError(f"{what} {index} lacks key(s) {missing}; expected {list(keys)} (+ 'category')")
