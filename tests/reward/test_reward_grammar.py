"""The completion grammar and the Eq. 3 score on hand-written completions."""

from __future__ import annotations

import pytest

from reward import check_calls, gold_to_calls, parse_completion, render_calls, score

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string", "description": "City name."},
            "days": {"type": "integer", "description": "Forecast days."},
            "scale": {"type": "float", "description": "A scale."},
            "units": {"type": "string", "description": "Units.", "enum": ["metric", "imperial"]},
        },
        "required": ["city"],
    },
}
GOLD = [
    {
        "get_weather": {
            "city": ["San Francisco, CA", "San Francisco"],
            "days": [3],
            "scale": ["", 2.0],
            "units": [""],
        }
    }
]


def completion(answer: str, think: str = "The user wants the weather.") -> str:
    return f"<think>{think}</think>\n{answer}"


# ---------------------------------------------------------------- think format
@pytest.mark.parametrize(
    "text",
    [
        "<think>x</think>[f(a=1)]",
        "  \n<think>\nx\n</think>\n\n[f(a=1)]\n",
        "<think></think>[f(a=1)]",
    ],
)
def test_one_think_block_at_the_start_is_the_format(text):
    parsed = parse_completion(text)
    assert parsed.format_ok
    assert parsed.calls == [{"name": "f", "arguments": {"a": 1}}]


@pytest.mark.parametrize(
    "text",
    [
        "[f(a=1)]",
        "Sure. <think>x</think>[f(a=1)]",
        "<think>x</think><think>y</think>[f(a=1)]",
        "<think>x</think>[f(a=1)]</think>",
        "<think>x [f(a=1)]",
        "</think><think>x</think>[f(a=1)]",
        "<think>x</think>",
        "<think>x</think>   \n",
    ],
)
def test_anything_else_fails_the_format_and_scores_zero(text):
    parsed = parse_completion(text)
    assert not parsed.format_ok
    docs = [
        {
            "name": "f",
            "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": []},
        }
    ]
    assert score(text, [{"f": {"a": [1]}}], docs) == 0.0
    assert score(text, [], docs) == 0.0


def test_think_text_is_returned_stripped():
    assert parse_completion("<think>\n  step one\n</think>\nNo tool fits.").think == "step one"


# ---------------------------------------------------------------- python answers
@pytest.mark.parametrize(
    ("answer", "arguments"),
    [
        (
            "[f(a='x', b=2, c=-3, d=-1.5, e=True, g=None)]",
            {"a": "x", "b": 2, "c": -3, "d": -1.5, "e": True, "g": None},
        ),
        (
            "[f(a=[1, [2, 'x']], b={'k': [1, {'z': None}]}, c=(1, 2))]",
            {"a": [1, [2, "x"]], "b": {"k": [1, {"z": None}]}, "c": (1, 2)},
        ),
        ("[f(a={1: 'x', -2: 'y', None: 0})]", {"a": {1: "x", -2: "y", None: 0}}),
        ("f(a=1)", {"a": 1}),
        ("```\n[f(a=1)]\n```", {"a": 1}),
        ("[f()]", {}),
        ("[f(a=1)", {"a": 1}),  # BFCL adds a missing bracket too
    ],
)
def test_literal_values_are_read_exactly(answer, arguments):
    assert parse_completion(completion(answer)).calls == [{"name": "f", "arguments": arguments}]


def test_dotted_names_and_several_calls():
    calls = parse_completion(completion("[math.stats.mean(xs=[1, 2]), g(y='z')]")).calls
    assert calls == [
        {"name": "math.stats.mean", "arguments": {"xs": [1, 2]}},
        {"name": "g", "arguments": {"y": "z"}},
    ]


def test_an_empty_list_is_an_empty_call_list():
    parsed = parse_completion(completion("[]"))
    assert parsed.calls == [] and not parsed.call_syntax


