"""EGPO's knobs: the entropy-clipped advantage, the loss, sampling filters, staleness."""

from __future__ import annotations

from pydantic import Field, model_validator

from cluster.config.base import Section


class AlgorithmConfig(Section):
    entropy_coef: float = Field(
        0.4,
        ge=0,
        description="lambda of Eq. 5, the CoT-entropy bonus weight; 0 = plain GRPO. Default 0.4 (paper).",
    )
    alpha: float = Field(
        2.0,
        description="alpha of Eq. 5, the cap's divisor (bonus <= |A|/alpha); must be > 1. Default 2 (paper).",
    )
    adv_eps: float = Field(
        1e-6, gt=0, description="eps of Eq. 1. Default 1e-6 (egpo-spec.md Sec. 3 [decision])."
    )
    kl_coef: float = Field(
        0.001, ge=0, description="beta, weight of the k3 KL to the reference. Default 0.001 (paper)."
    )
    clip_eps: float = Field(0.2, gt=0, lt=1, description="PPO clip epsilon. Default 0.2 ([decision]).")
    clip_eps_high: float | None = Field(
        None, description="Upper clip epsilon (clip-higher); None = clip_eps. Default None ([decision])."
    )
    ppo_epochs: int = Field(1, ge=1, description="Passes over each batch per step. Default 1.")
    dynamic_sampling: bool = Field(
        False,
        description="Replace zero-variance groups (all rewards equal: no learning signal) with groups "
        "of fresh training prompts. Default False (paper: no).",
    )
    dynamic_sampling_rounds: int = Field(
        2,
        ge=1,
        description="With dynamic sampling: at most this many rounds of replacement per step; groups "
        "still flat after them are trained on as they are. Default 2.",
    )
    spread_filter_samples: int = Field(
        0,
        ge=0,
        description="Before RL, sample each screened training prompt this many times with the starting "
        "policy (rollout temperature), score them, and train only on the prompts it gets right some of "
        "the time but not always: a group whose rewards are all equal teaches nothing. The verdicts are "
        "kept in the run directory (spread_filter.json), so a resumed run trains on the same prompts. "
        "0 = off. Default 0.",
    )
    spread_filter_prompts: int | None = Field(
        None,
        ge=1,
        description="With the spread filter: screen this many training prompts (the first of a seeded "
        "shuffle, data.shuffle_seed); None = all. Default None.",
    )
    max_staleness: int = Field(
        0,
        ge=0,
        description="Asynchronous mode: rollouts of the next steps are generated while the learner "
        "trains, sampled by a policy at most this many versions older than the learner's (with the "
        "truncated importance-sampling correction); 0 = synchronous. Default 0.",
    )
    is_cap: float = Field(
        2.0,
        gt=0,
        description="Cap of the truncated importance-sampling correction (async mode). Default 2.0.",
    )

    @model_validator(mode="after")
    def _spread_needs_two(self) -> AlgorithmConfig:
        if self.spread_filter_samples == 1:
            raise ValueError(
                "algorithm.spread_filter_samples=1: expected 0 (off) or at least 2 (one sample cannot "
                "be right some of the time and wrong the rest)"
            )
        return self
