"""BFCL's own checker and decoder as an oracle for the tests and the benchmarks (``bfcl-eval``
installed with ``--no-deps``).

Importing ``bfcl_eval``'s checker normally loads every model handler through
``bfcl_eval.constants.model_config``; its decoder module imports tree-sitter parsers and
``tenacity``. None of those are needed to check Python-format answers, so small stand-in
modules take their place (docs/bfcl-checker.md), and ``BFCL_PROJECT_ROOT`` points at a
temporary folder so that the package's folders are not created in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import types
from functools import cache
from pathlib import Path

from cluster.eval.bfcl import _MODEL_NAME as MODEL_NAME  # the model entry the checker reads

AST_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
NO_ANSWER_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")


def available() -> bool:
    """Whether ``bfcl-eval`` is installed."""
    return importlib.util.find_spec("bfcl_eval") is not None


def _load() -> types.SimpleNamespace:
    """bfcl-eval's decoder and ``ast_checker``, loaded once with the product's stand-ins for the
    parts the checker does not need (``cluster.eval.bfcl.bfcl_checker``)."""
    from cluster.eval.bfcl import bfcl_checker

    return bfcl_checker()


def oracle_check(functions: list[dict], calls: list[dict], ground_truth: list[dict], category: str) -> bool:
    """BFCL's verdict for ``calls`` (our ``{"name", "arguments"}`` form) in ``category``.

    Irrelevance and relevance follow BFCL's relevance runner: a call list counts as a call
    unless it is empty (``is_empty_output``). An exception inside BFCL's checker is a failure.
    """
    bfcl = _load()
    model_output = [{call["name"]: call["arguments"]} for call in calls]
    if "irrelevance" in category:
        return bool(bfcl.is_empty_output(model_output))
    if "relevance" in category:
        return not bfcl.is_empty_output(model_output)
    result = bfcl.ast_checker(functions, model_output, ground_truth, bfcl.python, category, MODEL_NAME)
    return bool(result["valid"])


def oracle_decode(answer: str) -> list[dict] | None:
    """BFCL's prompt-mode decoding of ``answer`` into our call form; None when it fails to decode.

    Only for trusted, oracle-side use: BFCL's decoder evaluates some expressions.
    """
    bfcl = _load()
    try:
        decoded = bfcl.decode(answer)
    except Exception:
        return None
    if not bfcl.is_calls_format(decoded):
        return None
    return [{"name": name, "arguments": args} for item in decoded for name, args in item.items()]


def bfcl_functions() -> types.SimpleNamespace:
    """The raw BFCL callables (checker, decoder, language enum) for benchmarks."""
    return _load()


def _data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    assert spec is not None and spec.submodule_search_locations, "bfcl-eval is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@cache
def load_category(category: str) -> list[dict]:
    """BFCL v4 entries of ``category``: ``{"id", "function", "ground_truth"}`` (ground truth ``[]`` if none)."""
    data = _data_dir()
    questions = _read_jsonl(data / f"BFCL_v4_{category}.json")
    answer_path = data / "possible_answer" / f"BFCL_v4_{category}.json"
    answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_path)} if answer_path.exists() else {}
    return [
        {"id": q["id"], "function": q["function"], "ground_truth": answers.get(q["id"], [])}
        for q in questions
    ]