@pytest.mark.parametrize(
    "answer",
    [
        "[f(1)]",  # positional
        "[f(a=x)]",  # a bare name
        "[f(a=1+1)]",  # arithmetic
        "[f(a=g(b=1))]",  # a call as a value
        "[f(a=g())]",
        "[f(a=lambda: 1)]",
        "[f(a={1, 2})]",  # a set
        "[f(a=b'x')]",  # bytes
        "[f(a=1j)]",  # complex
        "[f(a=...)]",
        "[f(a=f'{x}')]",
        "[f(**kw)]",
        "[f(a={**d})]",
        "[f(a=[*xs])]",
        "[f(a=x.y)]",
        "[f(a=+1)]",
        "[f(a=-x)]",
        "[f(a=not True)]",
        "[f(a={[1]: 2})]",  # an unhashable key
        "[f(a=1)[0]]",
        "[f()()]",
        "[x[0](a=1)]",
        "[(lambda: 1)()]",
    ],
)
def test_non_literals_are_a_format_failure_of_the_answer_not_an_exception(answer):
    parsed = parse_completion(completion(answer))
    assert parsed.format_ok and parsed.calls is None


@pytest.mark.parametrize(
    "answer", ["[f(a=1), 3]", "[f(a=1)] + [g()]", "I cannot help with that.", "[[f(a=1)]]"]
)
def test_answers_that_are_not_call_lists(answer):
    parsed = parse_completion(completion(answer))
    assert parsed.calls is None and not parsed.call_syntax


# ---------------------------------------------------------------- hermes answers
def test_hermes_blocks_are_read():
    answer = '<tool_call>{"name": "f", "arguments": {"a": 1, "b": [1.5, "x"]}}</tool_call>\n<tool_call>{"name": "g", "arguments": {}}</tool_call>'
    calls = parse_completion(completion(answer), fmt="hermes").calls
    assert calls == [{"name": "f", "arguments": {"a": 1, "b": [1.5, "x"]}}, {"name": "g", "arguments": {}}]


@pytest.mark.parametrize(
    "answer",
    [
        'Calling f. <tool_call>{"name": "f", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": {}}',
        '<tool_call>{"name": "f", "arguments": "{}"}</tool_call>',
        '<tool_call>{"name": "f"}</tool_call>',
        '<tool_call>{"name": "f", "arguments": {}, "id": 1}</tool_call>',
        '<tool_call>{"name": 3, "arguments": {}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": {"a": NaN}}</tool_call>',
        "<tool_call>[f(a=1)]</tool_call>",
    ],
)
def test_malformed_hermes_blocks_are_calls_that_fail(answer):
    parsed = parse_completion(completion(answer), fmt="hermes")
    assert parsed.calls is None and parsed.call_syntax
    assert score(completion(answer), [], [WEATHER], fmt="hermes") == 0.0


def test_hermes_plain_text_is_no_call():
    parsed = parse_completion(completion("No function fits this request."), fmt="hermes")
    assert parsed.format_ok and parsed.calls is None and not parsed.call_syntax


def test_unknown_format_is_a_caller_error():
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        parse_completion("<think>x</think>y", fmt="xml")


# ---------------------------------------------------------------- score (Eq. 3)
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("[get_weather(city='San Francisco, CA', days=3)]", 1.0),
        ("[get_weather(city='san francisco', days=3)]", 1.0),  # case, spaces and commas normalised
        ("[get_weather(city='San Francisco', days=3, scale=2)]", 1.0),  # int accepted for a float
        ("[get_weather(city='San Francisco', days=3.0)]", 0.0),  # float is not an integer
        ("[get_weather(city='San Francisco', days='3')]", 0.0),
        ("[get_weather(city='San Francisco!', days=3)]", 0.0),  # other punctuation counts
        ("[get_weather(city='San Francisco')]", 0.0),  # a gold param without "" is missing
        ("[get_weather(city='San Francisco', days=3, units='metric')]", 0.0),  # only "" is acceptable
        ("[get_weather(city='San Francisco', days=3, wind=True)]", 0.0),  # not in the schema
        ("[get_weather(city='San Francisco', days=3), get_weather(city='Paris', days=3)]", 0.0),
        ("[Get_Weather(city='San Francisco', days=3)]", 0.0),  # names are case-sensitive
        ("No tool fits.", 0.0),
    ],
)
def test_score_follows_the_bfcl_rules(answer, expected):
    assert score(completion(answer), GOLD, [WEATHER]) == expected


