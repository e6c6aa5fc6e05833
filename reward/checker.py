"""The BFCL AST checker's rules, reproduced: the verdict on a call list against a possible answer.

Same verdict as ``bfcl_eval.eval_checker.ast_eval.ast_checker`` (Python language) on every input
(docs/bfcl-checker.md): dispatch by category, greedy order-free matching of parallel calls, strict
types with the int-for-float exception, string normalisation, optional parameters through ``""``,
the dict and list-of-dict rules, the irrelevance and relevance rules. Where BFCL's checker raises
on malformed docs or answers (unknown type names, missing ``items``), the verdict is False; the
checks run in BFCL's order so that such inputs fail in the same cases. One relaxation: a doc with
no ``required`` list is read as requiring nothing (BFCL raises).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
_NESTED_TYPES = ("array", "tuple")
_IGNORED_IN_STRINGS = re.compile(r"[ ,./\-_*^]")


# The BFCL categories whose name selects the checker's rule. Any other label (the synthetic data's
# no_call, missing_param, ...) is handed over as None, and the gold decides (see check_calls).
RULE_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "relevance")


def checker_category(category: str) -> str | None:
    """The category to pass to the checker: a BFCL name, or None to let the gold decide."""
    if category in RULE_CATEGORIES or category.startswith(("live_", "simple_")):
        return category
    return None


def check_calls(
    calls: list[dict[str, Any]] | None,
    ground_truth: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    category: str | None = None,
) -> bool:
    """Whether ``calls`` (``[{"name", "arguments"}]``) match the possible answer ``ground_truth``.

    ``category`` is a BFCL category name; None infers the rule from the gold: ``[]`` -> no call
    expected (irrelevance), one call -> a single call checked against that function's own doc,
    several -> parallel calls in any order. Never raises: malformed input is a False verdict.
    """
    try:
        return _check(calls or [], ground_truth, functions, category)
    except Exception:
        return False


def _check(calls: list[dict], ground_truth: list[dict], functions: list[dict], category: str | None) -> bool:
    if category is None:
        category = "irrelevance" if not ground_truth else "multiple" if len(ground_truth) == 1 else "parallel"
    if "irrelevance" in category:
        return not calls
    if "relevance" in category:
        return bool(calls) and all(_is_call(call) for call in calls)
    if not all(_is_call(call) for call in calls):
        return False
    if "parallel" in category:
        return _parallel_any_order(functions, calls, ground_truth)
    if "multiple" in category:
        if len(calls) != len(ground_truth):
            return False
        return _single_call(_find_doc(functions, _gold_name(ground_truth[0])), calls[0], ground_truth[0])
    if len(calls) != 1:
        return False
    return _single_call(functions[0], calls[0], ground_truth[0])


def _is_call(call: Any) -> bool:
    return type(call) is dict and type(call.get("name")) is str and type(call.get("arguments")) is dict


def _gold_name(gold_call: dict) -> str:
    return next(iter(gold_call))


def _find_doc(functions: list[dict] | dict, name: str) -> dict:
    if type(functions) is not list:
        return functions
    for doc in functions:
        if doc["name"] == name:
            return doc
    raise LookupError(f"no function doc named {name!r}")


def _parallel_any_order(functions: list[dict], calls: list[dict], ground_truth: list[dict]) -> bool:
    """Each gold call, in gold order, takes the first unused model call that passes (greedy)."""
    if len(calls) != len(ground_truth):
        return False
    used: set[int] = set()
    for gold_call in ground_truth:
        doc = _find_doc(functions, _gold_name(gold_call))
        for index, call in enumerate(calls):
            if index not in used and _single_call(doc, call, gold_call):
                used.add(index)
                break
        else:
            return False
    return True


def _single_call(doc: dict, call: dict, gold_call: dict) -> bool:
    """BFCL's ``simple_function_checker`` for the Python language."""
    gold_params = next(iter(gold_call.values()))
    schema = doc["parameters"]
    properties = schema["properties"]
    required = schema.get("required", [])
    if call["name"] != doc["name"]:
        return False
    arguments = call["arguments"]
    for param in required:
        if param not in arguments:
            return False
    for param, value in arguments.items():
        if param not in properties or param not in gold_params:
            return False
        if not _param_ok(param, value, properties[param], gold_params[param]):
            return False
    return all(param in arguments or "" in acceptable for param, acceptable in gold_params.items())


