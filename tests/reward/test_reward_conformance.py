"""Conformance of the reward's checker with BFCL's own ``ast_checker`` (the oracle).

Every ground truth of BFCL's single-turn AST categories is rendered as calls and mutated in the
ways a model gets a call wrong (or differently right); every verdict must equal the oracle's.
"""

from __future__ import annotations

import copy
import json
import keyword
import random
import time
from collections import Counter
from typing import Any

import pytest

from reward import check_calls, gold_to_calls, parse_completion, render_calls, score
from reward.checker import checker_category
from reward.score import expects_no_call
from tests import bfcl_oracle as oracle

pytestmark = pytest.mark.skipif(not oracle.available(), reason="bfcl-eval is not installed")

Calls = list[dict[str, Any]]


# ---------------------------------------------------------------- value mutations
def value_variants(value: Any) -> list[Any]:
    """Wrong values, wrong types, int/float swaps, string case/punctuation, list order, dict edits."""
    variants: list[Any] = [None]
    kind = type(value)
    if kind is str:
        variants += [
            value + "zz",
            value.upper(),
            value.lower(),
            value.replace(" ", ""),
            value.replace(" ", "-"),
            value.replace(" ", "_"),
            value + "!",
            value + ".",
            value.replace("'", '"'),
            f"'{value}'",
            "",
            1,
            [value],
        ]
        if value.isdigit():
            variants += [int(value), float(value)]
    elif kind is bool:
        variants += [not value, int(value), str(value), str(value).lower()]
    elif kind is int:
        variants += [value + 1, -value, float(value), str(value), value == 1]
    elif kind is float:
        variants += [value + 0.5, -value, str(value)]
        if value.is_integer():
            variants.append(int(value))
    elif kind is list:
        variants += [list(reversed(value)), value[:-1], value + value[-1:], tuple(value), str(value)]
        variants += [[_first_variant(item) for item in value]]
        variants += [[float(i) if type(i) is int else i for i in value]]
        variants += [[int(i) if type(i) is float and i.is_integer() else i for i in value]]
        if value and type(value[0]) is dict:
            variants += [[_dict_variants(value[0])[0]] + value[1:]] if _dict_variants(value[0]) else []
    elif kind is tuple:
        variants += [list(value), tuple(reversed(value))]
    elif kind is dict:
        variants += _dict_variants(value) + [list(value.items()), json.dumps(value)]
    return variants


def _first_variant(item: Any) -> Any:
    if type(item) is str:
        return item.upper() + "x" if len(item) < 3 else item.upper()
    if type(item) is int and type(item) is not bool:
        return item + 1
    return item


def _dict_variants(value: dict) -> list[dict]:
    variants = [{**value, "unexpected_key": 1}]
    for key, item in value.items():
        variants.append({k: v for k, v in value.items() if k != key})
        for changed in value_variants(item)[1:4]:
            variants.append({**value, key: changed})
    return variants


# ---------------------------------------------------------------- call-list mutations
def call_mutations(entry: dict, category: str) -> list[tuple[str, Calls]]:
    """Labelled call lists for one BFCL entry, starting with the rendered gold."""
    gold = entry["ground_truth"]
    calls = gold_to_calls(gold)
    docs = {doc["name"]: doc for doc in entry["function"]}
    cases: list[tuple[str, Calls]] = [("gold", calls), ("no call", [])]
    for i, call in enumerate(calls):
        gold_params = next(iter(gold[i].values()))
        properties = docs.get(call["name"], {}).get("parameters", {}).get("properties", {})
        cases += [
            (f"call {i}: {label}", _replace(calls, i, new))
            for label, new in _single_mutations(call, gold_params, properties)
        ]
    cases += _list_mutations(calls, entry["function"])
    return cases


def _replace(calls: Calls, index: int, call: dict) -> Calls:
    return calls[:index] + [call] + calls[index + 1 :]


def _single_mutations(call: dict, gold_params: dict, properties: dict) -> list[tuple[str, dict]]:
    name, args = call["name"], call["arguments"]
    out = [
        ("wrong name", {"name": name + "_x", "arguments": args}),
        ("name case", {"name": name.upper(), "arguments": args}),
        ("extra arg", {"name": name, "arguments": {**args, "unexpected_param": 1}}),
    ]
    for param in args:
        out.append(
            (f"missing {param}", {"name": name, "arguments": {k: v for k, v in args.items() if k != param}})
        )
        for variant in value_variants(args[param]):
            out.append((f"{param}={variant!r}", {"name": name, "arguments": {**args, param: variant}}))
    for param, acceptable in gold_params.items():
        for other in acceptable[1:4]:
            if other == "":
                out.append((f"omit optional {param}", {"name": name, "arguments": _without(args, param)}))
            else:
                out.append(
                    (
                        f"alternative {param}",
                        {"name": name, "arguments": {**args, param: copy.deepcopy(other)}},
                    )
                )
    for param, details in properties.items():
        if param not in args and param not in gold_params:
            default = details.get("default", "value")
            out.append(
                (f"schema param {param} not in gold", {"name": name, "arguments": {**args, param: default}})
            )
            break
    return out


