"""BFCL as a yardstick: the installed ``bfcl-eval`` package's questions and answers, its category
names, the v3 and v4 score aggregates, and (lazily, for ``--cross-check``) its own checker.

The package is only located, never imported, to read its data: importing it loads every model
handler and creates folders under ``BFCL_PROJECT_ROOT`` (bfcl-checker.md). The checker is loaded
on demand with small stand-in modules for the parts it does not need; the conformance oracle
(``conformance/bfcl_oracle.py``) loads it the same way, through ``bfcl_checker``.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import os
import sys
import tempfile
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cluster.data import Sample, load_samples
from common.console import say
from envs import bfcl as envs_bfcl

# Single-turn categories scored by the AST checker (Python) or by the presence of calls.
NON_LIVE_AST = ("simple_python", "multiple", "parallel", "parallel_multiple")
LIVE_AST = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
NO_ANSWER = ("irrelevance", "live_irrelevance", "live_relevance")
SINGLE_TURN = NON_LIVE_AST + ("irrelevance",) + LIVE_AST + ("live_irrelevance", "live_relevance")
ALL_SINGLE_TURN = "all-single-turn"
# Scored by executing the calls in BFCL's backends (envs.bfcl, cluster/eval/multiturn.py).
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
ALL_MULTI_TURN = "all-multi-turn"
# In the package but not evaluated here, with the reason given to the user.
UNSUPPORTED = {
    "simple_java": "Java answers need BFCL's Java type conversion; the project's checker reads Python calls",
    "simple_javascript": "JavaScript answers need BFCL's JS type conversion; the project's checker reads "
    "Python calls",
    "web_search": "agentic categories need live tools",
    "memory": "agentic categories need live tools",
    "format_sensitivity": "format-sensitivity entries use other output formats than Python calls",
}


class BfclError(ValueError):
    """A BFCL request that cannot run (package missing, unknown category); the message says why."""


# ----------------------------------------------------------------------------- the data


def data_dir() -> Path:
    """``bfcl_eval/data`` of the installed package (``envs.bfcl.data_dir``), as a ``BfclError``."""
    try:
        return envs_bfcl.data_dir()
    except envs_bfcl.BfclEnvError as error:
        raise BfclError(str(error)) from None


def parse_categories(text: str) -> list[str]:
    """``"simple_python,multiple"``, ``all-single-turn`` or ``all-multi-turn`` -> category names, in
    the order given. Single-turn and multi-turn categories are evaluated in separate runs.

    Raises ``BfclError`` naming the valid categories for anything unknown or unsupported.
    """
    valid = f"{ALL_SINGLE_TURN}, {ALL_MULTI_TURN} or any of {', '.join(SINGLE_TURN + MULTI_TURN)}"
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise BfclError(f"--bfcl: no category given; valid: {valid}")
    out: list[str] = []
    for name in names:
        expanded = {ALL_SINGLE_TURN: list(SINGLE_TURN), ALL_MULTI_TURN: list(MULTI_TURN)}.get(name, [name])
        for category in expanded:
            if category in UNSUPPORTED:
                raise BfclError(
                    f"--bfcl: category '{category}' is not supported: {UNSUPPORTED[category]}. Valid: {valid}"
                )
            if category not in SINGLE_TURN + MULTI_TURN:
                raise BfclError(f"--bfcl: unknown category '{category}'. Valid: {valid}")
            if category not in out:
                out.append(category)
    if any(c in MULTI_TURN for c in out) and not all(c in MULTI_TURN for c in out):
        raise BfclError(
            "--bfcl: single-turn and multi-turn categories are evaluated in separate runs "
            f"(multi-turn plays whole conversations). Valid: {valid}"
        )
    return out


def is_multi_turn(categories: list[str] | None) -> bool:
    return bool(categories) and all(c in MULTI_TURN for c in categories)


def load_category(category: str, limit: int | None = None) -> list[Sample]:
    """The first ``limit`` (all when None) questions of ``category`` as samples with their gold.

    Questions go through the project's BFCL loader. A few BFCL golds name a parameter that their
    function's schema lacks, which the loader rejects for training data; BFCL still scores those
    questions, so they are kept here as they are (and reported).
    """
    data = data_dir()
    questions = data / f"BFCL_v4_{category}.json"
    answers = data / "possible_answer" / questions.name
    raw = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    if answers.is_file():
        gold = _answers(answers)
        loaded = load_samples(questions, "bfcl", answers_path=answers, skip_invalid=True)
    else:  # irrelevance categories expect no call; live_relevance ships no answers (any call is right)
        gold = {q["id"]: [] for q in raw}
        with tempfile.TemporaryDirectory(prefix="bfcl-") as tmp:
            empty = Path(tmp) / questions.name
            empty.write_text("".join(json.dumps({"id": i, "ground_truth": []}) + "\n" for i in gold))
            loaded = load_samples(questions, "bfcl", answers_path=empty, skip_invalid=True)
    raw = raw[:limit] if limit is not None else raw
    by_id = {sample.id: sample for sample in loaded.samples}
    kept = [q["id"] for q in raw if q["id"] not in by_id]
    for question in raw:
        if question["id"] not in by_id:
            by_id[question["id"]] = Sample(
                id=question["id"],
                messages=question["question"][0],
                tools=question["function"],
                ground_truth=gold.get(question["id"], []),
                category=category,
            )
    if kept:
        say(
            f"{category}: {len(kept)} question(s) whose gold the loader rejects are kept as BFCL scores "
            f"them: {', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}",
            file=sys.stderr,
        )
    return [by_id[q["id"]] for q in raw]


def _answers(path: Path) -> dict[str, list]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {a["id"]: a["ground_truth"] for a in map(json.loads, filter(str.strip, lines))}


# ----------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class CategoryScore:
    """Correct answers out of ``total`` in one category."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def _mean(parts: dict[str, float | None]) -> tuple[float | None, list[str]]:
    """Unweighted mean of the parts that were run, and the names of those that were not."""
    present = [v for v in parts.values() if v is not None]
    missing = [k for k, v in parts.items() if v is None]
    return (sum(present) / len(present) if present else None), missing


