"""The strict binary reward: output grammar, BFCL-conformant checker, reward actor pool.

``RewardPool`` (Ray) is imported lazily so that ``import reward`` stays light.
"""

from typing import Any

from reward.calls import gold_to_calls, render_calls
from reward.checker import check_calls
from reward.grammar import ParsedCompletion, parse_completion
from reward.prompt import SYSTEM_PROMPT_VERSION, render_system_prompt
from reward.score import score

__all__ = [
    "SYSTEM_PROMPT_VERSION",
    "ParsedCompletion",
    "RewardPool",
    "check_calls",
    "gold_to_calls",
    "parse_completion",
    "render_calls",
    "render_system_prompt",
    "score",
]


def __getattr__(name: str) -> Any:
    if name == "RewardPool":
        from reward.pool import RewardPool

        return RewardPool
    raise AttributeError(f"module 'reward' has no attribute {name!r}")
