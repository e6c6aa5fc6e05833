"""The one internal sample type every loader produces and every consumer reads.

A sample is a prompt (chat messages plus the tools on offer) and its gold answer in BFCL's
possible-answer form (docs/bfcl-checker.md): ``[{name: {param: [acceptable values]}}]``, ``[]``
when no call is expected (irrelevance, missing parameters, a plain-text reply).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class Sample(BaseModel):
    """One prompt with tools and its gold calls.

    ``messages`` is the prompt history only (never the gold answer). Each message is
    ``{"role", "content"}``; an assistant turn of the history that called tools also carries
    ``"tool_calls": [{"name", "arguments": dict}]`` (the reward's call form), which the prompt
    renderer writes out in the configured answer format.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Unique id within its file.")
    messages: list[dict[str, Any]] = Field(min_length=1, description="Prompt turns, without the gold answer.")
    tools: list[dict[str, Any]] = Field(description="BFCL-style function docs offered to the model.")
    ground_truth: list[dict[str, Any]] = Field(
        description="BFCL possible answer [{name: {param: [acceptable...]}}]; [] = no call expected."
    )
    category: str = Field(
        description="simple, multiple, parallel, parallel_multiple, irrelevance, missing_param, no_call "
        "or a BFCL category name; passed to the reward checker (``simple`` checks the first tool "
        "only, as BFCL does). Loaders infer it when a format carries none (``infer_category``).",
    )
    reference: str | None = Field(
        None,
        description="A correct completion in the paper's format (<think>...</think>[calls] or "
        "<think>...</think>text), used by the supervised warm start.",
    )
    slice: str | None = Field(
        None,
        description="A named subset of an evaluation split whose accuracy is also reported on its own "
        "(the bundled validation's 'unseen_values': argument values that never occur in training).",
    )

    def prompt_key(self) -> dict[str, Any]:
        """What the model sees: the messages and the tools (the split hashes this)."""
        return {"messages": self.messages, "tools": self.tools}


def infer_category(ground_truth: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    """A BFCL-style category from the gold and the tools, for formats that carry none.

    No call: ``no_call``; one call: ``simple`` with one tool offered, else ``multiple``; several
    calls of one function: ``parallel``; of several functions: ``parallel_multiple``.
    """
    if not ground_truth:
        return "no_call"
    names = [name for call in ground_truth for name in call]
    if len(names) == 1:
        return "simple" if len(tools) == 1 else "multiple"
    return "parallel" if len(set(names)) == 1 else "parallel_multiple"
