"""The system prompt with the tool list, in two answer formats and three styles.

``paper`` is the paper's prompt (its Fig. 8, paraphrased) with the tools as JSON: what every real
model is trained with. ``compact`` is a two-sentence instruction with the tools as one-line
signatures, about a third of the length. ``signatures`` is the signatures alone, with no instruction:
for the tiny model built from scratch, whose cost and reach grow with the prompt (a 490-token paper
prompt is mostly text it has to learn to skip, and a fixed instruction tells it nothing).

The template text is versioned: a change to it changes what a trained model expects, so bump
``SYSTEM_PROMPT_VERSION`` with any edit.
"""

from __future__ import annotations

import json
from typing import Any, Literal

SYSTEM_PROMPT_VERSION = "egpo-v1"

PromptStyle = Literal["paper", "compact", "signatures"]

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


_COMPACT_RULES = {
    "python": "Reason inside <think></think>, then answer [func(param=value, ...)].",
    "hermes": 'Reason inside <think></think>, then answer <tool_call>{"name": ..., "arguments": {...}}</tool_call> per call.',
}
_COMPACT_INTRO = (
    "Call the functions that fit the request. {rules} If none fits or a required value is missing, say so.\n"
)


def render_system_prompt(
    functions: list[dict[str, Any]], fmt: OutputFormat = "python", style: PromptStyle = "paper"
) -> str:
    """The system prompt listing ``functions`` (BFCL-style docs) for answer format ``fmt``.

    ``style="paper"`` lists them as JSON after the paper's instructions; ``"compact"`` as signatures
    after a two-sentence instruction; ``"signatures"`` as signatures alone.
    """
    if fmt not in ("python", "hermes"):
        raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")
    if style in ("compact", "signatures"):
        signatures = "\n".join(function_signature(f) for f in functions)
        intro = _COMPACT_INTRO.format(rules=_COMPACT_RULES[fmt]) if style == "compact" else ""
        return f"{intro}Functions:\n{signatures}\n"
    if style != "paper":
        raise ValueError(f"unknown prompt style {style!r}: expected 'paper', 'compact' or 'signatures'")
    rules = _PYTHON_FORMAT if fmt == "python" else _HERMES_FORMAT
    tools = json.dumps(functions, ensure_ascii=False)
    return f"{_INTRO}{rules}Here is a list of functions in JSON format that you can invoke.\n{tools}\n"


def function_signature(function: dict[str, Any]) -> str:
    """One line for a BFCL-style function doc: ``name(a: string, b: integer = None) - description``.

    A parameter that is not required shows ``= None``; an enum lists its values.
    """
    schema = function.get("parameters", {})
    required = set(schema.get("required", []))
    params = []
    for name, spec in schema.get("properties", {}).items():
        text = f"{name}: {spec.get('type', 'any')}"
        if "enum" in spec:
            text += f" in {json.dumps(spec['enum'], ensure_ascii=False)}"
        params.append(text if name in required else f"{text} = None")
    description = function.get("description", "")
    return f"{function['name']}({', '.join(params)})" + (f" - {description}" if description else "")
