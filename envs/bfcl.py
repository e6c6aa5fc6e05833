"""BFCL's multi-turn backends (``bfcl-eval``) as the ``"bfcl"`` environment, with BFCL's turn checks.

A sample is a BFCL multi-turn entry (``load_entries``): ``id``, ``involved_classes``,
``initial_config``, ``question`` (user turns), ``ground_truth`` (call strings per turn) and, on
``miss_func`` entries, ``missed_function`` (``{turn: [names]}``, offered only from that turn on).

Differences from BFCL's own executor (``multi_turn_utils.execute_multi_turn_func_call``), by design:
- calls are parsed by ``envs.calls`` (literals only) and dispatched by name to the public methods
  of this trajectory's own instances; BFCL rewrites the text and hands it to ``eval``;
- instances belong to the environment object, not to module globals, so two trajectories of the
  same entry never share state, and a finished one leaves nothing behind;
- ``reset`` restores the two numeric globals the math backend changes (``mpmath.mp.dps``, the
  ``decimal`` precision), so one trajectory's precision does not leak into the next.
The observations and states are otherwise BFCL's, call for call: ``tests/envs/test_envs_bfcl.py``
replays every ground-truth entry through both executors.
"""

from __future__ import annotations

import copy
import decimal
import importlib
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from envs.base import EnvCall, ToolEnv, TurnCheck
from envs.calls import parse_ground_truth_strings
from envs.executor import ERROR_PREFIX, SafeExecutor
from envs.registry import register

MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
ALL_MULTI_TURN = "all-multi-turn"
STEPS_PER_TURN = 20  # BFCL's MAXIMUM_STEP_LIMIT: model steps per user turn before the entry fails

_BACKENDS = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
BACKEND_MODULES = {  # the eight classes of the multi-turn categories -> their module, doc file
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}
STATELESS = frozenset({"MathAPI"})  # no scenario to load


class BfclEnvError(ValueError):
    """A sample or request the BFCL environment cannot serve; the message says why."""


# ----------------------------------------------------------------------------- data


def data_dir() -> Path:
    """``bfcl_eval/data`` of the installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BfclEnvError(
            "the bfcl-eval package is not installed, so there are no BFCL questions to evaluate on; "
            "install it without its heavy dependencies: pip install --no-deps bfcl-eval==2026.3.23 filelock"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (path / "BFCL_v4_simple_python.json").is_file():
        raise BfclEnvError(f"the bfcl-eval package at {path.parent} has no BFCL_v4_*.json data files")
    return path


def load_entries(category: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The first ``limit`` entries of a multi-turn category, each with its ``ground_truth``."""
    if category not in MULTI_TURN:
        raise BfclEnvError(
            f"unknown multi-turn category {category!r}: expected one of {', '.join(MULTI_TURN)}"
        )
    entries = _read_jsonl(data_dir() / f"BFCL_v4_{category}.json")[:limit]
    answers = {
        row["id"]: row["ground_truth"]
        for row in _read_jsonl(data_dir() / "possible_answer" / f"BFCL_v4_{category}.json")
    }
    for entry in entries:
        entry["ground_truth"] = answers[entry["id"]]
    return entries


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@cache
def _class_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    path = data_dir() / "multi_turn_func_doc" / f"{BACKEND_MODULES[class_name]}.json"
    return tuple(_read_jsonl(path))