def _without(args: dict, param: str) -> dict:
    return {k: v for k, v in args.items() if k != param}


def _list_mutations(calls: Calls, functions: list[dict]) -> list[tuple[str, Calls]]:
    out: list[tuple[str, Calls]] = [("duplicated call", calls + calls[:1])]
    if len(calls) > 1:
        out += [
            ("reversed order", list(reversed(calls))),
            ("rotated order", calls[1:] + calls[:1]),
            ("dropped last call", calls[:-1]),
            ("first call twice", [calls[0]] + calls[:-1]),
        ]
    for doc in functions:
        if calls and doc["name"] != calls[0]["name"]:
            out.append(
                ("other function", [{"name": doc["name"], "arguments": calls[0]["arguments"]}] + calls[1:])
            )
            break
    return out


def no_answer_mutations(entry: dict) -> list[tuple[str, Calls]]:
    doc = entry["function"][0] if entry["function"] else {"name": "search", "parameters": {}}
    some_args = {p: "x" for p in doc["parameters"].get("required", [])}
    return [
        ("no call", []),
        ("a call", [{"name": doc["name"], "arguments": some_args}]),
        ("a call without args", [{"name": doc["name"], "arguments": {}}]),
        ("two calls", [{"name": doc["name"], "arguments": some_args}] * 2),
    ]


def all_cases() -> list[tuple[str, dict, str, Calls]]:
    cases = []
    for category in oracle.AST_CATEGORIES:
        for entry in oracle.load_category(category):
            cases += [(category, entry, label, calls) for label, calls in call_mutations(entry, category)]
    for category in oracle.NO_ANSWER_CATEGORIES:
        for entry in oracle.load_category(category):
            cases += [(category, entry, label, calls) for label, calls in no_answer_mutations(entry)]
    return cases


@pytest.fixture(scope="module")
def cases() -> list[tuple[str, dict, str, Calls]]:
    return all_cases()


def oracle_verdict(entry: dict, calls: Calls, category: str) -> tuple[bool, bool]:
    """(verdict, raised): BFCL's verdict, False when its checker raises."""
    try:
        return oracle.oracle_check(
            entry["function"], copy.deepcopy(calls), entry["ground_truth"], category
        ), False
    except Exception:
        return False, True


# ---------------------------------------------------------------- the tests
def test_check_calls_agrees_with_bfcl_on_every_case(cases):
    start = time.perf_counter()
    mismatches, verdicts, raised = [], Counter(), 0
    for category, entry, label, calls in cases:
        expected, oracle_raised = oracle_verdict(entry, calls, category)
        raised += oracle_raised
        ours = check_calls(calls, entry["ground_truth"], entry["function"], category)
        verdicts[expected] += 1
        if ours != expected:
            mismatches.append((entry["id"], category, label, ours, expected))
    print(
        f"\nconformance: {len(cases)} cases, {verdicts[True]} correct / {verdicts[False]} wrong per BFCL, "
        f"{raised} where BFCL's checker raised, {time.perf_counter() - start:.1f} s"
    )
    assert not mismatches, f"{len(mismatches)} verdicts differ from BFCL's, e.g. {mismatches[:5]}"
    assert len(cases) > 20_000
    assert verdicts[True] > 5_000 and verdicts[False] > 10_000, "the suite must exercise both verdicts"
    categories = {category for category, *_ in cases}
    assert categories == set(oracle.AST_CATEGORIES) | set(oracle.NO_ANSWER_CATEGORIES)


def test_category_none_infers_the_rule_from_the_gold(cases):
    """Without a category: no gold call -> irrelevance rule, one -> its own doc, several -> any order."""
    checked = 0
    for category, entry, label, calls in cases:
        gold = entry["ground_truth"]
        if category in ("simple_python", "live_simple", "multiple", "live_multiple", "irrelevance"):
            inferred = {"simple_python": "multiple", "live_simple": "multiple"}.get(category, category)
        elif "parallel" in category and len(gold) > 1:
            inferred = category
        else:
            continue
        expected, _ = oracle_verdict(entry, calls, inferred)
        assert check_calls(calls, gold, entry["function"]) == expected, (entry["id"], label)
        checked += 1
    assert checked > 20_000


