"""What a run trains on: single-turn prompts (the paper's setting) or multi-turn tasks played with
the environment in the loop (``data.multi_turn``, cluster/trajectories.py).

The loop (cluster/run.py) asks its task kind for the data and the warm-start examples, for the
screening of the training prompts, for the step's sampler and for the validation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.config import RunConfig
from cluster.data.feed import load_splits, load_warm_start_samples, render_all
from common.console import say
from common.tokenizer import load_tokenizer
from envs.registry import ENV_MODULES, load_modules


@dataclass
class RunData:
    """A run's model directory, tokenizer and rendered prompts."""

    model_dir: Any  # a Path or a str, as resolve_model gives it
    tokenizer: Any
    train: list  # training prompts
    val: list  # validation prompts (at most train.eval_limit)
    warm: list  # the warm start's examples
    longest: int  # tokens of the longest context a sequence may reach


class SingleTurn:
    """Prompts answered in one completion, judged by the reward pool (the paper's setting)."""

    headline = "accuracy"  # what ``eval/accuracy`` is called on the console
    unit = "prompts"

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    def load(self) -> RunData:
        from cluster.models.resolve import resolve_model, tiny_corpus

        cfg = self.cfg
        train_samples, val_samples = load_splits(cfg)
        warm_samples = load_warm_start_samples(cfg)
        model_dir = resolve_model(cfg.model, tiny_corpus(train_samples + (warm_samples or []), cfg))
        tokenizer = load_tokenizer(model_dir)
        train = render_all(train_samples, tokenizer, cfg, "train")
        val = render_all(val_samples, tokenizer, cfg, "validation")
        warm = render_all(warm_samples, tokenizer, cfg, "warm start") if warm_samples else train
        return _data(cfg, model_dir, tokenizer, train, val, warm)

    def screen(self, prompts: list, rollout, reward_pool, run_path: Path) -> list:
        """The training prompts worth a step (``algorithm.spread_filter_*``)."""
        from cluster.spread_filter import spread_filter

        return spread_filter(prompts, self.cfg, rollout, reward_pool, run_path)

    def sampler(self, tokenizer):
        """What samples and judges a step's groups; None: ``cluster.step.generate_and_judge``."""
        return None

    def evaluate(self, prompts: list, rollout, reward_pool, tokenizer, out_path: Path) -> dict[str, Any]:
        """Greedy validation; ``eval/accuracy`` is its headline."""
        from cluster.eval.validation import evaluate

        return evaluate(prompts, rollout, reward_pool, self.cfg.rollout.max_new_tokens, out_path)


class MultiTurn(SingleTurn):
    """Tasks of several user turns, each trajectory played with its environment in the loop and
    judged whole by the reward pool (``data.multi_turn``)."""

    headline = "multi-turn success"
    unit = "tasks"

    def load(self) -> RunData:
        from cluster.data.tasks import load_task_splits, reference_steps, render_tasks
        from cluster.models.resolve import resolve_model, tiny_corpus

        cfg = self.cfg
        if cfg.data.env_modules:  # users' environments: here first, then in every actor
            load_modules(cfg.data.env_modules)
            os.environ[ENV_MODULES] = ",".join(cfg.data.env_modules)
        train_tasks, val_tasks = load_task_splits(cfg)
        warm_samples = load_warm_start_samples(cfg)
        model_dir = resolve_model(cfg.model, tiny_corpus(warm_samples or [], cfg, tasks=train_tasks))
        tokenizer = load_tokenizer(model_dir)
        train = render_tasks(train_tasks, tokenizer, cfg, "train")
        val = render_tasks(val_tasks, tokenizer, cfg, "validation")
        if warm_samples:
            warm = render_all(warm_samples, tokenizer, cfg, "warm start")
        elif cfg.model.warm_start_sft_steps:
            warm = reference_steps(train_tasks, tokenizer, cfg)
            say(f"Warm start: {len(warm)} reference steps of {len(train_tasks)} multi-turn tasks")
        else:
            warm = train
        data = _data(cfg, model_dir, tokenizer, train, val, warm)
        # a trajectory grows past its first prompt: plan for the longest context it may reach
        data.longest = max(data.longest, cfg.model.max_model_len - cfg.rollout.max_new_tokens)
        return data

    def screen(self, prompts: list, rollout, reward_pool, run_path: Path) -> list:
        if self.cfg.algorithm.spread_filter_samples:
            say("Spread filter: not applied to multi-turn tasks (algorithm.spread_filter_samples ignored)")
        return prompts

    def sampler(self, tokenizer):
        from functools import partial

        from cluster.trajectories import play_and_judge

        return partial(play_and_judge, tokenizer=tokenizer, cfg=self.cfg)

    def evaluate(self, prompts: list, rollout, reward_pool, tokenizer, out_path: Path) -> dict[str, Any]:
        """Each validation task played once, greedily; ``eval/accuracy`` is the share that succeed."""
        from cluster.trajectories import evaluate_tasks

        return evaluate_tasks(prompts, rollout, tokenizer, self.cfg, out_path)


def task_kind(cfg: RunConfig) -> SingleTurn:
    return MultiTurn(cfg) if cfg.data.multi_turn else SingleTurn(cfg)


def _data(cfg: RunConfig, model_dir, tokenizer, train: list, val: list, warm: list) -> RunData:
    if cfg.train.eval_limit:
        val = val[: cfg.train.eval_limit]
    longest = max(len(p.ids) for p in train + val)
    return RunData(model_dir, tokenizer, train, val, warm, longest)
