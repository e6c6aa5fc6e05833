"""The data feed of a run: load, filter, split and render the samples once; hand out batches.

The order of training prompts is a pure function of (seed, step): epoch e is a seeded
permutation, and step t takes the next ``prompts_per_step`` prompts. A resumed run therefore
continues with exactly the prompts it would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cluster.config import RunConfig
from cluster.data import (
    PromptTooLong,
    Sample,
    ast_filter,
    check_prompt_length,
    load_samples,
    render_prompts,
    split_samples,
)
from cluster.data.loaders import DataSourceError
from common.console import say
from reward.checker import checker_category


@dataclass
class Prompt:
    """A rendered prompt and what the reward needs to score its completions."""

    sample: Sample
    ids: list[int]

    @property
    def id(self) -> str:
        return self.sample.id

    def reward_group(self, texts: list[str]) -> dict[str, Any]:
        """This prompt's completions as one group for ``RewardPool.judge_groups``: the gold answer
        and the tools travel once, beside the texts."""
        return {
            "texts": texts,
            "ground_truth": self.sample.ground_truth,
            "functions": self.sample.tools,
            "category": checker_category(self.sample.category),
        }


def load_splits(cfg: RunConfig) -> tuple[list[Sample], list[Sample]]:
    """Training and validation samples: loaded, validated, AST-filtered, split."""
    d = cfg.data
    loaded = _load("train_path", d.train_path, cfg, d.train_limit)
    train, report = ast_filter(loaded.samples, cfg.reward.output_format)
    say(f"AST filter on {d.train_path}: {report}")
    if d.val_path is None:
        train, val = split_samples(train, d.val_fraction, d.split_seed)
    else:
        loaded_val = _load("val_path", d.val_path, cfg)
        val, report = ast_filter(loaded_val.samples, cfg.reward.output_format)
        say(f"AST filter on {d.val_path}: {report}")
    if not train:
        raise ValueError(
            f"data.train_path={d.train_path!r}: no training samples left after validation and filtering"
        )
    return train, val


def load_warm_start_samples(cfg: RunConfig) -> list[Sample] | None:
    """The samples of ``data.warm_start_path`` (validated, AST-filtered); None when it is not set or
    the run has no warm start (``model.warm_start_sft_steps=0``)."""
    path = cfg.data.warm_start_path
    if path is None or not cfg.model.warm_start_sft_steps:
        return None
    samples, report = ast_filter(_load("warm_start_path", path, cfg).samples, cfg.reward.output_format)
    say(f"AST filter on {path}: {report}")
    if not samples:
        raise ValueError(f"data.warm_start_path={path!r}: no samples left after filtering")
    return samples


def _load(field: str, path: str, cfg: RunConfig, limit: int | None = None):
    """``load_samples`` of one data field; a missing file or an unreadable dataset names the field."""
    try:
        return load_samples(path, cfg.data.format, skip_invalid=cfg.data.skip_invalid, limit=limit)
    except (DataSourceError, FileNotFoundError) as exc:
        raise ValueError(f"data.{field}={path!r}: {exc}") from None


def render_all(samples: list[Sample], tokenizer, cfg: RunConfig, what: str) -> list[Prompt]:
    """Tokenise every prompt once; prompts over data.max_prompt_tokens are reported and left out."""
    prompts, too_long = [], []
    rendered = render_prompts(samples, tokenizer, cfg.reward.output_format, cfg.data.prompt_style)
    for sample, ids in zip(samples, rendered, strict=True):
        try:
            prompts.append(Prompt(sample, check_prompt_length(sample, ids, cfg.data.max_prompt_tokens)))
        except PromptTooLong as exc:
            too_long.append(exc)
    if too_long:
        longest = max(e.length for e in too_long)
        say(
            f"{what}: {len(too_long)} of {len(samples)} prompts are longer than data.max_prompt_tokens="
            f"{cfg.data.max_prompt_tokens} (longest {longest}); left out, not truncated"
        )
    return prompts


class PromptFeed:
    """Deterministic batches of training prompts, epoch after epoch."""

    def __init__(self, prompts: list[Prompt], per_step: int, seed: int):
        if not prompts:
            raise ValueError("no training prompts to feed")
        self.prompts = prompts
        self.per_step = per_step
        self.seed = seed
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._orders = {epoch: torch.randperm(len(self.prompts), generator=generator).tolist()}
        return self._orders[epoch]

    def batch(self, step: int) -> list[Prompt]:
        """The prompts of 1-based ``step``."""
        n = len(self.prompts)
        start = (step - 1) * self.per_step
        out = []
        for position in range(start, start + self.per_step):
            epoch, offset = divmod(position, n)
            out.append(self.prompts[self._order(epoch)[offset]])
        return out

    def extra(self, step: int, round_: int, count: int) -> list[Prompt]:
        """``count`` fresh prompts for dynamic sampling at ``step`` (round ``round_``): a seeded draw
        that does not move the main order, so a resumed run sees the same ones."""
        generator = torch.Generator().manual_seed((self.seed * 100_003 + step) * 1_009 + round_)
        picks = torch.randint(len(self.prompts), (count,), generator=generator).tolist()
        return [self.prompts[i] for i in picks]
