"""Multi-turn tasks as a run's data (``data.multi_turn``): load and split them, render each task's
first prompt once, and the texts the tiny model's tokenizer is built on.

A task is a sample of ``cluster.synthetic.multiturn`` (a BFCL multi-turn entry plus its
environment's name); its first prompt is the system prompt offering the tools the environment
starts with, then the first user turn, exactly as ``MultiTurnRunner`` renders it when it plays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cluster.config import RunConfig
from common.console import say


@dataclass
class TaskPrompt:
    """A multi-turn task and its rendered first prompt (what every trajectory of it starts from)."""

    task: dict[str, Any]
    ids: list[int]

    @property
    def id(self) -> str:
        return self.task["id"]


def load_task_splits(cfg: RunConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and validation tasks of ``data.train_path`` / ``data.val_path`` (each checked by
    replaying its ground truth); without ``val_path``, a seeded ``val_fraction`` of the training tasks."""
    d = cfg.data
    train = _load("train_path", d.train_path)[: d.train_limit]
    if d.val_path is None:
        order = list(range(len(train)))
        random.Random(d.split_seed).shuffle(order)
        held = set(order[: max(1, round(d.val_fraction * len(train)))])
        val = [t for i, t in enumerate(train) if i in held]
        train = [t for i, t in enumerate(train) if i not in held]
    else:
        val = _load("val_path", d.val_path)
    if not train:
        raise ValueError(f"data.train_path={d.train_path!r}: no multi-turn training tasks")
    say(f"Multi-turn tasks: {len(train)} for training, {len(val)} for validation")
    return train, val


def _load(field: str, path: str) -> list[dict[str, Any]]:
    from cluster.synthetic.multiturn import load_tasks

    try:
        return load_tasks(path)
    except (ValueError, OSError) as exc:
        raise ValueError(f"data.{field}={path!r} (data.multi_turn=true): {exc}") from None


def first_prompt_messages(task: dict[str, Any], style: str) -> list[dict[str, str]]:
    """The task's first conversation: its environment's starting tools in the system prompt, then
    the first user turn."""
    from cluster.eval.multiturn import first_messages
    from envs import make

    env = make(task.get("env", "bfcl"))
    try:
        return first_messages(env.reset(task), task, style)
    finally:
        env.close()


def render_tasks(tasks: list[dict[str, Any]], tokenizer, cfg: RunConfig, what: str) -> list[TaskPrompt]:
    """Each task's first prompt as token ids; tasks over ``data.max_prompt_tokens`` are left out."""
    from cluster.eval.multiturn import ChatTokens

    chat = ChatTokens(tokenizer)
    prompts, too_long = [], 0
    for task in tasks:
        ids = chat.prompt(first_prompt_messages(task, cfg.data.prompt_style))
        if len(ids) > cfg.data.max_prompt_tokens:
            too_long += 1
            continue
        prompts.append(TaskPrompt(task, ids))
    if too_long:
        say(
            f"{what}: {too_long} of {len(tasks)} tasks have a first prompt longer than "
            f"data.max_prompt_tokens={cfg.data.max_prompt_tokens}; left out"
        )
    return prompts


def task_corpus(tasks: list[dict[str, Any]], style: str) -> list[str]:
    """Texts for the tiny tokenizer, as the chat template writes them: the system prompts, every
    user turn, every reference step and every observation the ground truth gets."""
    from cluster.eval.multiturn import REVEAL
    from envs.stateful import replay_ground_truth

    texts: dict[str, None] = {}
    for task in tasks:
        for message in first_prompt_messages(task, style):
            texts[f"{message['role']}\n{message['content']}"] = None
        for turn in task["question"][1:]:
            for message in turn:
                texts[f"{message['role']}\n{message['content']}"] = None
        for reference in task.get("reference", []):
            texts[f"assistant\n{reference}"] = None
        texts[f"assistant\n{TURN_DONE}"] = None
        for replayed in replay_ground_truth(task):
            for observation in replayed.observations:
                texts[f"tool\n{observation}"] = None
        docs = [d for names in (task.get("missed_function") or {}).values() for d in names]
        if docs:
            texts[f"user\n{REVEAL.format(functions=', '.join(docs))}"] = None
    return list(texts)


TURN_DONE = "<think>The tool results answer the request.</think>Done."  # ends a turn after its calls


@dataclass
class StepSample:
    """A reference model step of a multi-turn task, for the supervised warm start (what it reads
    of a sample: ``id`` and ``reference``)."""

    id: str
    reference: str
    ground_truth: tuple = ()


@dataclass
class StepPrompt:
    """A warm-start example: the conversation before a reference step (as the runner renders it,
    tool results and later user turns included) and the step."""

    sample: StepSample
    ids: list[int]


def reference_script(task: dict[str, Any]) -> list[str]:
    """A correct play of the task, step by step: each turn's reference step, then (after calls) a
    step without a call that ends the turn."""
    from reward.trajectory import step_calls

    return [s for ref in task["reference"] for s in ([ref, TURN_DONE] if step_calls(ref) else [ref])]


def reference_steps(tasks: list[dict[str, Any]], tokenizer, cfg: RunConfig) -> list[StepPrompt]:
    """Every step of every task's reference play as a warm-start example (the task played by the
    runner with the environment in the loop, so each step sees what it would see in RL)."""
    from cluster.eval.multiturn import LocalEnv, MultiTurnRunner

    eos = tokenizer.eos_token_id
    examples: list[StepPrompt] = []
    for task in tasks:
        script = reference_script(task)
        seen: list[list[int]] = []

        def generate(prompts, max_new_tokens, script=script, seen=seen):
            (ids,) = prompts
            text = script[len(seen)] if len(seen) < len(script) else TURN_DONE
            seen.append(list(ids))
            out = tokenizer.encode(text, add_special_tokens=False) + [eos]
            return [{"text": text, "token_ids": out, "logprobs": [], "finish_reason": "stop"}]

        runner = MultiTurnRunner(
            generate,
            tokenizer,
            style=cfg.data.prompt_style,
            max_model_len=10**9,
            max_new_tokens=cfg.rollout.max_new_tokens,
            slots=1,
            env_factory=LocalEnv,
            verbose=False,
        )
        (played,) = runner.run([task])
        if not played.correct:  # a reference play that fails its checks teaches nothing right
            continue
        for number, (ids, text) in enumerate(zip(seen, played.outputs, strict=True)):
            if len(ids) + len(tokenizer.encode(text, add_special_tokens=False)) < cfg.model.max_model_len:
                examples.append(StepPrompt(StepSample(f"{task['id']}/{number}", text), ids))
    return examples
