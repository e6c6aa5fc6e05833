"""Evaluation: the validation split (``evaluate``, used by the training loop: greedy decoding by the
rollout pool, the training reward) and ``launch.py eval`` on BFCL categories (``eval_command``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.config import RunConfig, load_config
from cluster.data import Sample
from cluster.data.feed import Prompt
from cluster.eval.report import (
    CHART_FILE,
    COMPARISON_CHART,
    COMPARISON_FILE,
    OUTPUTS_FILE,
    SUMMARY_FILE,
    bar_chart,
    comparison,
    comparison_chart,
    comparison_table,
    load_summary,
    summary_table,
)
from cluster.eval.sides import call_precision, call_rate, side_accuracy
from cluster.roles.rollout_pool import RolloutPool, Sampling
from common.console import say, speak_on
from reward import ParsedCompletion, parse_completion, score
from reward.checker import checker_category
from reward.grammar import THINK_OPEN, TOOL_CALL_OPEN, parse_answer, split_think
from reward.score import answer_correct, expects_no_call


def evaluate(
    prompts: list[Prompt],
    rollout: RolloutPool,
    reward_pool,
    max_new_tokens: int,
    out_file: str | Path | None = None,
) -> dict[str, Any]:
    """Greedy-decode every prompt once, score with the strict reward, return accuracy overall and
    per category, on each side (``cluster.eval.sides``), ``eval/call_rate`` and ``eval/call_precision``;
    with ``out_file``, write every output with its verdict as JSON lines."""
    if not prompts:
        return {"eval/accuracy": float("nan"), "eval/count": 0}
    groups = rollout.generate([p.ids for p in prompts], Sampling(1, 0.0, max_new_tokens=max_new_tokens))
    texts = [group[0]["text"] for group in groups]
    judged = reward_pool.judge_groups([p.reward_group([t]) for p, t in zip(prompts, texts, strict=True)])
    verdicts = [group[0] for group in judged]
    rewards = [v.reward for v in verdicts]
    by_category: dict[str, list[float]] = defaultdict(list)
    for prompt, reward in zip(prompts, rewards, strict=True):
        by_category[prompt.sample.category].append(reward)
    metrics: dict[str, Any] = {"eval/accuracy": sum(rewards) / len(rewards), "eval/count": len(rewards)}
    for category, values in sorted(by_category.items()):
        metrics[f"eval/accuracy/{category}"] = sum(values) / len(values)
    metrics.update(side_accuracy(prompts, rewards))
    for key, value in (
        ("eval/call_rate", call_rate(prompts, verdicts)),
        ("eval/call_precision", call_precision(prompts, verdicts)),
    ):
        if value is not None:
            metrics[key] = value
    if out_file is not None:
        Path(out_file).parent.mkdir(parents=True, exist_ok=True)
        with open(out_file, "w") as f:
            for prompt, text, reward in zip(prompts, texts, rewards, strict=True):
                record = {
                    "id": prompt.sample.id,
                    "category": prompt.sample.category,
                    "reward": reward,
                    "output": text,
                }
                f.write(json.dumps(record) + "\n")
    return metrics


def accuracy_report(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Lines for the end-of-run report: accuracy per category and the call rate, before -> after
    RL, and a warning when the gain comes from abstaining (the call rate more than halved)."""
    categories = sorted(k.removeprefix("eval/accuracy/") for k in after if k.startswith("eval/accuracy/"))
    parts = [
        f"{c} {before.get(f'eval/accuracy/{c}', float('nan')):.2f} -> {after[f'eval/accuracy/{c}']:.2f}"
        for c in categories
    ]
    lines = [f"By category: {', '.join(parts)}."] if parts else []
    sides = [
        f"{label} {before[key]:.3f} -> {after[key]:.3f}"
        for key, label in (
            ("eval/call_prompts", "prompts that need a call"),
            ("eval/no_call_prompts", "prompts that need none"),
        )
        if key in before and key in after
    ]
    sides += [
        f"slice {k.removeprefix('eval/slice/')} {before[k]:.3f} -> {after[k]:.3f}"
        for k in sorted(after)
        if k.startswith("eval/slice/") and k in before
    ]
    if sides:
        lines.append(f"Accuracy on {', '.join(sides)}.")
    rate_before, rate_after = before.get("eval/call_rate"), after.get("eval/call_rate")
    if rate_before is None or rate_after is None:
        return lines
    line = (
        f"Prompts that need a call answered with one (right or wrong): {rate_before:.0%} -> {rate_after:.0%}"
    )
    precision_before, precision_after = before.get("eval/call_precision"), after.get("eval/call_precision")
    if precision_before is not None and precision_after is not None:
        line += f"; of those calls, right (call precision): {precision_before:.0%} -> {precision_after:.0%}"
    lines.append(line + ".")
    if rate_after < 0.5 * rate_before:
        lines.append(
            "Warning: the policy now abstains on most prompts that need a call; its gain is on the "
            "no-call categories, not better calls (see eval/call_rate)."
        )
    return lines


