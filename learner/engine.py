"""The DeepSpeed side of the learner: process group, engine config, learning-rate schedule.

CPU and GPU run the same code; the collective backend decides the device (gloo -> CPU, fp32;
nccl -> CUDA, bf16 or fp32). Notes from stack-notes.md: on CPU the optimizer is torch's AdamW
(``torch_adam``), which avoids the ~50 s JIT build of DeepSpeed's own Adam.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
SCHEDULES = ("constant", "cosine", "linear")


def device_for(backend: str) -> torch.device:
    """gloo trains on the CPU, nccl on the (first visible) GPU: Ray gives each learner its own GPU."""
    if backend == "gloo":
        return torch.device("cpu")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError("learner backend 'nccl' needs a CUDA GPU, but none is visible to this actor")
        torch.cuda.set_device(0)
        return torch.device("cuda", 0)
    raise ValueError(f"learner backend must be 'gloo' or 'nccl', got {backend!r}")


def init_distributed(rank: int, world_size: int, master_addr: str, master_port: int, backend: str) -> None:
    """Join (or create) the learners' default process group through DeepSpeed (env:// rendezvous).

    LOCAL_RANK is 0: each learner actor sees only its own GPU (Ray sets CUDA_VISIBLE_DEVICES).
    """
    import deepspeed

    if not 0 <= rank < world_size:
        raise ValueError(f"learner rank must be in [0, world_size={world_size}), got {rank}")
    os.environ.update(
        MASTER_ADDR=master_addr,
        MASTER_PORT=str(master_port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK="0",
        LOCAL_WORLD_SIZE="1",
    )
    deepspeed.init_distributed(dist_backend=backend, timeout=timedelta(minutes=30), verbose=False)


def deepspeed_config(
    *,
    lr: float,
    weight_decay: float,
    grad_clip: float,
    adam_beta2: float = 0.999,
    micro_batch_size: int,
    zero_stage: int,
    dtype: str,
    world_size: int,
) -> dict:
    """The engine config. Gradient accumulation is driven by the learner (a variable number of
    micro-batches per step, the boundary set by hand), so the nominal accumulation steps are 1 and
    the loss is scaled by the learner itself (token-mean over the global batch)."""
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    if dtype not in DTYPES:
        raise ValueError(f"learner dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    zero: dict = {"stage": zero_stage}
    if zero_stage == 3:
        # Small models: keep every parameter partitioned (no persistence threshold surprises in tests).
        zero.update(stage3_param_persistence_threshold=0, stage3_prefetch_bucket_size=0)
    return {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "train_batch_size": micro_batch_size * world_size,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": grad_clip,
        "optimizer": {
            "type": "AdamW",
            "params": {
                "lr": lr,
                "betas": [0.9, adam_beta2],
                "eps": 1e-8,
                "weight_decay": weight_decay,
                "torch_adam": True,
            },
        },
        "zero_optimization": zero,
        "bf16": {"enabled": dtype == "bfloat16"},
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,
    }


def lr_at(step: int, peak: float, warmup_steps: int, schedule: str, total_steps: int | None) -> float:
    """Learning rate of RL step ``step`` (0-based): linear warm-up to ``peak`` over ``warmup_steps``,
    then constant, or a cosine / linear decay to 0 at ``total_steps``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if schedule == "constant":
        return peak
    if not total_steps:
        raise ValueError(f"lr_schedule={schedule!r} needs total_steps (the number of RL steps)")
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak * (1.0 - progress)


def set_lr(optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (works for torch and ZeRO optimizers)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def base_optimizer(engine) -> torch.optim.Optimizer:
    """The torch optimizer under DeepSpeed's wrapper (its ``state`` holds the Adam moments)."""
    opt = engine.optimizer
    while not isinstance(opt, torch.optim.Optimizer) and hasattr(opt, "optimizer"):
        opt = opt.optimizer
    return opt