def _count_weighted(
    scores: dict[str, CategoryScore], names: tuple[str, ...]
) -> tuple[float | None, list[str]]:
    """Correct over total across ``names`` (BFCL's count-weighted mean of live categories)."""
    present = [scores[n] for n in names if n in scores and scores[n].total]
    missing = [n for n in names if n not in scores]
    total = sum(s.total for s in present)
    return (sum(s.correct for s in present) / total if total else None), missing


def _weighted(parts: dict[str, tuple[float, float | None]]) -> tuple[float | None, list[str]]:
    """Weighted mean over the parts run, weights renormalised; and the parts not run."""
    present = {k: (w, v) for k, (w, v) in parts.items() if v is not None}
    missing = [k for k, (_, v) in parts.items() if v is None]
    weight = sum(w for w, _ in present.values())
    return (sum(w * v for w, v in present.values()) / weight if weight else None), missing


def _acc(scores: dict[str, CategoryScore], name: str) -> float | None:
    return scores[name].accuracy if name in scores and scores[name].total else None


def _with_simple(result: tuple[float | None, list[str]], simple_missing: list[str]):
    """Name the simple_* categories not run instead of the 'simple' part."""
    value, missing = result
    return value, [m for m in missing if m != "simple"] + simple_missing


def _entry(value: float | None, missing: list[str]) -> dict[str, Any]:
    return {"accuracy": value, "missing": missing}


