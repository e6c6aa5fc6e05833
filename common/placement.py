"""Where the roles' actors run: Ray placement groups built from the config.

- The learner ranks share one group, ``STRICT_PACK``: one node, since their process group meets
  on 127.0.0.1.
- The reward actors share one group of ``reward.num_actors`` bundles.
- Each rollout worker has a group of its own, so the pool can grow and shrink one worker at a time.

With ``cluster.colocate`` (the default) the reward and rollout bundles carry a label selector on
the learner's node id: every role lands on the learner's machine, and weights never leave it.
Without it they go wherever the cluster has room (``SPREAD`` for the reward actors).
"""

from __future__ import annotations

import ray
from ray.util.placement_group import PlacementGroup, placement_group, placement_group_table

NODE_ID_LABEL = "ray.io/node-id"  # a label Ray sets on every node


class PlacementError(RuntimeError):
    """The cluster cannot place a role's bundles; the message says what was asked and what is free."""


def available(node_id: str | None = None) -> dict[str, float]:
    """Free resources: the whole cluster's, or with ``node_id`` that node's only."""
    if node_id is None:
        return ray.available_resources()
    # Ray has no public per-node call for this; it is what `ray status` reads.
    from ray._private.state import available_resources_per_node

    return available_resources_per_node().get(node_id, {})


def free_resources(node_id: str | None = None) -> dict[str, float]:
    """Free CPUs and GPUs (rounded) of the cluster or of one node, for messages."""
    free = available(node_id)
    return {key: round(free.get(key, 0.0), 2) for key in ("CPU", "GPU")}


def bundle(cpus: float, gpus: float = 0.0) -> dict[str, float]:
    """One actor's resources: CPUs, and GPUs only when it asks for some."""
    return {"CPU": cpus, "GPU": gpus} if gpus else {"CPU": cpus}


def reserve(
    bundles: list[dict[str, float]], strategy: str = "PACK", node_id: str | None = None
) -> PlacementGroup:
    """Ask Ray for ``bundles``; with ``node_id`` every bundle must land on that node."""
    selector = [{NODE_ID_LABEL: node_id}] * len(bundles) if node_id else None
    return placement_group(bundles, strategy=strategy, bundle_label_selector=selector)


def wait_placed(
    pg: PlacementGroup, role: str, timeout_s: float, hint: str = "", node_id: str | None = None
) -> None:
    """Block until ``pg`` is placed; past ``timeout_s`` remove it and raise ``PlacementError``
    (which reports the free resources of ``node_id`` when the group is pinned there)."""
    try:
        ray.get(pg.ready(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        bundles = pg.bundle_specs
        ray.util.remove_placement_group(pg)
        raise PlacementError(
            f"the cluster could not place the {role} within {timeout_s:.0f} s: it needs "
            f"{len(bundles)} x {bundles[0]} and {room(node_id)}{hint}"
        ) from None


def room(node_id: str | None = None) -> str:
    """For messages: what is free where a role may go, the cluster or the learner's node."""
    place = "the cluster" if node_id is None else f"the learner's node {node_id[:8]}"
    return f"{place} has {free_resources(node_id)} free"


def node_cpus(node_id: str) -> int:
    """The CPUs Ray counts on one node (all of its cores unless the node was started with fewer)."""
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return max(1, int(node["Resources"].get("CPU", 1)))
    raise PlacementError(f"node {node_id[:8]} is not in the cluster")


def shared_threads(node_id: str, sharers: int) -> int:
    """Compute threads for each of ``sharers`` processes that take turns with another role on one
    node (``cluster.mode=colocated``): the node's cores split among them, at least 1."""
    return max(1, node_cpus(node_id) // max(1, sharers))


def node_of(pg: PlacementGroup, bundle_index: int = 0) -> str:
    """The id of the node that holds bundle ``bundle_index`` of a placed group."""
    return placement_group_table(pg)["bundles_to_node_id"][bundle_index]


COLOCATE_HINT = (
    "; cluster.colocate=true pins it to the learner's node: free that node, lower the role's "
    "resources, or set cluster.colocate=false"
)
