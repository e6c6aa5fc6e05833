"""BFCL's own checker and decoder as a test oracle (``bfcl-eval`` installed with ``--no-deps``).

Importing ``bfcl_eval``'s checker normally loads every model handler through
``bfcl_eval.constants.model_config``; its decoder module imports tree-sitter parsers and
``tenacity``. None of those are needed to check Python-format answers, so small stand-in
modules take their place (docs/bfcl-checker.md), and ``BFCL_PROJECT_ROOT`` points at a
temporary folder so that the package's folders are not created in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import types
from functools import cache
from pathlib import Path
from typing import Any

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
MODEL_NAME = "egpo-local"  # the checker only reads `.underscore_to_dot` of this entry


def available() -> bool:
    """Whether ``bfcl-eval`` is installed."""
    return importlib.util.find_spec("bfcl_eval") is not None


def _stub(name: str, **attributes: Any) -> None:
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module


@cache
def _load() -> types.SimpleNamespace:
    os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))
    entry = types.SimpleNamespace(underscore_to_dot=False)
    _stub("bfcl_eval.constants.model_config", MODEL_CONFIG_MAPPING={MODEL_NAME: entry})
    _stub("bfcl_eval.model_handler.parser.java_parser", parse_java_function_call=None)
    _stub("bfcl_eval.model_handler.parser.js_parser", parse_javascript_function_call=None)
    if "tenacity" not in sys.modules and importlib.util.find_spec("tenacity") is None:
        names = ("retry", "retry_if_exception_message", "retry_if_exception_type", "wait_random_exponential")
        _stub("tenacity", **dict.fromkeys(names))
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import is_empty_output, is_function_calling_format_output

    return types.SimpleNamespace(
        ast_checker=ast_checker,
        decode=default_decode_ast_prompting,
        is_empty_output=is_empty_output,
        is_calls_format=is_function_calling_format_output,
        python=Language.PYTHON,
    )


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
