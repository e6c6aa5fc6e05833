"""The completion grammar: a think block, then an answer that is either a call list or plain text.

    <think> reasoning ... </think>
    [func_a(x=1, y='s'), func_b(z=[1, 2])]                  (fmt="python", the paper's format)
    <tool_call>{"name": "func_a", "arguments": {...}}</tool_call>   (fmt="hermes")

Model text is data: the Python answer is read with ``ast.parse`` and only literal values are
accepted (strings, numbers, booleans, None, lists, tuples, dicts, negative numbers). Nothing is
ever evaluated. Anything outside the grammar is a format failure, never an exception.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

from reward.prompt import OutputFormat

# Completions longer than this are not parsed (score 0, no call list), in constant time: parsing is
# linear in the text (1 MB took 2.3 s, 10 MB 12-38 s), and a right answer is never near this long.
# 64 KiB is twice the ~32 KB of the paper's longest response (8,192 tokens at ~4 characters each).
MAX_COMPLETION_CHARS = 64 * 1024

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_SCALARS = (str, int, float, bool, type(None))
_ONLY_AST = ast.PyCF_ONLY_AST
_TOOL_CALL_BLOCK = re.compile(r"\s*<tool_call>(.*?)</tool_call>\s*", re.DOTALL)


class NotALiteral(ValueError):
    """The answer holds something other than a literal call list."""


class ParsedCompletion(NamedTuple):
    """A completion split by the grammar.

    ``format_ok``: exactly one ``<think>...</think>`` block at the start, followed by a non-empty answer.
    ``think``: the reasoning text (None when the think block is malformed).
    ``calls``: the answer as ``[{"name", "arguments"}]`` when it is a call list of literals, else None.
    ``answer``: the text after ``</think>`` (None when the think block is malformed).
    ``call_syntax``: the answer is shaped like a non-empty call list, even if its arguments are not
    literals (used by the no-call rule, so that a malformed call still counts as a call).
    """

    format_ok: bool
    think: str | None
    calls: list[dict[str, Any]] | None
    answer: str | None = None
    call_syntax: bool = False


_MALFORMED = ParsedCompletion(format_ok=False, think=None, calls=None)


def parse_completion(text: str, fmt: OutputFormat = "python") -> ParsedCompletion:
    """Split ``text`` into think and answer, and read the answer's calls in format ``fmt``."""
    if fmt not in ("python", "hermes"):
        raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")
    if not isinstance(text, str) or len(text) > MAX_COMPLETION_CHARS:  # unparsed, as score() does
        return _MALFORMED
    think, answer = split_think(text)
    if think is None or answer is None:
        return _MALFORMED
    calls, call_syntax = parse_answer(answer, fmt)
    return ParsedCompletion(bool(answer), think, calls, answer, call_syntax)


def parse_answer(answer: str, fmt: OutputFormat = "python") -> tuple[list[dict[str, Any]] | None, bool]:
    """``(calls or None, call_syntax)`` for the answer text in format ``fmt``."""
    return parse_python_calls(answer) if fmt == "python" else parse_hermes_calls(answer)


CACHED_ANSWER_CHARS = 4096  # longer answers are parsed uncached, so the cache stays small (< ~40 MB)


def parse_answer_shared(
    answer: str, fmt: OutputFormat = "python"
) -> tuple[list[dict[str, Any]] | None, bool]:
    """``parse_answer`` memoised for answers up to ``CACHED_ANSWER_CHARS`` characters.

    The same answer text recurs within a GRPO group and is parsed once. The returned calls are
    shared between callers and must not be mutated (the checker never does).
    """
    if len(answer) > CACHED_ANSWER_CHARS:
        return parse_answer(answer, fmt)
    return _parse_answer_cached(answer, fmt)


@lru_cache(maxsize=8192)
def _parse_answer_cached(answer: str, fmt: OutputFormat) -> tuple[list[dict[str, Any]] | None, bool]:
    return parse_answer(answer, fmt)


def clear_parse_cache() -> None:
    """Forget every memoised answer (benchmarks use it so no repeat reuses an earlier parse)."""
    _parse_answer_cached.cache_clear()


def split_think(text: str) -> tuple[str | None, str | None]:
    """``(think, answer)`` when ``text`` is one think block at the start then an answer; else Nones."""
    body = text.strip()
    if not body.startswith(THINK_OPEN) or text.count(THINK_OPEN) != 1 or text.count(THINK_CLOSE) != 1:
        return None, None
    think, separator, answer = body[len(THINK_OPEN) :].partition(THINK_CLOSE)
    if not separator:
        return None, None
    return think.strip(), answer.strip()