def test_parallel_calls_match_in_any_order_all_or_nothing():
    gold = [
        {"get_weather": {"city": ["Paris"], "days": [1]}},
        {"get_weather": {"city": ["Rome"], "days": [2]}},
    ]
    both = "[get_weather(city='Rome', days=2), get_weather(city='Paris', days=1)]"
    assert score(completion(both), gold, [WEATHER]) == 1.0
    assert score(completion(both), gold, [WEATHER], category="parallel") == 1.0
    assert score(completion("[get_weather(city='Rome', days=2)]"), gold, [WEATHER]) == 0.0
    wrong_one = "[get_weather(city='Rome', days=2), get_weather(city='Paris', days=2)]"
    assert score(completion(wrong_one), gold, [WEATHER]) == 0.0


def test_no_call_expected_judges_only_that_no_call_is_made():
    assert score(completion("The request lacks the city; which one?"), [], [WEATHER]) == 1.0
    assert score(completion("[]"), [], [WEATHER]) == 1.0
    assert score(completion("[get_weather(city='Paris')]"), [], [WEATHER]) == 0.0
    assert score(completion("[get_weather(city=Paris)]"), [], [WEATHER]) == 0.0  # a malformed call is a call
    assert score("No think block.", [], [WEATHER]) == 0.0


def test_hermes_score():
    answer = render_calls(gold_to_calls(GOLD), "hermes")
    assert score(completion(answer), GOLD, [WEATHER], fmt="hermes") == 1.0
    assert score(completion(answer), GOLD, [WEATHER], fmt="python") == 0.0


def test_check_calls_without_category_picks_the_gold_functions_doc():
    other = {**WEATHER, "name": "get_time"}
    calls = [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]
    gold = [{"get_weather": {"city": ["Paris"], "days": [3]}}]
    assert check_calls(calls, gold, [other, WEATHER])
    assert not check_calls(calls, gold, [other, WEATHER], category="simple")  # BFCL: the first doc


@pytest.mark.parametrize(
    ("calls", "gold", "functions"),
    [
        ([{"name": "f"}], [{"f": {}}], [WEATHER]),
        (["f"], [{"f": {}}], [WEATHER]),
        ([{"name": "get_weather", "arguments": {"city": "x"}}], [{"nope": {}}], [WEATHER]),
        ([{"name": "get_weather", "arguments": {"city": "x"}}], [{"get_weather": {"city": ["x"]}}], []),
        (
            [{"name": "f", "arguments": {"a": 1}}],
            [{"f": {"a": [1]}}],
            [{"name": "f", "parameters": {"properties": {"a": {"type": "number"}}}}],
        ),
        (
            [{"name": "f", "arguments": {"a": [1]}}],
            [{"f": {"a": [[1]]}}],
            [{"name": "f", "parameters": {"properties": {"a": {"type": "array"}}}}],
        ),
        (None, [{"f": {}}], None),
    ],
)
def test_malformed_inputs_are_a_false_verdict_never_an_exception(calls, gold, functions):
    assert check_calls(calls, gold, functions) is False


def test_a_doc_without_required_requires_nothing():
    doc = {"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}}}
    assert check_calls([{"name": "f", "arguments": {"a": 1}}], [{"f": {"a": [1]}}], [doc])


def test_code_in_an_answer_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for answer in [
        "[__import__('os').system('touch x')]",
        "__import__('os').system('touch x')",
        "[f(a=__import__('os').system('touch x'))]",
    ]:
        assert score(completion(answer), [{"f": {"a": [0]}}], [WEATHER]) == 0.0
        assert score(completion(answer), [], [WEATHER]) == 0.0  # shaped like a call: not "no call"
    assert list(tmp_path.iterdir()) == []


def test_memoised_parsing_is_not_affected_by_callers_mutating_results():
    text = completion("[get_weather(city='Paris', days=3)]")
    gold = [{"get_weather": {"city": ["Paris"], "days": [3]}}]
    assert score(text, gold, [WEATHER]) == 1.0
    parse_completion(text).calls[0]["arguments"]["days"] = 4  # a fresh object, not the memoised one
    assert score(text, gold, [WEATHER]) == 1.0


def test_long_answers_score_the_same_without_the_cache():
    city = "Paris " * 1_000  # over reward.grammar.CACHED_ANSWER_CHARS
    text = completion(f"[get_weather(city={city!r}, days=3)]")
    assert score(text, [{"get_weather": {"city": [city], "days": [3]}}], [WEATHER]) == 1.0
    assert score(text, [{"get_weather": {"city": ["Paris"], "days": [3]}}], [WEATHER]) == 0.0