def aggregates(scores: dict[str, CategoryScore]) -> dict[str, dict[str, dict[str, Any]]]:
    """BFCL v3 and v4 summary scores over the categories in ``scores`` (bfcl-checker.md).

    Each entry is ``{"accuracy": float | None, "missing": [parts not run]}``; with parts missing
    the value is computed over the parts that were run (so it is partial, not the leaderboard's).
    v3: Non-Live = mean(simple, multiple, parallel, parallel_multiple, irrelevance); Live =
    count-weighted over the live categories incl. irrelevance and relevance; Overall =
    mean(Non-Live, Live, Multi-turn).
    v4: Non-Live = mean(Simple, multiple, parallel, parallel_multiple), Simple = mean over
    python/java/javascript; Live = count-weighted over the 4 live AST categories; Irrelevance =
    mean(irrelevance, live_irrelevance); Overall = 0.1 Non-Live + 0.1 Live + 0.1 Irrelevance +
    0.3 Multi-turn + 0.4 Agentic.
    """
    simple_v3 = _mean({n: _acc(scores, n) for n in ("simple_python", "simple_java", "simple_javascript")})
    v3_non_live = _with_simple(
        _mean(
            {
                "simple": simple_v3[0],
                **{n: _acc(scores, n) for n in ("multiple", "parallel", "parallel_multiple", "irrelevance")},
            }
        ),
        simple_v3[1],
    )
    v3_live = _count_weighted(scores, LIVE_AST + ("live_irrelevance", "live_relevance"))
    multi_turn = _mean({n: _acc(scores, n) for n in MULTI_TURN})  # BFCL: the unweighted mean of the four
    v3_overall = _mean({"non_live": v3_non_live[0], "live": v3_live[0], "multi_turn": multi_turn[0]})
    v4_non_live = _with_simple(
        _mean(
            {
                "simple": simple_v3[0],
                **{n: _acc(scores, n) for n in ("multiple", "parallel", "parallel_multiple")},
            }
        ),
        simple_v3[1],
    )
    v4_live = _count_weighted(scores, LIVE_AST)
    v4_irrelevance = _mean({n: _acc(scores, n) for n in ("irrelevance", "live_irrelevance")})
    v4_overall = _weighted(
        {
            "non_live": (0.1, v4_non_live[0]),
            "live": (0.1, v4_live[0]),
            "irrelevance": (0.1, v4_irrelevance[0]),
            "multi_turn": (0.3, multi_turn[0]),
            "agentic": (0.4, None),
        }
    )
    return {
        "v3": {
            "non_live": _entry(*v3_non_live),
            "live": _entry(*v3_live),
            "multi_turn": _entry(*multi_turn),
            "overall": _entry(*v3_overall),
        },
        "v4": {
            "non_live": _entry(*v4_non_live),
            "live": _entry(*v4_live),
            "irrelevance": _entry(*v4_irrelevance),
            "multi_turn": _entry(*multi_turn),
            "overall": _entry(*v4_overall),
        },
    }


# ----------------------------------------------------------------------------- BFCL's own checker

_MODEL_NAME = "egpo-local"  # the checker reads only `.underscore_to_dot` of this entry


def _stub(name: str, **attributes: Any) -> None:
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module


@cache
def bfcl_checker() -> types.SimpleNamespace:
    """BFCL's decoder, ``ast_checker`` and output predicates, imported once with stand-ins for the
    model-handler registry, the Java/JS parsers and ``tenacity`` (not needed for Python answers)."""
    data_dir()  # the clear message when the package is missing
    os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))
    _stub(
        "bfcl_eval.constants.model_config",
        MODEL_CONFIG_MAPPING={_MODEL_NAME: types.SimpleNamespace(underscore_to_dot=False)},
    )
    _stub("bfcl_eval.model_handler.parser.java_parser", parse_java_function_call=None)
    _stub("bfcl_eval.model_handler.parser.js_parser", parse_javascript_function_call=None)
    if "tenacity" not in sys.modules and importlib.util.find_spec("tenacity") is None:
        names = ("retry", "retry_if_exception_message", "retry_if_exception_type", "wait_random_exponential")
        _stub("tenacity", **dict.fromkeys(names))
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.model_handler.utils import (
        default_decode_ast_prompting,
        system_prompt_pre_processing_chat_model,
    )
    from bfcl_eval.utils import (
        _func_doc_language_specific_pre_processing,
        is_empty_output,
        is_function_calling_format_output,
    )

    return types.SimpleNamespace(
        ast_checker=ast_checker,
        doc_pre_processing=_func_doc_language_specific_pre_processing,
        system_prompt=system_prompt_pre_processing_chat_model,
        decode=default_decode_ast_prompting,
        is_empty_output=is_empty_output,
        is_calls_format=is_function_calling_format_output,
        python=Language.PYTHON,
    )


