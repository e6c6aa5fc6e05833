"""Actors get the compute threads their role asks for (learner.threads, rollout.threads)."""

from __future__ import annotations

import pytest

from cluster.config import ConfigError, load_config
from cluster.roles.ray_setup import actor_options


def test_an_actor_gets_the_threads_asked_for_else_rays_choice(ray_cluster):
    @ray_cluster.remote
    class Probe:
        def threads(self):
            import os

            import torch

            return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()

    asked = Probe.options(**actor_options("probe-threads-2", 0.25, threads=2)).remote()
    default = Probe.options(**actor_options("probe-threads-default", 0.25)).remote()
    try:
        assert ray_cluster.get(asked.threads.remote()) == ("2", 2)
        assert ray_cluster.get(default.threads.remote()) == ("1", 1)  # Ray: floor of the CPUs, at least 1
    finally:
        for actor in (asked, default):
            ray_cluster.kill(actor)


def test_the_tiny_preset_lets_each_phase_use_both_cores_in_synchronous_mode():
    cfg = load_config("tiny", [])
    assert cfg.algorithm.max_staleness == 0
    assert cfg.rollout.threads == cfg.learner.threads == cfg.cluster.num_cpus == 2


def test_colocated_mode_shares_the_learners_node_cores_among_the_roles_in_turn(ray_cluster):
    from common.placement import node_cpus, shared_threads

    node = ray_cluster.get_runtime_context().get_node_id()
    assert node_cpus(node) == 2  # the test cluster's
    assert [shared_threads(node, n) for n in (1, 2, 3)] == [2, 1, 1]


def test_colocated_mode_is_synchronous_on_the_learners_node_and_shares_each_gpu():
    with pytest.raises(ConfigError) as info:
        load_config(
            "tiny",
            [
                "cluster.mode=colocated",
                "algorithm.max_staleness=1",
                "cluster.colocate=false",
                "learner.gpus_per_learner=1",
                "rollout.gpus_per_worker=0.5",
            ],
        )
    message = str(info.value)
    for named in ("algorithm.max_staleness=1", "cluster.colocate=False", "rollout.gpus_per_worker=0.5"):
        assert named in message, message
    shared = load_config(
        "tiny", ["cluster.mode=colocated", "learner.gpus_per_learner=0.5", "rollout.gpus_per_worker=0.5"]
    )
    assert shared.cluster.mode == "colocated"
