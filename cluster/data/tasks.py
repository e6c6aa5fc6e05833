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
        for replayed in replay_ground_truth(task):
            for observation in replayed.observations:
                texts[f"tool\n{observation}"] = None
        docs = [d for names in (task.get("missed_function") or {}).values() for d in names]
        if docs:
            texts[f"user\n{REVEAL.format(functions=', '.join(docs))}"] = None
    return list(texts)
