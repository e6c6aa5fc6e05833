"""Property tests: any text and any nested literal is scored 0.0 or 1.0, never raises, never runs code."""

from __future__ import annotations

import keyword
import math
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward import check_calls, parse_completion, render_calls, score

DOC = {
    "name": "f",
    "parameters": {
        "type": "dict",
        "properties": {
            "a": {"type": "any"},
            "b": {"type": "array", "items": {"type": "string"}},
            "c": {"type": "dict"},
            "d": {"type": "float"},
        },
        "required": [],
    },
}
GOLD = [{"f": {"a": ["x"], "b": ["", ["y"]], "c": ["", {"k": ["v"]}], "d": ["", 1.5]}}]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
literals = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=25,
)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s)
)
calls = st.lists(
    st.builds(
        lambda name, args: {"name": name, "arguments": args},
        identifiers,
        st.dictionaries(identifiers, literals, max_size=4),
    ),
    max_size=3,
)
fragments = st.sampled_from(
    [
        "<think>",
        "</think>",
        "[",
        "]",
        "(",
        ")",
        "f",
        "g.h",
        "(a=",
        "=",
        ",",
        "'x'",
        '"y"',
        "1",
        "-2.5",
        "None",
        "True",
        "{",
        "}",
        ":",
        "<tool_call>",
        "</tool_call>",
        '{"name": "f", "arguments": {}}',
        "\n",
        " ",
        "`",
        "__import__('os').system('touch pwned')",
        'exec(\'open("pwned", "w")\')',
        "lambda: 0",
        "*",
        "**",
        "\\",
        "#",
    ]
)
grammar_like_text = st.lists(fragments, max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), grammar_like_text)


def _is_reward(value: float) -> bool:
    return value in (0.0, 1.0) and type(value) is float


@SETTINGS
@given(text=any_text, fmt=st.sampled_from(["python", "hermes"]), gold=st.sampled_from([GOLD, []]))
def test_any_text_scores_zero_or_one_and_runs_nothing(text, fmt, gold):
    with tempfile.TemporaryDirectory() as folder:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            assert _is_reward(score(text, gold, [DOC], fmt=fmt))
            assert _is_reward(score("<think>t</think>" + text, gold, [DOC], fmt=fmt))
            parse_completion(text, fmt)
        finally:
            os.chdir(previous)
        assert list(Path(folder).iterdir()) == []


@SETTINGS
@given(call_list=calls)
def test_any_literal_call_list_round_trips_through_the_python_grammar(call_list):
    parsed = parse_completion("<think>t</think>" + render_calls(call_list))
    if _plain(call_list):
        assert parsed.calls == call_list
    assert _is_reward(score("<think>t</think>" + render_calls(call_list), GOLD, [DOC]))


@SETTINGS
@given(call_list=calls)
def test_any_literal_call_list_round_trips_through_the_hermes_grammar(call_list):
    text = "<think>t</think>" + (render_calls(call_list, "hermes") or "no call")
    parsed = parse_completion(text, fmt="hermes")
    if call_list and _plain(call_list):
        assert parsed.calls is not None and [c["name"] for c in parsed.calls] == [
            c["name"] for c in call_list
        ]
    assert _is_reward(score(text, GOLD, [DOC], fmt="hermes"))


@SETTINGS
@given(value=literals, gold_value=literals, call_list=calls)
def test_check_calls_gives_a_bool_for_any_literals(value, gold_value, call_list):
    for param in "abcd":
        call = [{"name": "f", "arguments": {param: value}}]
        assert check_calls(call, [{"f": {param: [gold_value, ""]}}], [DOC]) in (True, False)
        assert check_calls(call, [{"f": {param: gold_value}}], [DOC], category="simple") in (True, False)
    assert check_calls(call_list, GOLD * 2, [DOC], category="parallel") in (True, False)
    assert check_calls(call_list, [{"f": {"b": [gold_value]}}], [DOC]) in (True, False)


@SETTINGS
@given(
    junk=st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(max_size=5), inner)),
        max_leaves=15,
    )
)
def test_check_calls_never_raises_on_junk(junk):
    assert check_calls(junk, junk, junk) is False or check_calls(junk, junk, junk) is True
    assert check_calls([{"name": "f", "arguments": {"a": "x"}}], junk, [DOC]) in (True, False)
    assert check_calls([{"name": "f", "arguments": {"a": "x"}}], GOLD, junk) in (True, False)


def test_deeply_nested_input_is_a_format_failure_not_a_crash():
    for depth in (150, 1_000, 100_000):
        nested = "[f(a=" + "[" * depth + "]" * depth + ")]"
        assert _is_reward(score("<think>t</think>" + nested, GOLD, [DOC]))
        hermes = '<tool_call>{"name": "f", "arguments": {"a": ' + "[" * depth + "]" * depth + "}}</tool_call>"
        assert _is_reward(score("<think>t</think>" + hermes, GOLD, [DOC], fmt="hermes"))
    assert score("<think>t</think>[f(a=" + "9" * 5000 + ")]", GOLD, [DOC]) == 0.0
    assert score(None, GOLD, [DOC]) == 0.0  # type: ignore[arg-type]
    assert score(b"<think>t</think>[f(a='x')]", GOLD, [DOC]) == 0.0  # type: ignore[arg-type]


def _plain(call_list: list[dict]) -> bool:
    """Finite numbers and no grammar tags inside values (a tag in a value breaks the format by design)."""
    text = repr(call_list)
    tags = ("<think>", "</think>", "<tool_call>", "</tool_call>")
    return all(_finite(call["arguments"]) for call in call_list) and not any(tag in text for tag in tags)


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(k) and _finite(v) for k, v in value.items())
    return True


def test_text_over_the_cap_scores_zero_unparsed_in_constant_time():
    import time

    from reward import parse_completion
    from reward.grammar import MAX_COMPLETION_CHARS

    functions = [
        {
            "name": "f",
            "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        }
    ]
    gold = [{"f": {"a": [1]}}]
    right = "<think>t</think>[f(a=1)]"
    assert (
        score(right + " " * (MAX_COMPLETION_CHARS - len(right)), gold, functions) == 1.0
    )  # at the cap: judged
    over = right + " " * (MAX_COMPLETION_CHARS + 1 - len(right))
    assert score(over, gold, functions) == 0.0 and not parse_completion(over).format_ok
    huge = "<think>t</think>[" + ", ".join(["f(a=1)"] * 1_300_000) + "]"  # ~10 MB, call-shaped
    started = time.perf_counter()
    assert score(huge, gold, functions) == 0.0
    assert time.perf_counter() - started < 0.05