# ----------------------------------------------------------------------------- launch.py eval
#
# `python launch.py eval` evaluates one model on BFCL categories (--bfcl) or on the project's
# validation split (--data val), or compares two earlier evaluations (--compare A B).


class EvalError(ValueError):
    """Bad ``launch.py eval`` arguments; the message names the flag and what is expected."""


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
        return record


def eval_command(config: RunConfig, args: argparse.Namespace) -> int:
    """``launch.py eval``: returns the exit status (2 with a one-paragraph message for bad arguments).
    Its console lines go to stderr: stdout carries the results."""
    speak_on(sys.stderr)
    try:
        return _eval_command(config, args)
    finally:
        speak_on(None)


def _eval_command(config: RunConfig, args: argparse.Namespace) -> int:
    from cluster.config import ConfigError
    from cluster.eval.bfcl import BfclError, is_multi_turn
    from cluster.eval.multiturn import MULTI_TURN_SLOTS, multi_turn_cross_check_line
    from cluster.models.resolve import ModelNotFound
    from cluster.roles.kv_cache import rollout_kv_cache

    try:
        if getattr(args, "compare", None):
            return compare_command(config, args)
        request = EvalRequest.from_args(config, args)
        model_dir = eval_model_dir(config)
        if not any(o.startswith("data.prompt_style=") for o in getattr(args, "overrides", None) or []):
            style = trained_prompt_style(config.model.path, config.data.prompt_style)
            if style != config.data.prompt_style:
                say(f"Prompt style: {style} (the model's training prompt; set data.prompt_style= to change)")
            config.data.prompt_style = style
        sequences = None
        if is_multi_turn(request.categories):  # whole conversations, a few at a time
            _fit_context(config, model_dir, getattr(args, "overrides", None) or [])
            sequences = MULTI_TURN_SLOTS
        # The prompts are rendered later: size the cache for prompts up to the whole context.
        longest = config.model.max_model_len - request.max_new_tokens
        kv_cache = rollout_kv_cache(config, model_dir, longest, sequences=sequences)
    except (EvalError, BfclError, ConfigError, ModelNotFound, ValueError, OSError) as exc:
        print(f"launch.py eval: {exc}", file=sys.stderr)
        return 2
    summary = run_eval(config, request, model_dir, kv_cache)
    print(summary_table(summary))
    cross = summary.get("cross_check")
    if cross:
        multi_turn = summary["kind"] == "bfcl-multi-turn"
        print(multi_turn_cross_check_line(cross) if multi_turn else cross_check_line(cross))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in summary["time_s"].items())
    tokens = summary.get("generated_tokens")
    print(f"\nTime: {times}" + (f"; {tokens} tokens generated" if tokens is not None else ""))
    print(
        f"Outputs, verdicts and reasons: {request.out_dir / OUTPUTS_FILE}\nChart: {request.out_dir / CHART_FILE}"
    )
    return 0


def _fit_context(config: RunConfig, model_dir: Path, overrides: list[str], cap: int = 32768) -> None:
    """Multi-turn conversations grow past a single-turn context: unless ``model.max_model_len`` was
    set on the command line, use the model's own (its ``max_position_embeddings``, at most ``cap``)."""
    if any(o.startswith("model.max_model_len=") for o in overrides):
        return
    try:
        positions = int(
            json.loads((model_dir / "config.json").read_text()).get("max_position_embeddings") or 0
        )
    except (OSError, ValueError):
        return
    length = min(positions, cap)
    if length > config.model.max_model_len:
        say(
            f"Multi-turn: model.max_model_len {config.model.max_model_len} -> {length} (the model's context; set model.max_model_len= to change)"
        )
        config.model.max_model_len = length


