"""Function calls as data: rendering a call list as answer text, and a concrete call from a gold answer.

A call is ``{"name": str, "arguments": dict}``. The gold is BFCL's possible-answer form
``[{name: {param: [acceptable values]}}]`` where ``""`` among the acceptable values marks a
parameter that may be omitted (see ``docs/bfcl-checker.md``).
"""

from __future__ import annotations

import json
from typing import Any

from reward.prompt import OutputFormat


def render_calls(calls: list[dict[str, Any]], fmt: OutputFormat = "python") -> str:
    """The answer text for ``calls`` in output format ``fmt``.

    ``python``: the paper's call list ``[f(a=1, b='x'), g(c=[1, 2])]`` (values as Python literals).
    ``hermes``: one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` block per call,
    joined by newlines.
    """
    if fmt == "python":
        return "[" + ", ".join(_python_call(call) for call in calls) + "]"
    if fmt == "hermes":
        return "\n".join(_hermes_call(call) for call in calls)
    raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")


def _python_call(call: dict[str, Any]) -> str:
    arguments = ", ".join(f"{key}={value!r}" for key, value in call["arguments"].items())
    return f"{call['name']}({arguments})"


def _hermes_call(call: dict[str, Any]) -> str:
    body = json.dumps({"name": call["name"], "arguments": call["arguments"]}, ensure_ascii=False)
    return f"<tool_call>{body}</tool_call>"


def gold_to_calls(ground_truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One concrete call list from a BFCL possible answer: the first acceptable value of each param.

    A param whose first acceptable value is ``""`` (optional) is omitted. Dict values (BFCL writes
    them ``{key: [acceptable...]}``) and lists of such dicts are resolved recursively the same way.
    """
    calls = []
    for gold_call in ground_truth:
        for name, params in gold_call.items():
            calls.append({"name": name, "arguments": _first_acceptable_params(params)})
    return calls


def _first_acceptable_params(params: dict[str, list[Any]]) -> dict[str, Any]:
    arguments = {}
    for param, acceptable in params.items():
        if not isinstance(acceptable, list):
            arguments[param] = acceptable
        elif acceptable and acceptable[0] != "":
            arguments[param] = _resolve_gold_value(acceptable[0])
    return arguments


def _resolve_gold_value(value: Any) -> Any:
    """A gold value made concrete: dicts hold acceptable lists per key, lists may hold such dicts."""
    if isinstance(value, dict):
        return _first_acceptable_params(value)
    if isinstance(value, list):
        return [_resolve_gold_value(item) if isinstance(item, dict) else item for item in value]
    return value
