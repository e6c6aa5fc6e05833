"""The learner group: one or more DeepSpeed learner actors (data-parallel ranks) behind one API.

Each rank receives whole groups of the step's rollouts (the advantage of Eq. 1 needs the group);
the learners average gradients among themselves, so the driver sees one model.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from cluster.config import RunConfig
from cluster.roles.ray_setup import actor_options
from common.placement import bundle, node_of, reserve, shared_threads, wait_placed
from common.types import RolloutBatch
from common.weight_group import find_free_port
from learner.settings import LearnerSettings

# Learner settings that are not a field of the same name in learner.* (``lora_x``: learner.lora.x)
# or algorithm.*.
ELSEWHERE = {"total_steps": ("train", "steps"), "seed": ("train", "seed"), "dtype": ("model", "dtype")}


def learner_settings(cfg: RunConfig) -> dict[str, Any]:
    """The learner's keyword settings, each :class:`LearnerSettings` field looked up by its name."""
    out = {}
    for name in (f.name for f in fields(LearnerSettings)):
        if name in ELSEWHERE:
            section, field_name = ELSEWHERE[name]
            out[name] = getattr(getattr(cfg, section), field_name)
        elif name.startswith("lora_"):
            out[name] = getattr(cfg.learner.lora, name.removeprefix("lora_"))
        else:
            (section,) = [s for s in (cfg.learner, cfg.algorithm) if name in type(s).model_fields]
            out[name] = getattr(section, name)
    if not isinstance(out["lora_target_modules"], str):
        out["lora_target_modules"] = tuple(out["lora_target_modules"])
    return out


class LearnerGroup:
    """``num_learners`` Learner actors named ``learner-<rank>`` sharing one process group.

    The ranks sit in one ``STRICT_PACK`` placement group (their process group meets on 127.0.0.1);
    ``node_id`` is the node they landed on, where ``cluster.colocate`` puts the other roles.
    """

    def __init__(
        self,
        model_dir: str,
        cfg: RunConfig,
        name_prefix: str = "learner",
        cpus: float | None = None,
        wait: bool = True,
        **overrides: Any,
    ):
        """``cpus`` overrides learner.cpus_per_learner (the warm start, which runs alone, takes more).
        ``wait=False`` returns once the ranks are placed, while they still load the model: the caller
        starts other roles meanwhile and calls ``wait_ready`` before the first use."""
        from learner.actor import Learner

        settings = {**learner_settings(cfg), **overrides}
        lrn = cfg.learner
        world = lrn.num_learners
        warm_start = cpus is not None  # runs alone: its threads follow its own CPUs
        threads = None if warm_start else lrn.threads
        cpus = lrn.cpus_per_learner if cpus is None else cpus
        self.pg = reserve([bundle(cpus, lrn.gpus_per_learner)] * world, "STRICT_PACK")
        wait_placed(self.pg, f"{world} learner rank(s) on one node", cfg.cluster.placement_timeout_s)
        self.node_id = node_of(self.pg)
        if threads is None and not warm_start and cfg.cluster.mode == "colocated":
            threads = shared_threads(self.node_id, world)  # training takes every core in its turn
        self.threads = threads
        port = find_free_port()
        self.learners = [
            Learner.options(
                **actor_options(f"{name_prefix}-{rank}", cpus, lrn.gpus_per_learner, threads),
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    self.pg, placement_group_bundle_index=rank
                ),
            ).remote(
                str(model_dir),
                rank=rank,
                world_size=world,
                master_addr="127.0.0.1",
                master_port=port,
                **settings,
            )
            for rank in range(world)
        ]
        self._ready = [learner.ping.remote() for learner in self.learners]
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until every rank has loaded its model (raises a rank's start-up error)."""
        if self._ready:
            ray.get(self._ready)
            self._ready = []

    @property
    def world_size(self) -> int:
        return len(self.learners)

    def train_step(self, batch: RolloutBatch) -> dict[str, Any]:
        """One EGPO update, each rank on its whole groups (:meth:`RolloutBatch.shard`); every rank
        all-reduces its sums, so rank 0's metrics cover the batch."""
        shards = batch.shard(self.world_size)
        return ray.get([lr.train_step.remote(s) for lr, s in zip(self.learners, shards, strict=True)])[0]

    def sft_step(self, batch: dict[str, Any]) -> dict[str, Any]:
        world = self.world_size
        n = len(batch["prompt_ids"]) // world
        shards = [
            {k: (v[r * n : (r + 1) * n] if isinstance(v, list) else v) for k, v in batch.items()}
            for r in range(world)
        ]
        return ray.get([lr.sft_step.remote(s) for lr, s in zip(self.learners, shards, strict=True)])[0]

    def save_checkpoint(self, path: str) -> None:
        ray.get([lr.save_checkpoint.remote(path) for lr in self.learners])

    def load_checkpoint(self, path: str) -> None:
        ray.get([lr.load_checkpoint.remote(path) for lr in self.learners])

    def shutdown(self) -> None:
        for learner in self.learners:
            ray.kill(learner)
        self.learners = []
        if self.pg is not None:
            ray.util.remove_placement_group(self.pg)
            self.pg = None