@dataclass
class EvalRequest:
    """What to evaluate and how, validated from the command line before anything starts."""

    name: str
    out_dir: Path
    categories: list[str] | None  # BFCL categories, or None for the validation split
    limit: int | None
    temperature: float
    max_new_tokens: int
    prompt_format: str  # "python" (the paper's think template) or "native"
    cross_check: bool

    @classmethod
    def from_args(cls, config: RunConfig, args: argparse.Namespace) -> EvalRequest:
        from cluster.eval.bfcl import data_dir, parse_categories

        bfcl, data = getattr(args, "bfcl", None), getattr(args, "data", None)
        if bool(bfcl) == bool(data):
            raise EvalError(
                "give exactly one of --bfcl <categories|all-single-turn>, --data val or --compare A B"
            )
        if data is not None and data != "val":
            raise EvalError(f"--data {data!r}: only 'val' (the run config's validation split) is supported")
        limit = getattr(args, "limit", None)
        if limit is not None and limit < 1:
            raise EvalError(f"--limit {limit}: expected a number of questions per category >= 1")
        temperature = float(getattr(args, "temperature", None) or 0.0)
        if temperature < 0:
            raise EvalError(f"--temperature {temperature}: expected >= 0 (0 = greedy)")
        max_new = getattr(args, "max_new_tokens", None) or config.rollout.max_new_tokens
        if max_new < 1 or max_new >= config.model.max_model_len:
            raise EvalError(
                f"--max-new-tokens {max_new}: expected 1..{config.model.max_model_len - 1} "
                f"(model.max_model_len={config.model.max_model_len} holds prompt and completion)"
            )
        prompt_format = getattr(args, "format", None) or "python"
        cross_check = bool(getattr(args, "cross_check", False))
        if data and (cross_check or prompt_format != "python" or temperature):
            raise EvalError(
                "--cross-check, --format native and --temperature apply to --bfcl only "
                "(--data val is the training loop's greedy evaluation)"
            )
        if cross_check and config.reward.output_format != "python" and prompt_format == "python":
            raise EvalError(
                "--cross-check needs reward.output_format=python (BFCL decodes Python call lists)"
            )
        categories = None
        if bfcl:
            categories = parse_categories(bfcl)
            data_dir()  # a clear message now when bfcl-eval is missing
        model = getattr(args, "model", None)
        if model:
            config.model.path = model
        name = getattr(args, "name", None) or config.logging.run_name or _default_name(config.model.path)
        return cls(
            name=name,
            out_dir=Path(config.logging.runs_dir) / name / "eval",
            categories=categories,
            limit=limit,
            temperature=temperature,
            max_new_tokens=max_new,
            prompt_format=prompt_format,
            cross_check=cross_check,
        )


def _default_name(model_path: str) -> str:
    path = Path(model_path)
    label = f"{path.parent.parent.name}-{path.name}" if path.parent.name == "checkpoints" else path.name
    return f"eval-{label or 'model'}-{datetime.now():%Y%m%d-%H%M%S}"


def trained_prompt_style(model_path: str, preset_style: str) -> str:
    """The prompt style a model expects: the preset's for 'tiny' (built and trained with it), the
    ``data.prompt_style`` of the run a checkpoint comes from (``runs/<name>/config.yaml``), and the
    paper's for any other model (a pretrained model was never trained on our compact prompt)."""
    if model_path == "tiny":
        return preset_style
    path = Path(model_path).expanduser()
    for run_dir in (path, path.parent.parent):  # a run directory, or runs/<name>/checkpoints/step-N
        saved = run_dir / "config.yaml"
        if saved.is_file():  # a run saved before the field existed gets its default, the paper's
            return load_config(str(saved)).data.prompt_style
    return "paper"


def eval_model_dir(config: RunConfig) -> Path:
    """The HF directory of ``config.model.path``: a model or checkpoint directory, a run directory
    (its newest checkpoint), 'tiny' (built on the training split's corpus, as training does) or
    'smollm2-135m-instruct' (converted once)."""
    from cluster.models.resolve import ModelNotFound, resolve_model

    path = Path(config.model.path).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        steps = sorted(
            (p for p in (path / "checkpoints").glob("step-*") if (p / "config.json").is_file()),
            key=lambda p: p.name,
        )
        if not steps:
            raise ModelNotFound(
                f"--model {config.model.path}: {path} has no config.json and no checkpoints/step-*/; "
                "expected a Hugging Face model directory, a checkpoint or a run directory"
            )
        config.model.path = str(steps[-1])
        say(f"Evaluating the newest checkpoint of {path}: {steps[-1]}")
    corpus: list[str] = []
    if config.model.path == "tiny":
        from cluster.data import corpus_texts
        from cluster.data.feed import load_splits

        train, _ = load_splits(config)
        corpus = corpus_texts(train, config.reward.output_format, config.data.prompt_style)
    return resolve_model(config.model, corpus)


