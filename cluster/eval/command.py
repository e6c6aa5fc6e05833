"""``launch.py eval``: one model on BFCL categories (single- and multi-turn) or on the project's
validation split, or two earlier evaluations side by side (``--compare``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.config import RunConfig
from cluster.data import Sample
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
from cluster.eval.validation import evaluate
from cluster.eval.verdicts import (
    Judged,
    answers_with_call,
    cross_check,
    cross_check_line,
    failure_reason,
    judge,
)
from cluster.roles.rollout_pool import RolloutPool, Sampling
from common.console import say, speak_on

# ----------------------------------------------------------------------------- launch.py eval
#
# `python launch.py eval` evaluates one model on BFCL categories (--bfcl) or on the project's
# validation split (--data val), or compares two earlier evaluations (--compare A B).


class EvalError(ValueError):
    """Bad ``launch.py eval`` arguments; the message names the flag and what is expected."""


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
    from cluster.models.resolve import ModelNotFound, eval_model_dir, trained_prompt_style
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
    samples: int = 0  # K samples a question at rollout.temperature for pass@K and mean@K (0: none)

    @classmethod
    def from_args(cls, config: RunConfig, args: argparse.Namespace) -> EvalRequest:
        from cluster.eval.bfcl import data_dir, is_multi_turn, parse_categories

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
        samples = getattr(args, "samples", None) or 0
        if samples < 0 or samples == 1:
            raise EvalError(f"--samples {samples}: expected 0 (none) or a number of samples >= 2")
        if samples and categories and is_multi_turn(categories):
            raise EvalError("--samples applies to single-turn questions (--data val or single-turn --bfcl)")
        if samples and config.rollout.temperature <= 0:
            raise EvalError(
                f"--samples {samples} samples at rollout.temperature, which is "
                f"{config.rollout.temperature}: set rollout.temperature= above 0"
            )
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
            samples=samples,
        )


def _default_name(model_path: str) -> str:
    path = Path(model_path)
    label = f"{path.parent.parent.name}-{path.name}" if path.parent.name == "checkpoints" else path.name
    return f"eval-{label or 'model'}-{datetime.now():%Y%m%d-%H%M%S}"


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
        samples=request.samples,
        sample_temperature=config.rollout.temperature if request.samples else None,
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
    time_s = {"generate": round(generate_s, 2), "score": round(score_s, 2)}
    time_s.update(_draw_samples(rollout, prompts, config, request))
    _write_outputs(request.out_dir, judged)
    summary = _category_summary(judged, request.categories)
    summary.update(
        kind="bfcl",
        format="native" if request.prompt_format == "native" else f"think+{fmt}",
        aggregates=aggregates(_scores(summary)),
        cross_check=cross,
        generated_tokens=sum(len(c["token_ids"]) for c in completions),
        time_s=time_s,
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
    time_s = {"generate+score": round(elapsed, 2)}
    time_s.update(
        _draw_samples(rollout, [(j, p.ids) for j, p in zip(judged, prompts, strict=True)], config, request)
    )
    _write_outputs(request.out_dir, judged)
    summary = _category_summary(judged, sorted({p.sample.category for p in prompts}))
    summary.update(kind="val", format=f"think+{config.reward.output_format}", time_s=time_s)
    return summary


def _draw_samples(
    rollout: RolloutPool, prompts: list[tuple[Judged, list[int]]], config: RunConfig, request: EvalRequest
) -> dict[str, float]:
    """With ``--samples K``: K completions a question at ``rollout.temperature``, each judged by the
    same rule as the answer above, kept on the item (``Judged.samples``) for pass@K and mean@K;
    returns the time it took."""
    if not request.samples or not prompts:
        return {}
    say(
        f"Sampling {request.samples} completions a question at temperature {config.rollout.temperature} (pass@K)"
    )
    t = time.perf_counter()
    sampling = Sampling(
        request.samples,
        config.rollout.temperature,
        max_new_tokens=request.max_new_tokens,
        seed=0,
        logprobs=False,  # judged, not trained on
    )
    groups = rollout.generate([ids for _, ids in prompts], sampling)
    fmt = config.reward.output_format
    for (item, _), group in zip(prompts, groups, strict=True):
        item.samples = [judge(c["text"], item.sample, request.prompt_format, fmt)[0] for c in group]
    return {"samples": round(time.perf_counter() - t, 2)}


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
    sampling = Sampling(1, request.temperature, max_new_tokens=request.max_new_tokens, seed=0, logprobs=False)
    return [group[0] for group in rollout.generate(prompts, sampling)]


# ----------------------------------------------------------------------------- verdicts


# ----------------------------------------------------------------------------- summaries


def _category_summary(judged: list[Judged], order: list[str]) -> dict[str, Any]:
    """Per category, overall and on each side (the questions that need a call, those that need
    none): right answers; ``call_rate``, the share of outputs that are a call list (on a no-call
    category, the calls made where none fits); ``call_precision``, the share right of the call
    lists written where a call is due (None where none is); with ``--samples K``, ``pass_at_k``
    (the share of questions with at least one right sample) and ``mean_at_k`` (the samples'
    accuracy)."""

    sampled = any(j.samples is not None for j in judged)

    def tally(items: list[Judged]) -> dict[str, Any]:
        correct = sum(j.correct for j in items)
        calls_due = [j.correct for j in items if j.called and j.sample.ground_truth]
        score = {
            "correct": correct,
            "total": len(items),
            "accuracy": correct / len(items) if items else None,
            "call_rate": sum(j.called for j in items) / len(items) if items else None,
            "call_precision": sum(calls_due) / len(calls_due) if calls_due else None,
        }
        if sampled:  # a question not generated (prompt too long) counts as never right
            score["pass_at_k"] = sum(any(j.samples or []) for j in items) / len(items) if items else None
            score["mean_at_k"] = (
                sum(sum(j.samples) / len(j.samples) for j in items if j.samples) / len(items)
                if items
                else None
            )
        return score

    categories = {c: tally([j for j in judged if j.sample.category == c]) for c in order}
    sides = {
        side: tally(items)
        for side, items in (
            ("need a call", [j for j in judged if j.sample.ground_truth]),
            ("need none", [j for j in judged if not j.sample.ground_truth]),
        )
        if items
    }
    return {"categories": categories, "overall": tally(judged), "sides": sides}


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