def prompt_mode_messages(sample: Sample) -> list[dict[str, str]]:
    """The chat messages BFCL itself sends a prompt-mode (non-FC) model: its default system prompt
    with the function docs as JSON (Python-syntax hint added), then the question's turns."""
    bfcl = bfcl_checker()
    docs = bfcl.doc_pre_processing(copy.deepcopy(sample.tools), sample.category)
    turns = [{"role": m["role"], "content": m["content"]} for m in sample.messages]
    return bfcl.system_prompt(turns, docs, sample.id)


def executes_code(answer: str) -> bool:
    """Whether BFCL's prompt decoder would ``eval`` part of ``answer`` (a binary operation or a
    lambda in it). Such text is never handed to BFCL's decoder: model output is data."""
    source = answer.strip("`\n ")
    source = ("" if source.startswith("[") else "[") + source + ("" if source.endswith("]") else "]")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(node, (ast.BinOp, ast.Lambda)) for node in ast.walk(tree))


@dataclass(frozen=True)
class BfclVerdict:
    """BFCL's verdict on one answer; ``error`` is its checker's message when wrong."""

    correct: bool
    error: str = ""


def bfcl_verdict(answer: str, ground_truth: list, functions: list[dict], category: str) -> BfclVerdict:
    """BFCL's prompt-mode decode then its checker, as its eval runner does for ``category``.

    Irrelevance: right iff the answer does not decode to a non-empty call list. Relevance: right
    iff it does. Otherwise the decode must give a call list and ``ast_checker`` must accept it.
    """
    bfcl = bfcl_checker()
    try:
        decoded = bfcl.decode(answer)
        decode_error = ""
    except Exception as exc:  # BFCL's decoder raises on anything that is not a call list
        decoded, decode_error = None, f"decoder failed: {type(exc).__name__}"
    return _verdict_on_decoded(bfcl, decoded, decode_error, ground_truth, functions, category)


def _verdict_on_decoded(
    bfcl: types.SimpleNamespace,
    decoded: list | None,
    decode_error: str,
    ground_truth: list,
    functions: list[dict],
    category: str,
) -> BfclVerdict:
    if "irrelevance" in category or "relevance" in category:
        has_call = decoded is not None and not bfcl.is_empty_output(decoded)
        ok = has_call if category == "live_relevance" else not has_call
        return BfclVerdict(ok, "" if ok else ("a call was decoded" if has_call else "no call decoded"))
    if decoded is None:
        return BfclVerdict(False, decode_error)
    if not bfcl.is_calls_format(decoded):
        return BfclVerdict(False, "decoder output is not a call list")
    try:
        # copies: BFCL's checker may rewrite the docs and answers it is given
        result = bfcl.ast_checker(
            copy.deepcopy(functions), decoded, copy.deepcopy(ground_truth), bfcl.python, category, _MODEL_NAME
        )
    except Exception as exc:
        return BfclVerdict(False, f"checker raised {type(exc).__name__}: {exc}")
    return BfclVerdict(bool(result["valid"]), "" if result["valid"] else "; ".join(map(str, result["error"])))


def bfcl_verdict_calls(
    calls: list[dict] | None, ground_truth: list, functions: list[dict], category: str
) -> BfclVerdict:
    """BFCL's checker on calls already decoded (``{"name", "arguments"}``; None = no call list),
    for answers BFCL's prompt decoder does not read (Hermes ``<tool_call>`` JSON)."""
    bfcl = bfcl_checker()
    decoded = None if calls is None else [{c["name"]: c["arguments"]} for c in calls]
    return _verdict_on_decoded(bfcl, decoded, "answer is not a call list", ground_truth, functions, category)