def test_bfcl_names_pick_the_rule_and_our_own_labels_leave_it_to_the_gold():
    for name in ("simple", "simple_python", "multiple", "parallel_multiple", "irrelevance", "live_relevance"):
        assert checker_category(name) == name
    for name in ("no_call", "missing_param", "custom"):
        assert checker_category(name) is None
    gold = [{"f": {"x": [1]}}]
    assert expects_no_call([], None) and expects_no_call([], "missing_param")
    assert expects_no_call(gold, "irrelevance") and expects_no_call([], "live_irrelevance")
    assert not expects_no_call(gold, None) and not expects_no_call([], "live_relevance")


def test_scoring_the_rendered_text_agrees_with_bfcl_decode_and_check(cases):
    """End to end on text: our parse+check of ``<think>..</think>`` + answer vs BFCL decode+check."""
    rng = random.Random(0)
    sample = rng.sample(cases, 8_000)
    for category, entry, label, calls in sample:
        answer = render_calls(calls)
        decoded = oracle.oracle_decode(answer)
        if "irrelevance" in category or "relevance" in category:
            expected = (not decoded) if "irrelevance" in category else bool(decoded)
        else:
            expected = decoded is not None and oracle_verdict(entry, decoded, category)[0]
        got = score(f"<think>reasoning</think>\n{answer}", entry["ground_truth"], entry["function"], category)
        assert got == float(expected), (entry["id"], category, label, answer)


def _python_renderable(calls: Calls) -> bool:
    names = [part for call in calls for part in call["name"].split(".")]
    names += [param for call in calls for param in call["arguments"]]
    return all(name.isidentifier() and not keyword.iskeyword(name) for name in names)


def test_rendered_calls_parse_back_exactly_in_both_formats(cases):
    """The grammar reads back what ``render_calls`` writes (Hermes through JSON: tuples become lists)."""
    for _, _, label, calls in cases[::7]:
        if not _python_renderable(calls):
            continue
        python = parse_completion("<think>t</think>" + render_calls(calls, "python"))
        assert python.format_ok and python.calls == calls, label
        hermes = parse_completion("<think>t</think>" + render_calls(calls, "hermes"), fmt="hermes")
        if calls:
            assert hermes.calls == json.loads(json.dumps(calls)), label


def test_hermes_scores_agree_with_the_checker(cases):
    for category, entry, label, calls in cases[::11]:
        answer = render_calls(calls, "hermes") if calls else "No function fits."
        text = "<think>t</think>\n" + answer
        as_json = json.loads(json.dumps(calls))
        expected, _ = oracle_verdict(entry, as_json, category)
        got = score(text, entry["ground_truth"], entry["function"], category, fmt="hermes")
        assert got == float(expected), (entry["id"], category, label)


@pytest.mark.parametrize(
    ("answer", "irrelevance_ok"),
    [
        ("I cannot answer that with the given functions.", True),
        ("[]", True),
        ("Sorry", True),
        ("[get_weather(city='Paris')]", False),
        ("get_weather(city='Paris')", False),
    ],
)
def test_irrelevance_and_relevance_text_rules_match_bfcl(answer, irrelevance_ok):
    decoded = oracle.oracle_decode(answer)
    assert (not decoded) == irrelevance_ok  # the oracle agrees with the table
    docs = [{"name": "get_weather", "parameters": {"type": "dict", "properties": {}, "required": []}}]
    text = f"<think>Is a tool needed?</think>\n{answer}"
    assert score(text, [], docs, "irrelevance") == float(irrelevance_ok)
    assert score(text, [], docs, "live_irrelevance") == float(irrelevance_ok)
    assert score(text, [], docs) == float(irrelevance_ok)
    assert score(text, [], docs, "live_relevance") == float(not irrelevance_ok)


@pytest.mark.parametrize(
    "answer",
    [
        "[get_weather(city=paris)]",
        "[get_weather('Paris')]",
        "[get_weather(city=1+1)]",
        "[get_weather(city=f(x=1))]",
    ],
)
def test_a_malformed_call_is_a_call_for_irrelevance_and_a_failure_otherwise(answer):
    """Stricter than BFCL (which turns names into strings, drops positionals, evaluates sums)."""
    docs = [
        {
            "name": "get_weather",
            "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": []},
        }
    ]
    text = f"<think>t</think>{answer}"
    assert parse_completion(text).calls is None
    assert score(text, [], docs, "irrelevance") == 0.0
    assert score(text, [{"get_weather": {"city": ["paris", "2"]}}], docs, "simple") == 0.0
