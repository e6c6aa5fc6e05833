"""Placement of the roles on a two-node Ray cluster (``ray.cluster_utils.Cluster``, both nodes on
this machine): the learner ranks on one node, ``cluster.colocate`` pinning the reward actors and
rollout workers to it, and clear errors when the pinned node has no room.

The cluster is started in a subprocess, so the session's one-node cluster stays as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.support.runs import REPO_ROOT

SCENARIO = textwrap.dedent(
    """
    import json, sys, time
    import ray
    from ray.cluster_utils import Cluster

    from cluster.config import load_config
    from cluster.roles.learner_group import LearnerGroup
    from cluster.roles.rollout_pool import RolloutPool, RolloutPoolError
    from cluster.models.tiny import build_tiny_model
    from common.placement import free_resources
    from reward import score
    from reward.pool import RewardPool, RewardPoolError

    def node(actor):
        return ray.get(actor.__ray_call__.remote(lambda _self: ray.get_runtime_context().get_node_id()))

    def wait_free(node_id, cpus):
        deadline = time.monotonic() + 30
        while free_resources(node_id)["CPU"] != cpus and time.monotonic() < deadline:
            time.sleep(0.2)

    out = {}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=3)
    ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": sys.argv[2]}})
    head = ray.get_runtime_context().get_node_id()
    other = [n["NodeID"] for n in ray.nodes() if n["NodeID"] != head][0]
    try:
        model_dir = build_tiny_model(sys.argv[1])
        cfg = load_config("tiny", ["learner.num_learners=2", "learner.cpus_per_learner=1",
                                   "learner.micro_batch_size=4", "train.prompts_per_step=2", "cluster.num_cpus=4"])
        learners = LearnerGroup(str(model_dir), cfg)
        out["learner_node_is_other"] = learners.node_id == other  # only it has room for both ranks
        out["rank_nodes_are_learner_node"] = [node(a) == learners.node_id for a in learners.learners]

        pinned = RewardPool(num_actors=2, cpus_per_actor=0.25, node_id=learners.node_id)
        out["pinned_reward_nodes"] = [node(a) == learners.node_id for a in pinned._actors]
        items = [{"text": "<think>no tool fits</think>I cannot help with that.", "ground_truth": [],
                  "functions": [], "category": "irrelevance"}]
        out["pinned_reward_scores_as_local"] = pinned.score(items) == [score(**items[0])]
        pinned.shutdown()
        wait_free(learners.node_id, 1.0)  # removals are asynchronous

        # autoscale under colocate sizes the pool from the learner's node (1 CPU free), not from the
        # cluster (2 free): two 0.5-CPU workers, both there, none left waiting for room
        grow = cfg.rollout.model_copy(update={"cpus_per_worker": 0.5, "autoscale": True, "min_workers": 1,
                                             "max_workers": 4, "placement_timeout_s": 120})
        pool = RolloutPool(str(model_dir), cfg.model, grow, node_id=learners.node_id)
        out["autoscale_target"] = pool.target
        out["autoscale_nodes"] = [node(a) == learners.node_id for a in pool.workers]
        pool.shutdown()
        wait_free(learners.node_id, 1.0)

        spread = RewardPool(num_actors=2, cpus_per_actor=0.5)
        out["spread_reward_on_both_nodes"] = len({node(a) for a in spread._actors}) == 2
        spread.shutdown()

        try:  # 1 CPU free on the learner's node: 2 x 0.75 cannot fit there
            RewardPool(num_actors=2, cpus_per_actor=0.75, node_id=learners.node_id, start_timeout_s=3)
        except RewardPoolError as error:
            out["reward_error"] = str(error)
        rollout_cfg = cfg.rollout.model_copy(update={"cpus_per_worker": 1.5, "placement_timeout_s": 3})
        try:
            RolloutPool(str(model_dir), cfg.model, rollout_cfg, node_id=learners.node_id)
        except RolloutPoolError as error:
            out["rollout_error"] = str(error)
        learners.shutdown()
        deadline = time.monotonic() + 30  # kills and removals are asynchronous
        while ray.available_resources().get("CPU") != 4.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        out["free_after_shutdown"] = ray.available_resources().get("CPU")
    finally:
        print("RESULT " + json.dumps(out), flush=True)
        ray.shutdown()
        cluster.shutdown()
    """
)


def test_roles_are_placed_by_the_config_on_a_two_node_cluster(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path / "model"), str(REPO_ROOT)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert out["learner_node_is_other"] is True
    assert out["rank_nodes_are_learner_node"] == [True, True]
    assert out["pinned_reward_nodes"] == [True, True]
    assert out["pinned_reward_scores_as_local"] is True
    assert out["spread_reward_on_both_nodes"] is True
    assert out["autoscale_target"] == 2
    assert out["autoscale_nodes"] == [True, True]
    assert "could not place the reward actors" in out["reward_error"]
    assert "the learner's node" in out["reward_error"]
    assert "has {'CPU': 1.0, 'GPU': 0.0} free" in out["reward_error"]  # that node's, not the cluster's
    assert "cluster.colocate=true pins it to the learner's node" in out["reward_error"]
    assert "no rollout worker could be placed" in out["rollout_error"]
    assert "cluster.colocate=true" in out["rollout_error"]
    assert out["free_after_shutdown"] == 4.0  # every placement group was given back