def _param_ok(param: str, value: Any, details: dict, acceptable: list) -> bool:
    type_name = details["type"]
    expected = _PYTHON_TYPES[type_name]
    item_type = _PYTHON_TYPES[details["items"]["type"]] if type_name in _NESTED_TYPES else None
    if type_name == "tuple" and type(value) is tuple:
        value = list(value)
    if type_name == "float" and type(value) is int:
        value = float(value)
    type_ok, is_variable = _type_check(value, acceptable, expected, item_type)
    if not type_ok:
        return False
    if not is_variable:
        if expected is dict:
            return _dict_ok(value, acceptable)
        if expected is list and item_type is dict:
            return _list_of_dicts_ok(value, acceptable)
        if expected is str:
            return _string_ok(value, acceptable)
        if expected is list:
            return _list_ok(value, acceptable)
    return value in acceptable


def _gold_type(acceptable: Any) -> type | None:
    """The type of the first non-optional acceptable value (a gold "variable" may differ from the doc)."""
    for answer in acceptable:
        if answer != "":
            return type(answer)
    return None


def _type_check(value: Any, acceptable: Any, expected: type, item_type: type | None) -> tuple[bool, bool]:
    """BFCL's ``type_checker``: ``(valid, is_variable)``; array items are checked one level deep."""
    gold_type = _gold_type(acceptable)
    if type(value) is expected:
        is_variable = gold_type is not None and gold_type != expected
        if item_type is None:
            return True, is_variable
        for gold_value in acceptable:
            if type(gold_value) is not list or all(
                _type_check(item, gold_value, item_type, None)[0] for item in value
            ):
                return True, is_variable
        return False, False
    if gold_type is not None and type(value) is gold_type:
        return True, True
    return False, False


def standardize_string(text: str) -> str:
    """BFCL's string normalisation: drop spaces and ``, . / - _ * ^``, lowercase, ``'`` -> ``"``.

    Memoised for strings up to 256 characters (gold strings recur across a group's completions).
    """
    if len(text) > 256:
        return _normalise(text)
    return _normalise_cached(text)


def _normalise(text: str) -> str:
    return _IGNORED_IN_STRINGS.sub("", text).lower().replace("'", '"')


_normalise_cached = lru_cache(maxsize=65536)(_normalise)


def clear_string_cache() -> None:
    """Forget every memoised normalised string."""
    _normalise_cached.cache_clear()


def _standardized(values: Any) -> list:
    return [standardize_string(v) if type(v) is str else v for v in values]


def _string_ok(value: str, acceptable: list) -> bool:
    return standardize_string(value) in [standardize_string(v) for v in acceptable if type(v) is str]


def _list_ok(value: list, acceptable: list) -> bool:
    """In order, strings normalised, against each acceptable list."""
    options = [[acceptable[i][j] for j in range(len(acceptable[i]))] for i in range(len(acceptable))]
    return _standardized(value) in [_standardized(option) for option in options]


def _dict_ok(value: dict, acceptable: list) -> bool:
    """Each model key known with an acceptable value; gold keys the model left out must allow ``""``."""
    for gold in acceptable:
        if gold == "":
            continue
        if _dict_matches(value, gold):
            return True
    return False


def _dict_matches(value: dict, gold: Any) -> bool:
    """One acceptable dict; both passes always run, as in BFCL (which reads every gold key)."""
    keys_ok = all(_dict_item_ok(key, item, gold) for key, item in value.items())
    missing_ok = all(key in value or "" in options for key, options in gold.items())
    return keys_ok and missing_ok


def _dict_item_ok(key: Any, item: Any, gold: Any) -> bool:
    if key not in gold:
        return False
    options = gold[key]
    options = [options[i] for i in range(len(options))]
    return (standardize_string(item) if type(item) is str else item) in _standardized(options)


def _list_of_dicts_ok(value: list, acceptable: list) -> bool:
    """Same length and, in order, each dict passing the dict rule, against some acceptable list."""
    for gold_list in acceptable:
        if len(value) != len(gold_list):
            continue
        if all(_dict_ok(item, [gold_list[i]]) for i, item in enumerate(value)):
            return True
    return False