def parse_python_calls(answer: str) -> tuple[list[dict[str, Any]] | None, bool]:
    """The paper's call list ``[f(a=1), g(b='x')]`` -> ``(calls or None, call_syntax)``.

    The answer is prepared as BFCL's prompt-mode decoder does (backticks, newlines and spaces
    stripped at both ends, ``[...]`` added where missing), then read with ``ast.parse``.
    Stricter than BFCL: positional arguments, ``**kwargs``, names, calls or expressions as
    values are format failures (BFCL drops positional arguments and evaluates some expressions).
    """
    source = answer.strip("`\n ").strip()
    if not source.startswith("["):
        source = "[" + source
    if not source.endswith("]"):
        source = source + "]"
    try:
        tree = compile(source, "<answer>", "eval", _ONLY_AST).body  # ast.parse without its wrapper
    except Exception:  # SyntaxError, ValueError (NUL bytes, huge ints), RecursionError, MemoryError
        return None, False
    if type(tree) is not ast.List:
        return None, False
    for node in tree.elts:
        if type(node) is not ast.Call:
            return None, False
    call_syntax = bool(tree.elts)
    try:
        return [_call_from_node(node) for node in tree.elts], call_syntax
    except (NotALiteral, RecursionError):
        return None, call_syntax


def _call_from_node(node: ast.Call) -> dict[str, Any]:
    if node.args:
        raise NotALiteral("positional arguments")
    return {"name": _dotted_name(node.func), "arguments": keyword_values(node)}


def keyword_values(node: ast.Call) -> dict[str, Any]:
    """A call's keyword arguments as literal values (``**mapping`` or a non-literal raises NotALiteral)."""
    arguments = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise NotALiteral("**kwargs")
        arguments[keyword.arg] = literal_value(keyword.value)
    return arguments


def _dotted_name(node: ast.expr) -> str:
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        raise NotALiteral("a call target that is not a (dotted) name")
    parts.append(node.id)
    return ".".join(reversed(parts))


def literal_value(node: ast.expr) -> Any:
    """The value of a literal node; anything that would need evaluation raises NotALiteral."""
    kind = type(node)
    if kind is ast.Constant:
        if type(node.value) in _SCALARS:
            return node.value
    elif kind is ast.List:
        return [literal_value(item) for item in node.elts]
    elif kind is ast.Dict:
        return {
            _dict_key(key): literal_value(value) for key, value in zip(node.keys, node.values, strict=True)
        }
    elif kind is ast.Tuple:
        return tuple(literal_value(item) for item in node.elts)
    elif kind is ast.UnaryOp and type(node.op) is ast.USub:
        operand = node.operand
        if type(operand) is ast.Constant and type(operand.value) in (int, float):
            return -operand.value
    raise NotALiteral(f"not a literal: {kind.__name__}")


def _dict_key(node: ast.expr | None) -> Any:
    if node is None:
        raise NotALiteral("**mapping in a dict")
    key = literal_value(node)
    if type(key) not in _SCALARS:
        raise NotALiteral("a dict key that is not a string, number, boolean or None")
    return key


def parse_hermes_calls(answer: str) -> tuple[list[dict[str, Any]] | None, bool]:
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks -> ``(calls or None, call_syntax)``.

    The answer must be only such blocks (whitespace between them); each block one JSON object with
    exactly the keys ``name`` (a string) and ``arguments`` (an object). Text with no ``<tool_call>``
    is a plain answer (no calls).
    """
    if TOOL_CALL_OPEN not in answer and TOOL_CALL_CLOSE not in answer:
        return None, False
    calls: list[dict[str, Any]] = []
    position = 0
    while position < len(answer):
        block = _TOOL_CALL_BLOCK.match(answer, position)
        if block is None:
            return None, True
        call = _hermes_call(block.group(1))
        if call is None:
            return None, True
        calls.append(call)
        position = block.end()
    return calls, True


def _reject_constant(token: str) -> Any:
    raise NotALiteral(f"{token} is not JSON")


def _hermes_call(body: str) -> dict[str, Any] | None:
    try:
        call = json.loads(body, parse_constant=_reject_constant)
    except Exception:  # JSONDecodeError, NotALiteral, RecursionError, huge ints
        return None
    if type(call) is not dict or set(call) != {"name", "arguments"}:
        return None
    if type(call["name"]) is not str or type(call["arguments"]) is not dict:
        return None
    return {"name": call["name"], "arguments": call["arguments"]}
