"""Model text -> ``EnvCall``s, by the project's grammar: ``ast`` and literal values only.

BFCL's multi-turn answers are Python call lists, ``[cd(folder='docs'), sort('report.pdf')]``;
unlike the single-turn reward grammar, positional arguments are accepted here, because BFCL's
executor runs them and its ground truth uses them. Names may not be dotted, values must be
literals (strings, numbers, booleans, None, lists, tuples, dicts): nothing is ever evaluated.
"""

from __future__ import annotations

import ast

from envs.base import EnvCall
from reward.grammar import MAX_COMPLETION_CHARS, NotALiteral, keyword_values, literal_value


class CallSyntaxError(ValueError):
    """The text is not a list of calls with literal arguments."""


def parse_calls(text: str) -> list[EnvCall]:
    """``[f(1, x='a'), g()]`` (brackets optional, backticks stripped) -> calls; else CallSyntaxError."""
    if not isinstance(text, str):
        raise CallSyntaxError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_COMPLETION_CHARS:
        raise CallSyntaxError(f"answer longer than {MAX_COMPLETION_CHARS} characters")
    source = text.strip("`\n ").strip()
    if not source.startswith("["):
        source = "[" + source
    if not source.endswith("]"):
        source += "]"
    try:
        tree = compile(source, "<answer>", "eval", ast.PyCF_ONLY_AST).body
    except Exception as error:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        raise CallSyntaxError(f"not a call list: {type(error).__name__}") from None
    if type(tree) is not ast.List or not all(type(node) is ast.Call for node in tree.elts):
        raise CallSyntaxError("not a list of calls")
    try:
        return [_call(node) for node in tree.elts]
    except (NotALiteral, RecursionError) as error:
        raise CallSyntaxError(str(error) or "not a literal") from None


def parse_ground_truth_strings(strings: list[str], error: type[Exception]) -> list[EnvCall]:
    """A turn's ground-truth call strings, read by the grammar the model's calls go through; one
    outside it is a bug in the data, raised as ``error``."""
    calls = []
    for text in strings:
        try:
            calls.extend(parse_calls(text))
        except CallSyntaxError as problem:
            raise error(f"a ground-truth call outside the grammar: {text!r} ({problem})") from None
    return calls


def _call(node: ast.Call) -> EnvCall:
    if type(node.func) is not ast.Name:
        raise CallSyntaxError("a call target that is not a plain name")
    if any(type(arg) is ast.Starred for arg in node.args):
        raise CallSyntaxError("*args")
    return EnvCall(node.func.id, tuple(literal_value(arg) for arg in node.args), keyword_values(node))
