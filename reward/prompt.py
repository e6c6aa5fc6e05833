"""The paper's system prompt (its Fig. 8, paraphrased) with the tool list, in two answer formats.

The template text is versioned: a change to it changes what a trained model expects, so bump
``SYSTEM_PROMPT_VERSION`` with any edit.
"""

from __future__ import annotations

import json
from typing import Any, Literal

SYSTEM_PROMPT_VERSION = "egpo-v1"

OutputFormat = Literal["python", "hermes"]

_INTRO = (
    "You are an expert in composing functions. You are given a question and a set of possible "
    "functions. Based on the question, you will need to make one or more function/tool calls to "
    "achieve the purpose. If none of the functions can be used, point it out. If the given question "
    "lacks the parameters required by the function, also point it out.\n"
)

_PYTHON_FORMAT = (
    "In each step, first reason inside <think></think>, then give the calls in the format "
    "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]. "
    "If no function fits, or required parameters are missing, say so after </think> instead of "
    "calling. Keep every argument of the type the function expects.\n"
)

_HERMES_FORMAT = (
    "In each step, first reason inside <think></think>, then give each call as "
    '<tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>. '
    "If no function fits, or required parameters are missing, say so after </think> instead of "
    "calling. Keep every argument of the type the function expects.\n"
)


def render_system_prompt(functions: list[dict[str, Any]], fmt: OutputFormat = "python") -> str:
    """The system prompt listing ``functions`` (BFCL-style docs) as JSON, for answer format ``fmt``."""
    if fmt not in ("python", "hermes"):
        raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")
    rules = _PYTHON_FORMAT if fmt == "python" else _HERMES_FORMAT
    tools = json.dumps(functions, ensure_ascii=False)
    return f"{_INTRO}{rules}Here is a list of functions in JSON format that you can invoke.\n{tools}\n"
