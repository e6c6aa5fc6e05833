"""Turning (prompt, completion) token lists into padded tensors and length-sorted micro-batches.

Padding policy: sequences are sorted by length (longest first) before they are cut into
micro-batches, and each micro-batch is padded only to its own longest sequence; the vocabulary
projection runs on completion positions only (see :mod:`learner.policy`). Full padding-free
packing would need a varlen attention kernel (flash-attention), which the CPU build lacks; sorting
already removes most of the padding when lengths vary.

The G completions of a group share one prompt, and function-calling prompts (system prompt plus
tool schemas) are far longer than the completions. A :class:`GroupBatch` therefore holds each
prompt once: the policy runs the prompt once, then the G completions on its cached keys and values
(:mod:`learner.policy`), instead of the same prompt G times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class SequenceBatch:
    """One micro-batch. ``positions[b, j]`` is the index of the hidden state that predicts completion
    token ``j`` of row ``b`` (``targets[b, j]``); ``mask`` marks real completion tokens (the model
    runs on them) and ``loss_mask`` those of them that take loss: the model's own, not a
    trajectory's environment and user tokens (without a loss mask, every real completion token)."""

    input_ids: torch.Tensor  # [B, L] prompt + completion, right-padded
    positions: torch.Tensor  # [B, C]
    targets: torch.Tensor  # [B, C] completion ids, right-padded
    mask: torch.Tensor  # [B, C] bool
    loss_mask: torch.Tensor  # [B, C] bool, within mask

    @property
    def num_tokens(self) -> int:
        """Prompt + completion tokens (no padding) in this micro-batch."""
        return int(self.mask.sum()) + int((self.positions[:, 0] + 1).sum())

    @property
    def num_slots(self) -> int:
        """Token positions the forward pass computes, padding included."""
        return self.input_ids.numel()

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids, "positions": self.positions}


@dataclass
class GroupBatch:
    """Whole groups: each distinct prompt once, then its G completions (row ``g * G + k`` is
    completion ``k`` of prompt ``g``). ``targets``, ``mask`` and ``loss_mask`` mean what they mean in
    :class:`SequenceBatch`, so the loss code takes either."""

    prompt_ids: torch.Tensor  # [N, P] right-padded
    prompt_lengths: torch.Tensor  # [N]
    targets: torch.Tensor  # [N * G, C] completion ids, right-padded
    mask: torch.Tensor  # [N * G, C] bool
    loss_mask: torch.Tensor  # [N * G, C] bool, within mask

    @property
    def num_tokens(self) -> int:
        return int(self.prompt_lengths.sum()) + int(self.mask.sum())

    @property
    def num_slots(self) -> int:
        return self.prompt_ids.numel() + self.targets.numel()

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.prompt_ids,
            "prompt_lengths": self.prompt_lengths,
            "completion_ids": self.targets,
            "completion_mask": self.mask,
        }


def collate(
    prompts: list[list[int]],
    completions: list[list[int]],
    device: torch.device | str = "cpu",
    pad_id: int = 0,
    loss_masks: list[list[int]] | None = None,
) -> SequenceBatch:
    """Right-pad ``prompt + completion`` rows and build the completion index (see :class:`SequenceBatch`).

    ``loss_masks`` (one 0/1 per completion token, 1 = the model's) leave the rows as they are and
    mark which tokens take loss; None: all of them."""
    if len(prompts) != len(completions) or not prompts:
        raise ValueError(
            f"need as many prompts as completions (> 0), got {len(prompts)} and {len(completions)}"
        )
    if any(len(p) == 0 for p in prompts):
        raise ValueError(
            "every prompt needs at least one token (the first completion token is predicted from it)"
        )
    seq_len = max(len(p) + len(c) for p, c in zip(prompts, completions, strict=True))
    comp_len = max(1, max(len(c) for c in completions))
    input_ids = torch.full((len(prompts), seq_len), pad_id, dtype=torch.long)
    targets = torch.full((len(prompts), comp_len), pad_id, dtype=torch.long)
    positions = torch.zeros((len(prompts), comp_len), dtype=torch.long)
    mask = torch.zeros((len(prompts), comp_len), dtype=torch.bool)
    for b, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        input_ids[b, : len(p) + len(c)] = torch.tensor(list(p) + list(c), dtype=torch.long)
        targets[b, : len(c)] = torch.tensor(c, dtype=torch.long)
        # completion token j sits at len(p) + j and is predicted by the hidden state at len(p) + j - 1;
        # positions past the completion repeat a valid index (masked out)
        positions[b] = (len(p) - 1 + torch.arange(comp_len)).clamp(max=seq_len - 1)
        mask[b, : len(c)] = True
    loss_mask = _loss_mask(mask, completions, loss_masks)
    return SequenceBatch(
        input_ids.to(device), positions.to(device), targets.to(device), mask.to(device), loss_mask.to(device)
    )


