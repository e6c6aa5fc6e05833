"""The learner's settings: the config fields it needs, under the same names as ``cluster/config/``.

The learner does not import the config (dependency direction, architecture.md); the driver passes
these as keyword arguments, and unknown names are rejected so a typo cannot pass silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class LearnerSettings:
    # learner.*
    lr: float = 1e-6
    lr_warmup_steps: int = 0
    lr_schedule: str = "constant"  # constant | cosine | linear
    total_steps: int | None = None  # RL steps the schedule spans (train.steps); needed for cosine/linear
    weight_decay: float = 0.0
    adam_beta2: float = 0.999
    grad_clip: float = 1.0
    micro_batch_size: int = 8
    zero_stage: int = 0
    backend: str = "gloo"  # gloo (CPU) | nccl (GPU)
    dtype: str = "float32"  # float32 | bfloat16 (GPU only)
    share_prompt: bool = True  # run a group's prompt once for its G completions
    gradient_checkpointing: bool = False  # recompute each decoder layer in the backward pass
    max_tokens_per_micro_batch: int | None = None  # pack micro-batches by padded tokens, not by count
    single_pass: bool = True  # one epoch: pi_old's log-probs from the update's own forward pass
    lora_rank: int = 0  # 0: train every weight; > 0: LoRA adapters of this rank (learner/lora.py)
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target_modules: str | tuple[str, ...] = "all-linear"
    lora_save_merged: bool = True  # checkpoints hold the merged model beside the adapter
    # algorithm.*
    entropy_coef: float = 0.4  # lambda of Eq. 5
    alpha: float = 2.0
    adv_eps: float = 1e-6
    kl_coef: float = 0.001
    clip_eps: float = 0.2
    clip_eps_high: float | None = None
    ppo_epochs: int = 1
    is_cap: float = 2.0
    # train.*
    seed: int = 0

    @classmethod
    def from_kwargs(cls, settings: dict) -> LearnerSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown learner setting(s) {unknown}; known: {sorted(known)}")
        out = cls(**settings)
        out.validate()
        return out

    def validate(self) -> None:
        checks = [
            (self.alpha > 1, "alpha", "> 1"),
            (self.entropy_coef >= 0, "entropy_coef", ">= 0"),
            (self.kl_coef >= 0, "kl_coef", ">= 0"),
            (self.micro_batch_size >= 1, "micro_batch_size", ">= 1"),
            (
                self.max_tokens_per_micro_batch is None or self.max_tokens_per_micro_batch >= 1,
                "max_tokens_per_micro_batch",
                ">= 1 or None",
            ),
            (0 < self.adam_beta2 < 1, "adam_beta2", "in (0, 1)"),
            (self.lora_rank >= 0, "lora_rank", ">= 0"),
            (0 <= self.lora_dropout < 1, "lora_dropout", "in [0, 1)"),
            (not (self.lora_rank and self.zero_stage == 3), "zero_stage", "0, 1 or 2 with LoRA"),
            (self.ppo_epochs >= 1, "ppo_epochs", ">= 1"),
            (self.zero_stage in (0, 1, 2, 3), "zero_stage", "0, 1, 2 or 3"),
            (self.backend in ("gloo", "nccl"), "backend", "'gloo' or 'nccl'"),
            (self.dtype in ("float32", "bfloat16"), "dtype", "'float32' or 'bfloat16'"),
            (not (self.backend == "gloo" and self.dtype != "float32"), "dtype", "float32 on CPU (gloo)"),
            (
                self.clip_eps_high is None or self.clip_eps_high >= self.clip_eps,
                "clip_eps_high",
                ">= clip_eps",
            ),
            (
                self.lr_schedule in ("constant", "cosine", "linear"),
                "lr_schedule",
                "constant, cosine or linear",
            ),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(f"learner setting {name}={getattr(self, name)!r}: expected {expected}")

    def as_dict(self) -> dict:
        return asdict(self)
