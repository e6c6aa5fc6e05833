"""Verdicts on evaluation outputs: right or wrong under the strict reward, why an answer is wrong,
whether it is a call list, and the cross-check against bfcl-eval's own checker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.data import Sample
from reward import ParsedCompletion, parse_completion, score
from reward.checker import checker_category
from reward.grammar import THINK_OPEN, TOOL_CALL_OPEN, parse_answer, split_think
from reward.score import answer_correct, expects_no_call


@dataclass
class Judged:
    """One question's output and its verdicts (ours, and BFCL's with --cross-check)."""

    sample: Sample
    output: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    correct: bool = False
    reason: str = ""
    called: bool = False  # answered with a call list, right or wrong
    bfcl: dict[str, Any] | None = None
    samples: list[bool] | None = None  # with --samples K: whether each sample is right

    def record(self) -> dict[str, Any]:
        record = {
            "id": self.sample.id,
            "category": self.sample.category,
            "correct": self.correct,
            "reason": self.reason,
            "called": self.called,
            "output": self.output,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
        }
        if self.bfcl is not None:
            record["bfcl"] = self.bfcl
        if self.samples is not None:
            record["samples_correct"] = self.samples
        return record


def judge(text: str, sample: Sample, prompt_format: str, fmt: str) -> tuple[bool, str]:
    """(correct, reason when wrong) for one output. The think template is scored by the training
    reward (``reward.score``, Eq. 3); the native format by the same answer rule without the think
    block, reading ``<tool_call>`` JSON blocks or a Python call list."""
    category = checker_category(sample.category)
    if prompt_format == "native":
        answer, answer_fmt = _native_answer(text)
        calls, call_syntax = parse_answer(answer, answer_fmt)
        parsed = ParsedCompletion(bool(answer), None, calls, answer, call_syntax)
        correct = bool(answer) and answer_correct(parsed, sample.ground_truth, sample.tools, category)
        return correct, "" if correct else answer_failure(answer, answer_fmt, sample)
    correct = score(text, sample.ground_truth, sample.tools, category, fmt) == 1.0
    return correct, "" if correct else failure_reason(text, sample, fmt)


def answers_with_call(text: str, prompt_format: str, fmt: str) -> bool:
    """Whether an output answers with a call list (right or wrong; arguments need not parse)."""
    if prompt_format == "native":
        return parse_answer(*_native_answer(text))[1]
    return parse_completion(text, fmt).call_syntax


def _native_answer(text: str) -> tuple[str, str]:
    """The answer of a native-format output (the text after a leading think block, if any) and its
    format: ``hermes`` when it holds ``<tool_call>`` blocks, else ``python``."""
    think, answer = split_think(text)
    answer = (answer if think is not None else text.strip()) or ""
    return answer, "hermes" if TOOL_CALL_OPEN in answer else "python"


def failure_reason(text: str, sample: Sample, fmt: str = "python") -> str:
    """Why an output of the think template scored 0, in a few words."""
    if THINK_OPEN not in text:
        return "format: no <think> block"
    think, answer = split_think(text)
    if think is None:
        return "format: the output must start with exactly one <think>...</think> block"
    if not answer:
        return "format: nothing after </think>"
    return answer_failure(answer, fmt, sample)


def answer_failure(answer: str, fmt: str, sample: Sample) -> str:
    """Why a (well-formatted) answer is wrong: no call list, a call where none fits, the number
    or names of the calls, missing or unexpected parameters, or else argument values/types."""
    if not answer:
        return "empty answer"
    calls, call_syntax = parse_answer(answer, fmt)
    category = sample.category
    if expects_no_call(sample.ground_truth, category):
        return "called a function where none fits" if call_syntax else "wrong answer"
    if calls is None:
        if call_syntax:
            return "call list with non-literal or positional arguments"
        return "answer is not a call list" + (" (prose or other text)" if fmt == "python" else "")
    if category == "live_relevance":
        return "no call where one was expected" if not calls else "wrong answer"
    if len(calls) != len(sample.ground_truth):
        return f"{len(calls)} call(s), expected {len(sample.ground_truth)}"
    gold = {name: params for entry in sample.ground_truth for name, params in entry.items()}
    names = [c["name"] for c in calls]
    if sorted(names) != sorted(next(iter(e)) for e in sample.ground_truth):
        return f"called {', '.join(names)}; expected {', '.join(gold)}"
    for call in calls:
        params = gold[call["name"]]
        missing = [p for p, values in params.items() if p not in call["arguments"] and "" not in values]
        unexpected = [p for p in call["arguments"] if p not in params]
        if missing:
            return f"{call['name']}: missing parameter(s) {', '.join(missing)}"
        if unexpected:
            return f"{call['name']}: unexpected parameter(s) {', '.join(unexpected)}"
    return "argument values or types do not match the possible answer"


def cross_check(judged: list[Judged], prompt_format: str, fmt: str) -> dict[str, Any]:
    """Score every generated output again with BFCL's own decoder and ``ast_checker`` and count
    agreement with our verdicts.

    The think block is the paper's format rule (Eq. 3), outside BFCL: an output that fails it is
    wrong on both sides ("format gate"); otherwise the answer after ``</think>`` goes to BFCL's
    prompt-mode decoder and checker. Answers that BFCL's decoder would ``eval`` (a binary
    operation or lambda) are not handed to it (model text is data); they are counted as skipped.
    """
    from cluster.eval.bfcl import bfcl_verdict, bfcl_verdict_calls, executes_code

    counts = {"outputs": 0, "format_gate": 0, "answer_checked": 0, "skipped_unsafe": 0, "agree": 0}
    disagreements = []
    for item in judged:
        if not item.finish_reason:  # not generated (prompt too long)
            continue
        counts["outputs"] += 1
        sample = item.sample
        if prompt_format == "native":
            answer, answer_fmt = _native_answer(item.output)
        else:
            think, answer = split_think(item.output)
            answer_fmt = fmt
            if think is None or not answer:
                counts["format_gate"] += 1
                counts["agree"] += not item.correct
                item.bfcl = {"correct": False, "stage": "format gate", "error": "no think block + answer"}
                continue
        if answer_fmt == "python" and executes_code(answer):
            counts["skipped_unsafe"] += 1
            item.bfcl = {"correct": None, "stage": "skipped", "error": "BFCL's decoder would eval this text"}
            continue
        counts["answer_checked"] += 1
        if answer_fmt == "python":
            verdict = bfcl_verdict(answer, sample.ground_truth, sample.tools, sample.category)
        else:
            calls, _ = parse_answer(answer, "hermes")
            verdict = bfcl_verdict_calls(calls, sample.ground_truth, sample.tools, sample.category)
        item.bfcl = {"correct": verdict.correct, "stage": "answer", "error": verdict.error}
        if verdict.correct == item.correct:
            counts["agree"] += 1
        else:
            disagreements.append(
                {
                    "id": sample.id,
                    "ours": item.correct,
                    "bfcl": verdict.correct,
                    "bfcl_error": verdict.error,
                    "our_reason": item.reason,
                    "answer": answer[:500],
                }  # fmt: skip
            )
    compared = counts["outputs"] - counts["skipped_unsafe"]
    counts["agreement"] = counts["agree"] / compared if compared else None
    return {**counts, "disagreements": disagreements}


def cross_check_line(cross: dict[str, Any]) -> str:
    """One paragraph on the agreement with BFCL's checker, listing disagreements if any."""
    agreement = cross["agreement"]
    pct = "n/a" if agreement is None else f"{100 * agreement:.1f}%"
    line = (
        f"\nCross-check with bfcl-eval's decoder + ast_checker: agreement {pct} "
        f"({cross['agree']}/{cross['outputs'] - cross['skipped_unsafe']} outputs; {cross['answer_checked']} "
        f"reached the answer check, {cross['format_gate']} failed the think format on both sides"
        + (
            f", {cross['skipped_unsafe']} not handed to BFCL's decoder (it would eval them)"
            if cross["skipped_unsafe"]
            else ""
        )
        + ")"
    )
    for d in cross["disagreements"][:10]:
        line += f"\n  DISAGREE {d['id']}: ours={d['ours']} bfcl={d['bfcl']} ({d['bfcl_error'] or d['our_reason']}): {d['answer'][:120]!r}"
    return line