def collate_groups(
    prompts: list[list[int]],
    completions: list[list[int]],
    group_size: int,
    device: torch.device | str = "cpu",
    pad_id: int = 0,
    loss_masks: list[list[int]] | None = None,
) -> GroupBatch:
    """A :class:`GroupBatch` of ``len(prompts)`` groups; ``completions`` (and ``loss_masks``, as in
    :func:`collate`) group-major."""
    if not prompts or len(completions) != len(prompts) * group_size:
        raise ValueError(
            f"need {group_size} completions for each of {len(prompts)} prompts (> 0), got {len(completions)}"
        )
    if any(len(p) == 0 for p in prompts):
        raise ValueError(
            "every prompt needs at least one token (the first completion token is predicted from it)"
        )
    prompt_ids = _pad([list(p) for p in prompts], pad_id)
    targets = _pad([list(c) for c in completions], pad_id, min_width=1)
    mask = _pad([[1] * len(c) for c in completions], 0, min_width=1).bool()
    lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    loss_mask = _loss_mask(mask, completions, loss_masks)
    return GroupBatch(
        prompt_ids.to(device), lengths.to(device), targets.to(device), mask.to(device), loss_mask.to(device)
    )


def _loss_mask(
    mask: torch.Tensor, completions: list[list[int]], loss_masks: list[list[int]] | None
) -> torch.Tensor:
    """The completion mask AND the rows' loss masks (a copy of ``mask`` when there are none)."""
    if loss_masks is None:
        return mask.clone()
    if len(loss_masks) != len(completions) or any(
        len(m) != len(c) for m, c in zip(loss_masks, completions, strict=True)
    ):
        raise ValueError("need one loss-mask entry per completion token of every row")
    return mask & _pad([list(m) for m in loss_masks], 0, min_width=mask.size(1)).bool()


def _pad(rows: list[list[int]], value: int, min_width: int = 0) -> torch.Tensor:
    out = torch.full((len(rows), max(min_width, max(len(r) for r in rows))), value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def plan_micro_batches(
    lengths: list[int], micro_batch_size: int, num_micro: int | None = None
) -> list[list[int]]:
    """Indices of the sequences in each micro-batch, longest first, at most ``micro_batch_size`` each.

    ``num_micro`` forces the number of micro-batches (every data-parallel rank must run the same
    number of forward/backward passes under ZeRO-3); the sequences are then spread evenly and a
    micro-batch may be empty when a rank has fewer sequences than micro-batches.
    """
    if micro_batch_size < 1:
        raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    needed = math.ceil(len(order) / micro_batch_size)
    num = needed if num_micro is None else num_micro
    if num < needed:
        raise ValueError(
            f"{len(order)} sequences need {needed} micro-batches of {micro_batch_size}, got {num}"
        )
    size = math.ceil(len(order) / num) if order else 0
    return [order[i * size : (i + 1) * size] for i in range(num)]


def plan_token_micro_batches(
    lengths: list[int], max_tokens: int, rows_per_unit: int = 1, num_micro: int | None = None
) -> list[list[int]]:
    """Indices of the units (sequences, or groups of ``rows_per_unit`` rows) in each micro-batch,
    longest first, packed so that a micro-batch's padded size (units x rows x its longest length)
    stays within ``max_tokens``; a unit longer than that gets a micro-batch of its own.

    ``num_micro`` pads the plan with empty micro-batches up to that number (every rank must run
    the same number of passes); fewer than the plan needs raises ``ValueError``.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    plan: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        current = plan[-1] if plan else None
        if current and (len(current) + 1) * rows_per_unit * lengths[current[0]] <= max_tokens:
            current.append(i)
        else:
            plan.append([i])
    if num_micro is not None:
        if num_micro < len(plan):
            raise ValueError(
                f"{len(lengths)} units need {len(plan)} micro-batches of {max_tokens} tokens, got {num_micro}"
            )
        plan += [[] for _ in range(num_micro - len(plan))]
    return plan


def pad_values(rows: list[list[float]], width: int, value: float = 0.0) -> torch.Tensor:
    """Right-pad float rows (e.g. the sampler's log-probs) to ``[len(rows), width]``."""
    out = torch.full((len(rows), width), value, dtype=torch.float32)
    for b, row in enumerate(rows):
        out[b, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out
