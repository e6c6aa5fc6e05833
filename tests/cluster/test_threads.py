"""Actors get the compute threads their role asks for (learner.threads, rollout.threads)."""

from __future__ import annotations

from cluster.config import load_config
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
