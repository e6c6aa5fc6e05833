"""The workloads of ``benchmarks/vs_trl.py``: one model directory and one list of prompts per step,
built once with the project's own code and handed to both trainers.

Every setting is read from our resolved config (the ``tiny`` preset plus overrides), so TRL's side
cannot drift from ours: the config is the single source of the group size, prompts per step,
completion cap, learning rate, KL weight, clip range and micro-batch size.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.config import RunConfig, load_config
from cluster.data import prompt_messages
from cluster.data.feed import PromptFeed, load_splits, render_all
from cluster.models.resolve import resolve_model, tiny_corpus
from reward.checker import checker_category

# Both sides run plain GRPO with the same update rule: one optimizer step per generation batch,
# token-mean loss over the whole batch, k3 KL to the initial policy, constant learning rate, every
# group trained on (no dynamic sampling), no warm start (the same random weights on both sides).
MATCHED = [
    "model.warm_start_sft_steps=0",
    "data.prompt_style=paper",  # the paper's prompt with JSON tool schemas: the workloads' lengths
    "algorithm.entropy_coef=0",
    "algorithm.adv_eps=1e-4",  # TRL's fixed epsilon in (r - mean) / (std + eps)
    "algorithm.ppo_epochs=1",
    "algorithm.dynamic_sampling=false",
    "algorithm.spread_filter_samples=0",
    "rollout.temperature=1.0",
    "rollout.top_p=1.0",
    "learner.lr_schedule=constant",
    "learner.lr_warmup_steps=0",
    "learner.weight_decay=0",
    # Our run's extras, kept as small as the config allows (none of them is inside time/step).
    "train.eval_every=0",
    "train.eval_limit=1",
    "train.checkpoint_every=0",
    "logging.tensorboard=false",
]
QUICK = ["train.prompts_per_step=2", "rollout.max_new_tokens=16"]


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    overrides: list[str] = field(default_factory=list)
    min_tools: int = 0  # keep prompts offering at least this many tool schemas
    prompt_tokens: tuple[int, int] | None = None  # keep prompts of this many tokens (inclusive)


# The model shapes these workloads were defined with (before the tiny preset grew to hidden 256 with
# tied embeddings), one thread per role as Ray gives them, so their figures stay comparable.
SHAPE = [
    "model.tiny_num_heads=2",
    "model.tiny_num_kv_heads=1",
    "model.tiny_vocab_size=1024",
    "model.tiny_tie_embeddings=false",
    "learner.adam_beta2=0.999",
    "rollout.threads=1",
    "learner.threads=1",
]
WORKLOADS = {
    "a": Workload(
        "a",
        "tiny model (hidden 64, 2 layers, 16 prompts x G=8, 96 new tokens)",
        overrides=[*SHAPE, "model.tiny_hidden_size=64"],
    ),
    "b": Workload(
        "b",
        "function calling (hidden 256, 4 layers, 300-600-token prompts with 3-4 tool schemas, "
        "8 prompts x G=8, 128 new tokens)",
        overrides=[
            *SHAPE,
            "model.tiny_hidden_size=256",
            "model.tiny_num_layers=4",
            "train.prompts_per_step=8",
            "rollout.max_new_tokens=128",
        ],
        min_tools=3,
        prompt_tokens=(300, 600),
    ),
}


@dataclass
class Prepared:
    """What both sides run: our overrides, and the prompts of each step with what the reward needs."""

    workload: Workload
    cfg: RunConfig
    model_dir: Path
    ours_overrides: list[str]
    steps: int
    prompts: list[dict[str, Any]]  # step-major: text, ids, ground_truth, functions, category
    settings: dict[str, Any]


def prepare(workload: Workload, steps: int, quick: bool, workdir: Path, log=print) -> Prepared:
    """Build (or reuse) the model, choose the prompts, and fix every shared setting."""
    overrides = MATCHED + workload.overrides + (QUICK if quick else [])
    cfg = load_config("tiny", overrides)
    train_samples, _ = _load(cfg)
    model_dir = resolve_model(cfg.model, tiny_corpus(train_samples, cfg))
    ours = [*overrides, f"model.path={model_dir}"]

    if workload.min_tools or workload.prompt_tokens:
        data_file = workdir / f"train-{workload.name}.jsonl"
        kept = _filter_samples(workload, load_config("tiny", ours), data_file)
        log(f"workload {workload.name}: {kept} training prompts fit the filter ({data_file.name})")
        ours.append(f"data.train_path={data_file}")

    # The exact prompts our run will take at steps 1..N: its own feed, built from its own config.
    cfg = load_config("tiny", ours)
    tokenizer = _tokenizer(model_dir)
    samples, _ = _load(cfg)
    feed = PromptFeed(
        render_all(samples, tokenizer, cfg, "train"), cfg.train.prompts_per_step, cfg.data.shuffle_seed
    )
    fmt = cfg.reward.output_format
    prompts = []
    for step in range(1, steps + 1):
        for prompt in feed.batch(step):
            text = tokenizer.apply_chat_template(
                prompt_messages(prompt.sample, fmt, cfg.data.prompt_style),
                add_generation_prompt=True,
                tokenize=False,
            )
            if tokenizer(text)["input_ids"] != prompt.ids:  # what TRL will do with the text
                raise RuntimeError(
                    f"sample {prompt.sample.id}: the prompt text does not re-tokenise to our ids"
                )
            prompts.append(
                {
                    "text": text,
                    "tokens": len(prompt.ids),
                    "ground_truth": prompt.sample.ground_truth,
                    "functions": prompt.sample.tools,
                    "category": checker_category(prompt.sample.category),
                }
            )
    return Prepared(workload, cfg, model_dir, ours, steps, prompts, shared_settings(cfg, model_dir, prompts))


def shared_settings(cfg: RunConfig, model_dir: Path, prompts: list[dict[str, Any]]) -> dict[str, Any]:
    from transformers import AutoConfig

    model = AutoConfig.from_pretrained(model_dir)
    lengths = [p["tokens"] for p in prompts]
    return {
        "model_dir": str(model_dir),
        "model": {
            "hidden_size": model.hidden_size,
            "num_layers": model.num_hidden_layers,
            "num_heads": model.num_attention_heads,
            "num_kv_heads": model.num_key_value_heads,
            "vocab_size": model.vocab_size,
            "init": "random (cluster.models.tiny, seed 0), the same weights directory for both sides",
        },
        "dtype": cfg.model.dtype,
        "group_size": cfg.rollout.group_size,
        "prompts_per_step": cfg.train.prompts_per_step,
        "completions_per_step": cfg.train.prompts_per_step * cfg.rollout.group_size,
        "max_new_tokens": cfg.rollout.max_new_tokens,
        "temperature": cfg.rollout.temperature,
        "top_p": cfg.rollout.top_p,
        "learning_rate": cfg.learner.lr,
        "lr_schedule": cfg.learner.lr_schedule,
        "kl_coef": cfg.algorithm.kl_coef,
        "clip_eps": cfg.algorithm.clip_eps,
        "adv_eps": cfg.algorithm.adv_eps,
        "grad_clip": cfg.learner.grad_clip,
        "micro_batch_size": cfg.learner.micro_batch_size,
        "seed": cfg.train.seed,
        "reward_format": cfg.reward.output_format,
        "prompt_tokens": {
            "min": min(lengths),
            "mean": round(sum(lengths) / len(lengths), 1),
            "max": max(lengths),
        },
        "tools_per_prompt": sorted({len(p["functions"]) for p in prompts}),
    }


def _filter_samples(workload: Workload, cfg: RunConfig, out: Path) -> int:
    """Write the training samples that pass the workload's filter to ``out``; return how many."""
    tokenizer = _tokenizer(Path(cfg.model.path))
    samples, _ = _load(cfg)
    low, high = workload.prompt_tokens or (0, 1 << 30)
    kept = [
        p.sample
        for p in render_all(samples, tokenizer, cfg, "train")
        if len(p.sample.tools) >= workload.min_tools and low <= len(p.ids) <= high
    ]
    if not kept:
        raise RuntimeError(f"workload {workload.name}: no training sample passes its filter")
    out.write_text("".join(json.dumps(s.model_dump(mode="json")) + "\n" for s in kept))
    return len(kept)


def _load(cfg: RunConfig):
    """Our training and validation samples, without the loader's report on stderr."""
    with contextlib.redirect_stderr(io.StringIO()):
        return load_splits(cfg)


def _tokenizer(model_dir: Path):
    from common.tokenizer import load_tokenizer

    return load_tokenizer(model_dir)
