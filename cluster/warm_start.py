"""The supervised warm start: a brief SFT on the training split's reference completions.

A random tiny model never writes a call, so RL alone would see only all-zero groups. The warm
start uses the same training data as RL (never the validation split) and is cached: a second run
with the same model, data and settings reuses it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from cluster.config import REPO_ROOT, RunConfig, save_config
from cluster.data import reference_completion
from cluster.data.feed import Prompt
from cluster.observe.progress import phase
from common.console import say
from learner.engine import lr_at
from reward.prompt import SYSTEM_PROMPT_VERSION

CACHE_DIR = REPO_ROOT / ".cache" / "warmstart"


def _cache_key(cfg: RunConfig, model_dir: Path, prompts: list[Prompt]) -> str:
    m = cfg.model
    digest = hashlib.sha256()
    digest.update(str(model_dir.resolve()).encode())
    digest.update(
        json.dumps(
            [
                m.warm_start_sft_steps,
                m.warm_start_lr,
                m.warm_start_batch_size,
                m.warm_start_warmup_steps,
                m.warm_start_lr_schedule,
                cfg.train.seed,
                cfg.reward.output_format,
                SYSTEM_PROMPT_VERSION,
                cfg.learner.adam_beta2,
                cfg.learner.weight_decay,
                cfg.learner.grad_clip,
            ]
            # plain random batches keep the keys of caches made before the pool existed
            + ([m.warm_start_length_pool] if m.warm_start_length_pool != 1 else [])
            # a LoRA warm start trains adapters only: another model (full fine-tuning keeps old keys)
            + ([cfg.learner.lora.model_dump(exclude={"save_merged"})] if cfg.learner.lora.rank else [])
        ).encode()
    )
    for prompt in prompts:
        digest.update(json.dumps([prompt.ids, prompt.sample.reference]).encode())
    return digest.hexdigest()[:16]


def sft_batches(lengths: list[int], batch_size: int, seed: int, pool: int = 1) -> Iterator[list[int]]:
    """Endless warm-start batches of sample indices, epoch after epoch in a seeded random order.

    With ``pool`` > 1 the next ``pool`` batches' worth of samples are sorted by length, cut into
    batches and those batches shuffled: each batch pads to a near-equal length, so a step does less
    wasted work, while the order stays random beyond the pool. ``pool=1`` is plain random batches.
    """
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while True:
        while len(order) < batch_size * pool:
            order += torch.randperm(len(lengths), generator=generator).tolist()
        chunk, order = order[: batch_size * pool], order[batch_size * pool :]
        if pool == 1:
            yield chunk
            continue
        chunk.sort(key=lambda i: lengths[i])
        batches = [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[b]


def warm_start(cfg: RunConfig, model_dir: Path, prompts: list[Prompt], tokenizer) -> Path:
    """Return the directory of the warm-started model (``model_dir`` itself when no SFT is set)."""
    steps = cfg.model.warm_start_sft_steps
    if steps == 0:
        return model_dir
    out = CACHE_DIR / _cache_key(cfg, model_dir, prompts)
    if (out / "config.json").is_file():
        say(f"Warm start: reusing the cached SFT model {out}")
        return out

    from cluster.roles.learner_group import LearnerGroup

    eos = tokenizer.eos_token_id
    fmt = cfg.reward.output_format
    completions = [
        tokenizer.encode(reference_completion(p.sample, fmt), add_special_tokens=False) + [eos]
        for p in prompts
    ]
    batch_size = cfg.model.warm_start_batch_size
    lengths = [len(p.ids) + len(c) for p, c in zip(prompts, completions, strict=True)]
    batches = sft_batches(lengths, batch_size, cfg.train.seed, cfg.model.warm_start_length_pool)
    cpus = cfg.warm_start_cpus()
    say(
        f"Warm start: {steps} SFT steps of {batch_size} sequences on {len(prompts)} training prompts "
        f"({cpus:g} CPUs)"
    )
    learners = LearnerGroup(
        str(model_dir),
        cfg,
        name_prefix="sft-learner",
        cpus=cpus,
        lr=cfg.model.warm_start_lr,
        kl_coef=0.0,
        lr_schedule="constant",
        lr_warmup_steps=0,
        total_steps=steps,
        lora_save_merged=True,  # RL loads the warm-started model as a plain model
    )
    m = cfg.model
    started = time.time()
    try:
        with phase("warm start (SFT)", total=steps) as bar:
            for step in range(1, steps + 1):
                chosen = next(batches)
                metrics = learners.sft_step(
                    {
                        "prompt_ids": [prompts[i].ids for i in chosen],
                        "completion_ids": [completions[i] for i in chosen],
                        "lr": lr_at(
                            step - 1,
                            m.warm_start_lr,
                            m.warm_start_warmup_steps,
                            m.warm_start_lr_schedule,
                            steps,
                        ),
                    }
                )
                loss = metrics.get("loss", float("nan"))
                bar.advance(info=f"loss {loss:.3f}")
                if cfg.logging.verbose and (step == 1 or step % max(1, steps // 10) == 0 or step == steps):
                    say(f"  warm start {step}/{steps}: loss {loss:.3f} ({time.time() - started:.0f}s)")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        learners.save_checkpoint(str(tmp))
        save_config(cfg, tmp / "config.yaml")  # `launch.py eval --model` reads its prompt style
    finally:
        learners.shutdown()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    say(f"Warm start: saved the SFT model {out} (`launch.py eval --model` takes it)")
    return out
