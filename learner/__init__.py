"""The learner: EGPO's math (pure tensor functions) and the DeepSpeed learner actor.

``from learner import egpo_advantages`` needs only torch; the Ray actor lives in
:mod:`learner.actor` (imports ray, transformers and deepspeed) and is loaded on first use of
``learner.Learner``.
"""

from learner.egpo import (
    cot_entropy,
    egpo_advantages,
    group_advantages,
    kl_k3,
    masked_mean,
    policy_loss,
    think_span_mask,
    token_entropy,
    truncated_is_weights,
)

__all__ = [
    "Learner",
    "cot_entropy",
    "egpo_advantages",
    "group_advantages",
    "kl_k3",
    "masked_mean",
    "policy_loss",
    "think_span_mask",
    "token_entropy",
    "truncated_is_weights",
]


def __getattr__(name: str):
    if name == "Learner":
        from learner.actor import Learner

        return Learner
    raise AttributeError(f"module 'learner' has no attribute {name!r}")
