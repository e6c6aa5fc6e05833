"""The weight-sync process group: the learner (rank 0) broadcasts flat weight buffers to rollouts.

A dedicated ``torch.distributed`` group on its own ``TCPStore``, never the default group: that one
belongs to DeepSpeed (``ray.util.collective`` would take it over, stack-notes.md). Gloo on CPU,
NCCL on GPUs. Every rank must construct the group at about the same time (the constructor waits
for all of them), so the driver starts the learner's and the rollouts' calls together.

Rank 0 hosts the store on ``master_addr:master_port``, listening on that address only.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

STORE_PREFIX = "egpo-weight-sync"


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (for rank 0's store)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def local_address_towards(master_addr: str) -> str:
    """The address of this machine's interface that routes to ``master_addr`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((master_addr, 9))
        return s.getsockname()[0]


@dataclass
class WeightGroup:
    """One rank's membership in the weight-sync group."""

    process_group: dist.ProcessGroup
    rank: int
    world_size: int
    backend: str
    store: dist.Store
    _listen_socket: socket.socket | None = field(default=None, repr=False)

    @property
    def device(self) -> str:
        """Where buffers must live for this backend's collectives."""
        return "cuda" if self.backend == "nccl" else "cpu"

    def broadcast(self, buffers: list[torch.Tensor], src: int = 0) -> None:
        """Broadcast each buffer from rank ``src`` in place (receivers pass empty buffers of the
        right sizes, e.g. ``common.flat_weights.empty_buffers(index, group.device)``)."""
        for buf in buffers:
            self.process_group.broadcast(buf, src).wait()

    def close(self) -> None:
        """Drop the group and, on rank 0, stop listening."""
        self.process_group = None  # type: ignore[assignment]
        if self._listen_socket is not None:
            self._listen_socket.close()
            self._listen_socket = None


def create_weight_group(
    master_addr: str,
    master_port: int,
    rank: int,
    world_size: int,
    backend: str = "gloo",
    timeout_s: float = 300.0,
) -> WeightGroup:
    """Join (rank 0: host) the weight-sync group; blocks until all ``world_size`` ranks joined.

    ``backend`` is "gloo" (CPU tensors) or "nccl" (CUDA tensors, on the current CUDA device).
    """
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"weight group: backend must be 'gloo' or 'nccl', got {backend!r}")
    if not 0 <= rank < world_size:
        raise ValueError(f"weight group: rank {rank} is outside world_size {world_size}")
    timeout = timedelta(seconds=timeout_s)
    listen = None
    if rank == 0:
        listen = socket.create_server((master_addr, master_port), backlog=max(world_size, 16))
    try:
        store = dist.TCPStore(
            master_addr,
            master_port,
            world_size,
            is_master=rank == 0,
            timeout=timeout,
            wait_for_workers=False,
            master_listen_fd=listen.fileno() if listen is not None else None,
        )
        prefixed = dist.PrefixStore(STORE_PREFIX, store)
        if backend == "gloo":
            group = _gloo(prefixed, rank, world_size, timeout, master_addr)
        else:
            group = _nccl(prefixed, rank, world_size, timeout)
    except Exception as err:
        if listen is not None:
            listen.close()
        raise RuntimeError(
            f"weight group: rank {rank}/{world_size} could not join via {master_addr}:{master_port} "
            f"({backend}): {type(err).__name__}: {err}"
        ) from err
    return WeightGroup(group, rank, world_size, backend, store, listen)


def _gloo(store: dist.Store, rank: int, world_size: int, timeout: timedelta, master_addr: str):
    opts = dist.ProcessGroupGloo._Options()
    opts._timeout = timeout
    opts._devices = [dist.ProcessGroupGloo.create_device(hostname=local_address_towards(master_addr))]
    return dist.ProcessGroupGloo(store, rank, world_size, opts)


def _nccl(store: dist.Store, rank: int, world_size: int, timeout: timedelta):
    nccl = getattr(dist, "ProcessGroupNCCL", None)
    if nccl is None or not torch.cuda.is_available():
        raise RuntimeError("the nccl backend needs a CUDA build of torch and a GPU; use gloo on CPU")
    opts = nccl.Options()
    opts._timeout = timeout
    return nccl(store, rank, world_size, opts)