def run_eval(
    config: RunConfig, request: EvalRequest, model_dir: Path, kv_cache: int | None = None
) -> dict[str, Any]:
    """Start (or join) Ray, generate with a rollout pool (``kv_cache``: each CPU worker's KV-cache
    bytes, cluster/roles/kv_cache.py), score, write ``request.out_dir``."""
    import ray

    from cluster.eval.bfcl import is_multi_turn
    from cluster.eval.multiturn import eval_multi_turn
    from cluster.roles.ray_setup import actor_env, connect
    from common.tokenizer import load_tokenizer

    actor_env()
    tokenizer = load_tokenizer(model_dir)
    started = time.perf_counter()
    own_ray = not ray.is_initialized()
    connect(config.cluster, dashboard=False)
    rollout = None
    try:
        rollout = RolloutPool(
            str(model_dir), config.model, config.rollout, name_prefix="eval-rollout", kv_cache_bytes=kv_cache
        )
        if request.categories is None:
            summary = _eval_validation(config, request, tokenizer, rollout)
        elif is_multi_turn(request.categories):
            summary = eval_multi_turn(config, request, tokenizer, rollout)
        else:
            summary = _eval_bfcl(config, request, tokenizer, rollout)
    finally:
        if rollout is not None:
            rollout.shutdown()
        if own_ray:
            ray.shutdown()
    summary.update(
        name=request.name,
        model=config.model.path,
        model_dir=str(model_dir),
        temperature=request.temperature,
        max_new_tokens=request.max_new_tokens,
        limit=request.limit,
        rollout_workers=config.rollout.num_workers,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    summary["time_s"]["total"] = round(time.perf_counter() - started, 2)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    (request.out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    bar_chart(summary, request.out_dir / CHART_FILE)
    return summary


def _eval_bfcl(config: RunConfig, request: EvalRequest, tokenizer, rollout: RolloutPool) -> dict[str, Any]:
    from cluster.eval.bfcl import aggregates, load_category

    assert request.categories is not None
    samples = [s for category in request.categories for s in load_category(category, request.limit)]
    judged, prompts = _render(samples, tokenizer, config, request)
    t = time.perf_counter()
    completions = _generate(rollout, [ids for _, ids in prompts], request)
    generate_s = time.perf_counter() - t
    for (item, ids), completion in zip(prompts, completions, strict=True):
        item.output, item.finish_reason, item.prompt_tokens = (
            completion["text"],
            completion["finish_reason"],
            len(ids),
        )
    t = time.perf_counter()
    fmt = config.reward.output_format
    for item, _ in prompts:
        item.correct, item.reason = judge(item.output, item.sample, request.prompt_format, fmt)
        item.called = answers_with_call(item.output, request.prompt_format, fmt)
    cross = cross_check(judged, request.prompt_format, fmt) if request.cross_check else None
    score_s = time.perf_counter() - t
    _write_outputs(request.out_dir, judged)
    summary = _category_summary(judged, request.categories)
    summary.update(
        kind="bfcl",
        format="native" if request.prompt_format == "native" else f"think+{fmt}",
        aggregates=aggregates(_scores(summary)),
        cross_check=cross,
        generated_tokens=sum(len(c["token_ids"]) for c in completions),
        time_s={"generate": round(generate_s, 2), "score": round(score_s, 2)},
    )
    return summary


def _eval_validation(
    config: RunConfig, request: EvalRequest, tokenizer, rollout: RolloutPool
) -> dict[str, Any]:
    """The validation split through the training loop's ``evaluate()`` (greedy, strict reward)."""
    from cluster.data.feed import load_splits, render_all
    from reward import RewardPool

    _, val = load_splits(config)
    prompts = render_all(val, tokenizer, config, "validation")[: request.limit]
    reward_pool = RewardPool(
        config.reward.num_actors,
        config.reward.cpus_per_actor,
        config.reward.output_format,
        name_prefix="eval-reward",
    )
    out_file = request.out_dir / OUTPUTS_FILE
    t = time.perf_counter()
    try:
        evaluate(prompts, rollout, reward_pool, request.max_new_tokens, out_file)
    finally:
        reward_pool.shutdown()
    elapsed = time.perf_counter() - t
    judged = []
    records = [json.loads(line) for line in out_file.read_text().splitlines()] if prompts else []
    for prompt, record in zip(prompts, records, strict=True):
        item = Judged(prompt.sample, record["output"], prompt_tokens=len(prompt.ids))
        item.correct = record["reward"] == 1.0
        item.called = answers_with_call(item.output, "think", config.reward.output_format)
        item.reason = (
            "" if item.correct else failure_reason(item.output, prompt.sample, config.reward.output_format)
        )
        judged.append(item)
    _write_outputs(request.out_dir, judged)
    summary = _category_summary(judged, sorted({p.sample.category for p in prompts}))
    summary.update(
        kind="val",
        format=f"think+{config.reward.output_format}",
        time_s={"generate+score": round(elapsed, 2)},
    )
    return summary


def _render(samples: list[Sample], tokenizer, config: RunConfig, request: EvalRequest):
    """Every question as a Judged item; those whose prompt fits the model are also returned with
    their ids. A prompt too long is not generated and counts as wrong, with the reason."""
    from cluster.data import PromptTooLong, render_prompt

    limit = config.model.max_model_len - request.max_new_tokens
    judged, prompts = [], []
    for sample in samples:
        item = Judged(sample)
        judged.append(item)
        try:
            if request.prompt_format == "native":
                ids = native_prompt_ids(sample, tokenizer)
                if len(ids) > limit:
                    raise PromptTooLong(sample.id, len(ids), limit)
            else:
                ids = render_prompt(
                    sample, tokenizer, config.reward.output_format, limit, config.data.prompt_style
                )
        except PromptTooLong as exc:
            item.prompt_tokens = exc.length
            item.reason = (
                f"prompt too long: {exc.length} tokens > {limit} (model.max_model_len - max_new_tokens); "
                "not generated"
            )
            continue
        prompts.append((item, ids))
    if len(prompts) < len(judged):
        say(
            f"{len(judged) - len(prompts)} of {len(judged)} prompts are too long for the model; counted as wrong"
        )
    return judged, prompts


def native_prompt_ids(sample: Sample, tokenizer) -> list[int]:
    """The question in the model's own tool format: the tools passed to its chat template when the
    template takes them; otherwise BFCL's own prompt-mode system prompt (as BFCL prompts models
    without native tool calling). No think block is asked for."""
    from cluster.eval.bfcl import prompt_mode_messages

    template = tokenizer.chat_template or ""
    if "tools" in template:
        messages = [{"role": m["role"], "content": m["content"]} for m in sample.messages]
        tools = [{"type": "function", "function": f} for f in sample.tools]
        encoded = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=True
        )
    else:
        encoded = tokenizer.apply_chat_template(
            prompt_mode_messages(sample), add_generation_prompt=True, tokenize=True, return_dict=True
        )
    return list(encoded["input_ids"])


def _generate(rollout: RolloutPool, prompts: list[list[int]], request: EvalRequest) -> list[dict[str, Any]]:
    if not prompts:
        return []
    sampling = Sampling(1, request.temperature, max_new_tokens=request.max_new_tokens, seed=0)
    return [group[0] for group in rollout.generate(prompts, sampling)]


# ----------------------------------------------------------------------------- verdicts


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


# ----------------------------------------------------------------------------- summaries


def _category_summary(judged: list[Judged], order: list[str]) -> dict[str, Any]:
    """Per category and overall: right answers; ``call_rate``, the share of outputs that are a
    call list (on a no-call category, the calls made where none fits); ``call_precision``, the
    share right of the call lists written where a call is due (None where none is)."""

    def tally(items: list[Judged]) -> dict[str, Any]:
        correct = sum(j.correct for j in items)
        calls_due = [j.correct for j in items if j.called and j.sample.ground_truth]
        return {
            "correct": correct,
            "total": len(items),
            "accuracy": correct / len(items) if items else None,
            "call_rate": sum(j.called for j in items) / len(items) if items else None,
            "call_precision": sum(calls_due) / len(calls_due) if calls_due else None,
        }

    categories = {c: tally([j for j in judged if j.sample.category == c]) for c in order}
    return {"categories": categories, "overall": tally(judged)}


def _scores(summary: dict[str, Any]):
    from cluster.eval.bfcl import CategoryScore

    return {c: CategoryScore(s["correct"], s["total"]) for c, s in summary["categories"].items()}


def _write_outputs(out_dir: Path, judged: list[Judged]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / OUTPUTS_FILE, "w") as f:
        for item in judged:
            f.write(json.dumps(item.record()) + "\n")


def compare_command(config: RunConfig, args: argparse.Namespace) -> int:
    """``--compare A B``: two evaluations side by side (table and PNG)."""
    first, second = args.compare
    result = comparison(load_summary(first), load_summary(second))
    name = getattr(args, "name", None) or f"compare-{result['a']}-vs-{result['b']}"
    out_dir = Path(config.logging.runs_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / COMPARISON_FILE).write_text(json.dumps(result, indent=2))
    chart = comparison_chart(result, out_dir / COMPARISON_CHART)
    print(comparison_table(result))
    print(f"\nComparison: {out_dir / COMPARISON_FILE}\nChart: {chart}")
    return 0
