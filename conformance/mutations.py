"""Call lists a model might answer with, made from a BFCL entry's ground truth: the rendered gold,
then each way of getting a call wrong (or differently right) that the conformance test puts to both
checkers and the reward-throughput benchmark times."""

from __future__ import annotations

import copy
import json
from typing import Any

from reward import gold_to_calls

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
    """Labelled call lists for an entry that needs no call: none, a call, one without arguments, two."""
    doc = entry["function"][0] if entry["function"] else {"name": "search", "parameters": {}}
    some_args = {p: "x" for p in doc["parameters"].get("required", [])}
    return [
        ("no call", []),
        ("a call", [{"name": doc["name"], "arguments": some_args}]),
        ("a call without args", [{"name": doc["name"], "arguments": {}}]),
        ("two calls", [{"name": doc["name"], "arguments": some_args}] * 2),
    ]
