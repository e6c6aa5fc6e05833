"""The paper's strict binary reward (Eq. 3): 1 when format AND answer are right, else 0.

egpo-spec.md Sec. 2: the format is one ``<think>...</think>`` block at the start followed by the
answer. With gold calls, the answer must parse as a call list matching the gold under BFCL's AST
rules. With no gold call (irrelevance, missing parameters), the answer is right iff it is not a
call list; its text is not judged. No partial credit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from reward.checker import check_calls
from reward.grammar import MAX_COMPLETION_CHARS, ParsedCompletion, parse_answer_shared, split_think
from reward.prompt import OutputFormat


class Verdict(NamedTuple):
    """What scoring one completion found: the reward (Eq. 3) and whether the answer is shaped like a
    call list, right or wrong (the call rate's numerator; False when the format already fails)."""

    reward: float
    call_syntax: bool


def score(
    text: str,
    ground_truth: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    category: str | None = None,
    fmt: OutputFormat = "python",
) -> float:
    """Eq. 3 on a full completion: 1.0 or 0.0, never an exception (malformed input scores 0.0,
    and so does text over ``MAX_COMPLETION_CHARS``, unparsed).

    ``ground_truth`` is BFCL's possible answer (``[]``: no call expected); ``category`` a BFCL
    category name or None (rule inferred from the gold, see ``check_calls``). An unknown ``fmt``
    is a caller error (ValueError).
    """
    return judge(text, ground_truth, functions, category, fmt).reward


def judge(
    text: str,
    ground_truth: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    category: str | None = None,
    fmt: OutputFormat = "python",
) -> Verdict:
    """``score`` with what the parse found on the way: the reward and the answer's call syntax."""
    if fmt not in ("python", "hermes"):
        raise ValueError(f"unknown output format {fmt!r}: expected 'python' or 'hermes'")
    if not isinstance(text, str) or len(text) > MAX_COMPLETION_CHARS:
        return Verdict(0.0, False)
    call_syntax = False
    try:
        think, answer = split_think(text)
        if think is None or not answer:
            return Verdict(0.0, False)
        calls, call_syntax = parse_answer_shared(answer, fmt)
        parsed = ParsedCompletion(True, think, calls, answer, call_syntax)
        right = answer_correct(parsed, ground_truth, functions, category)
        return Verdict(1.0 if right else 0.0, call_syntax)
    except Exception:
        return Verdict(0.0, call_syntax)


def expects_no_call(ground_truth: list[dict[str, Any]], category: str | None = None) -> bool:
    """Whether the right answer is no call at all: an irrelevance category, or an empty gold outside
    the relevance category (where any well-formed call is right)."""
    name = category or ""
    return "irrelevance" in name or (not ground_truth and "relevance" not in name)


def answer_correct(
    parsed: ParsedCompletion,
    ground_truth: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    category: str | None = None,
) -> bool:
    """The answer half of Eq. 3 on a parsed completion.

    No call expected (an irrelevance category, or an empty gold outside the relevance category):
    right iff the answer is not shaped like a non-empty call list; a call with non-literal
    arguments still counts as a call, so it cannot pass as "no call". Relevance: right iff at least
    one call parses. Otherwise ``check_calls`` decides.
    """
    if expects_no_call(ground_truth, category):
        return not parsed.call_syntax
    if parsed.calls is None:
        return False
    return check_calls(parsed.calls, ground_truth, functions, category)
