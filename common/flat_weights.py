"""The weight-broadcast format: a few large flat buffers plus a name/shape/dtype index.

The learner packs its tensors with :func:`pack`; rollout workers rebuild them with :func:`unpack`.
Weights travel as one buffer per dtype (split at ``bucket_bytes``), never one message per tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorSlot:
    """Where one named tensor lives inside the flat buffers."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # e.g. "float32", as in torch.float32
    buffer: int  # index into the list of buffers
    offset: int  # in elements of that buffer
    numel: int


def pack(
    named_tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int = 256 << 20
) -> tuple[list[torch.Tensor], list[TensorSlot]]:
    """Concatenate tensors into flat 1-D buffers (one dtype each, at most ``bucket_bytes`` unless
    a single tensor is larger) and return the buffers and the index."""
    groups: list[list[tuple[str, torch.Tensor]]] = []
    open_group: dict[torch.dtype, int] = {}
    sizes: list[int] = []
    for name, tensor in named_tensors:
        tensor = tensor.detach()
        nbytes = tensor.numel() * tensor.element_size()
        g = open_group.get(tensor.dtype)
        if g is None or sizes[g] + nbytes > bucket_bytes:
            groups.append([])
            sizes.append(0)
            g = open_group[tensor.dtype] = len(groups) - 1
        groups[g].append((name, tensor))
        sizes[g] += nbytes
    buffers: list[torch.Tensor] = []
    index: list[TensorSlot] = []
    for b, group in enumerate(groups):
        offset = 0
        for name, tensor in group:
            n = tensor.numel()
            dtype = str(tensor.dtype).removeprefix("torch.")
            index.append(TensorSlot(name, tuple(tensor.shape), dtype, b, offset, n))
            offset += n
        buffers.append(torch.cat([t.reshape(-1).cpu() for _, t in group]))
    return buffers, index


def unpack(buffers: list[torch.Tensor], index: list[TensorSlot]) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, tensor)`` views into the buffers, in packing order."""
    for slot in index:
        flat = buffers[slot.buffer].narrow(0, slot.offset, slot.numel)
        yield slot.name, flat.view(slot.shape)


def empty_buffers(index: list[TensorSlot], device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Receive-side buffers with the sizes and dtypes the index describes (for a broadcast)."""
    sizes: dict[int, tuple[int, str]] = {}
    for slot in index:
        end = slot.offset + slot.numel
        if end > sizes.get(slot.buffer, (0, ""))[0]:
            sizes[slot.buffer] = (end, slot.dtype)
    return [torch.empty(sizes[b][0], dtype=getattr(torch, sizes[b][1]), device=device) for b in sorted(sizes)]