def function_docs(entry: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """``(offered at the start, {turn: docs revealed at that turn})``, as BFCL builds the prompt."""
    docs = [copy.deepcopy(doc) for name in entry["involved_classes"] for doc in _class_docs(name)]
    held_out: dict[int, list[dict[str, Any]]] = {}
    for turn, names in (entry.get("missed_function") or {}).items():
        for name in names:
            index = next((i for i, doc in enumerate(docs) if doc["name"] == name), None)
            if index is not None:
                held_out.setdefault(int(turn), []).append(docs.pop(index))
    return docs, held_out


def is_long_context(entry: dict[str, Any]) -> bool:
    """BFCL loads the long-context scenarios for these ids (its checker reads the category from the id)."""
    return "long_context" in entry["id"] or "composite" in entry["id"]


def fresh_instances(entry: dict[str, Any]) -> dict[str, object]:
    """New backend instances for ``entry``, in ``involved_classes`` order, scenarios loaded from copies."""
    instances = {}
    for name in entry["involved_classes"]:
        if name not in BACKEND_MODULES:
            raise BfclEnvError(f"entry {entry.get('id')!r}: unknown backend class {name!r}")
        instance = getattr(importlib.import_module(f"{_BACKENDS}.{BACKEND_MODULES[name]}"), name)()
        if name not in STATELESS:
            scenario = copy.deepcopy(entry.get("initial_config", {}).get(name, {}))
            instance._load_scenario(scenario, long_context=is_long_context(entry))
        instances[name] = instance
    return instances


def allowed_names(entry: dict[str, Any]) -> set[str]:
    """The names a call may have in ``entry``: the public methods of its backend classes."""
    return set(SafeExecutor(list(fresh_instances(entry).values())).methods)


def _restore_numeric_globals() -> None:
    import mpmath

    mpmath.mp.dps = 15
    decimal.getcontext().prec = 28


# ----------------------------------------------------------------------------- the environment


@register("bfcl")
class BfclEnv(ToolEnv):
    """One BFCL multi-turn trajectory: its instances, its user turns, BFCL's per-turn checks.

    The loop that drives it (evaluation, rollouts) calls ``next_turn`` before each user turn,
    ``step`` with each model step's calls, and ``check_turn`` at the end of the turn.
    """

    def reset(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        self.begin()
        for key in ("id", "involved_classes"):
            if key not in sample:
                raise BfclEnvError(f"a BFCL sample needs {key!r}; got keys {sorted(sample)}")
        _restore_numeric_globals()
        self.entry = sample
        self.instances = fresh_instances(sample)
        self.executor = SafeExecutor(list(self.instances.values()))
        self.truth_instances: dict[str, object] | None = None  # the ground truth's own, made on first check
        self.turn = -1
        self.turn_results: list[list[str]] = []  # observations of the model's calls, per user turn
        self.results_so_far: list[str] = []  # ... over every turn checked so far (BFCL's response check)
        offered, self.held_out = function_docs(sample)
        return offered

    def execute(self, call: EnvCall) -> str:
        result = self.executor(call)
        if self.turn_results:
            self.turn_results[-1].append(result)
        return result

    def next_turn(self) -> list[dict[str, Any]]:
        """Start the next user turn; returns the docs of functions first offered at this turn."""
        self.turn += 1
        self.turn_results.append([])
        return self.held_out.get(self.turn, [])

    def check_turn(self, ground_truth: list[str]) -> TurnCheck:
        """BFCL's checks on the turn just played (``multi_turn_checker``): run the ground truth's
        calls on the ground truth's instances, then compare states and responses."""
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import response_checker, state_checker

        if self.truth_instances is None:
            self.truth_instances = fresh_instances(self.entry)
        truth = SafeExecutor(list(self.truth_instances.values()))
        truth_results = [truth(call) for call in parse_ground_truth(ground_truth)]
        played = self.turn_results[self.turn] if 0 <= self.turn < len(self.turn_results) else []
        self.results_so_far.extend(played)
        if not ground_truth:  # a turn the model cannot fulfil: nothing to compare (BFCL)
            return TurnCheck(True)
        if not played:
            return TurnCheck(False, "multi_turn:empty_turn_model_response", f"no call in turn {self.turn}")
        state = state_checker(self.instances, self.truth_instances)
        if not state["valid"]:
            return TurnCheck(False, state["error_type"], state["error_message"])
        response = response_checker(self.results_so_far, truth_results, self.turn)
        if not response["valid"]:
            return TurnCheck(False, response["error_type"], response["error_message"])
        return TurnCheck(True)

    def public_state(self) -> dict[str, dict[str, Any]]:
        """Every instance's public attributes (what BFCL's state check compares), copied."""
        return {name: public_attributes(instance) for name, instance in self.instances.items()}


def public_attributes(instance: object) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in vars(instance).items() if not key.startswith("_")}


def parse_ground_truth(strings: list[str]) -> list[EnvCall]:
    """BFCL's ground-truth call strings, read by the same grammar as the model's calls."""
    return parse_ground_truth_strings(strings, BfclEnvError)


__all__ = ["ERROR_PREFIX", "BfclEnv", "TurnCheck", "function_docs", "load_entries"]
