"""Conformance of the reward's checker with BFCL's own ``ast_checker`` (the oracle).

Every ground truth of BFCL's single-turn AST categories is rendered as calls and mutated in the
ways a model gets a call wrong (or differently right, ``conformance.mutations``); every verdict must
equal the oracle's (``conformance.bfcl_oracle``).
"""

from __future__ import annotations

import copy
import json
import keyword
import random
import time
from collections import Counter

import pytest

from conformance import bfcl_oracle as oracle
from conformance.mutations import Calls, call_mutations, no_answer_mutations
from reward import check_calls, parse_completion, render_calls, score
from reward.checker import checker_category
from reward.score import expects_no_call

pytestmark = pytest.mark.skipif(not oracle.available(), reason="bfcl-eval is not installed")


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
