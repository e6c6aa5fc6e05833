"""The strict binary reward: output grammar, BFCL-conformant checker, reward actor pool."""

from reward.calls import gold_to_calls, render_calls
from reward.prompt import SYSTEM_PROMPT_VERSION, render_system_prompt

__all__ = ["SYSTEM_PROMPT_VERSION", "gold_to_calls", "render_calls", "render_system_prompt"]
