"""Weight broadcast: learner rank 0 -> every rollout worker, over a dedicated torch.distributed group.

The group (``common.weight_group``: its own TCPStore, gloo on CPU, NCCL on GPUs) has the learner
as rank 0 and the rollout workers as ranks 1..N. Each step the learner broadcasts a few flat
buffers (``common.flat_weights``) and every worker loads them in place: one collective per
buffer, never one call per tensor. When the pool changes, the group is rebuilt and the newcomers
get the current weights before they take work.

A worker that dies during a broadcast breaks that collective: the learner and some workers fail at
once, the others when the group's timeout (``rollout.weight_sync_timeout_s``) runs out. The push
then waits for every rank, lets the pool find and replace the dead worker, rebuilds the group and
broadcasts again, so every live worker ends the push on the new version.
"""

from __future__ import annotations

import ray
from ray.exceptions import RayActorError, RayTaskError

from common.console import say
from common.faults import death_cause
from common.weight_group import find_free_port

PUSH_ATTEMPTS = 3  # broadcasts tried per push; each failed one is a worker death the pool counted


def _node_ip(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda _self: ray.util.get_node_ip_address()))


class WeightSync:
    """Owns the weight-sync group of one learner group and one rollout pool.

    ``in_place=True`` (``cluster.mode=colocated``: every worker on the learner's node) builds no
    group: each push puts the learner's flat buffers in the node's shared-memory object store once,
    and every worker loads them from there, with no collective and no network hop. (Two ranks of
    one NCCL group may not share a GPU, which colocated workers do.)
    """

    def __init__(
        self, learners, rollout, backend: str = "gloo", timeout_s: float = 300.0, in_place: bool = False
    ):
        self.learners = learners
        self.rollout = rollout
        self.backend = backend
        self.timeout_s = timeout_s
        self.in_place = in_place
        self.sender = learners.learners[0]
        self.index = ray.get(self.sender.weight_index.remote())  # fixed for the run
        self.members: list = []
        rollout.weight_source = self.current_weights  # newcomers load these before they take work
        if not in_place:
            self.connect()

    def connect(self) -> None:
        """(Re)build the group for the rollout workers the pool has now."""
        workers = list(self.rollout.workers)
        world = 1 + len(workers)
        address = _node_ip(self.sender)
        port = find_free_port(address)
        refs = [self.sender.init_weight_group.remote(address, port, world, self.backend, self.timeout_s)]
        refs += [
            w.init_weight_group.remote(address, port, rank, world, self.backend, self.timeout_s)
            for rank, w in enumerate(workers, start=1)
        ]
        self.members = []  # until every rank joined
        _settle(refs)
        self.members = workers

    def current_weights(self) -> tuple:
        """Object refs of the learner's current flat buffers and index, for a rollout worker that
        joins between pushes (it loads them through the object store, then joins the group at the
        next push). Every learner rank exports (ZeRO-3 gathers); rank 0's result is used."""
        refs = [learner.export_weights.options(num_returns=2).remote() for learner in self.learners.learners]
        return refs[0]

    def push(self, version: int) -> None:
        """Broadcast the learner's current weights to every worker, recorded as ``version``.
        Dead workers are found (and replaced) first; the group is rebuilt when the pool changed.
        A broadcast (or rebuild) broken by a worker's death is retried without it."""
        if self.in_place:  # a dead worker is replaced and its replacement loads these buffers
            buffers_ref, index_ref = self.current_weights()
            self.rollout.update_weights(buffers_ref, index_ref, version)
            return
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            self.rollout.prune_dead()
            try:
                if self.members != list(self.rollout.workers):
                    self.connect()
                refs = [learner.broadcast_weights.remote() for learner in self.learners.learners]
                refs += [w.receive_weights.remote(self.index, version) for w in self.members]
                _settle(refs)
            except (RayActorError, RayTaskError) as error:
                if attempt == PUSH_ATTEMPTS:
                    raise
                self.members = []  # rebuild the group with the workers that are left
                say(
                    f"Weight sync: the broadcast of version {version} broke ({death_cause(error)}); "
                    f"retrying without the dead worker (attempt {attempt + 1}/{PUSH_ATTEMPTS})"
                )
                continue
            self.rollout.version = version
            return


def _settle(refs: list) -> None:
    """Wait for every call to end (a broken collective fails some ranks at once and the others at
    their timeout), then raise the first error, if any."""
    ray.wait(refs, num_returns=len(refs))
    for ref in refs:
        ray.get(ref)
