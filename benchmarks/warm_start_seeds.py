"""How much the warm start's outcome depends on the seed: greedy validation accuracy after SFT, per seed.

The default run's RL can only build on calls the warm start already gets right, so the warm start's
accuracy on the prompts that need a call decides what RL sees. This measures its spread over seeds
for a preset (default: tiny) and any ``section.field=value`` overrides, outside Ray: the same tiny
model (built and cached as ``launch.py`` builds it, with the same initial weights), tokenizer,
prompts, reference completions, learning-rate schedule and AdamW settings as the warm start, in a
plain PyTorch loop on this process's threads. A seed sets the order of the training samples, as
``train.seed`` does for the warm start.

It evaluates greedily (Hugging Face ``generate``, 96 new tokens) on the whole validation split and
reports, per seed: accuracy on the prompts that need a call, on those that need none, the call rate
on call prompts and the unseen-values slice; then mean +- standard error. Figures go to
``benchmarks/results/warm_start_seeds.json``.

    .venv/bin/python benchmarks/warm_start_seeds.py --seeds 0 1 2
    .venv/bin/python benchmarks/warm_start_seeds.py model.tiny_hidden_size=128 model.tiny_num_heads=4 \\
        model.tiny_num_kv_heads=4 model.warm_start_sft_steps=800 --seeds 0 1 2   # overrides first
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from cluster.config import load_config  # noqa: E402
from cluster.data import reference_completion  # noqa: E402
from cluster.data.feed import Prompt  # noqa: E402
from cluster.data.loaders import load_samples  # noqa: E402
from cluster.data.render import corpus_texts, render_prompts  # noqa: E402
from cluster.eval.sides import call_rate, side_accuracy  # noqa: E402
from cluster.models.resolve import resolve_model  # noqa: E402
from cluster.warm_start import sft_batches  # noqa: E402
from learner.engine import lr_at  # noqa: E402
from reward.checker import checker_category  # noqa: E402
from reward.score import judge  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results"


def train(model, prompts, completions, cfg, seed: int, pad_id: int) -> float:
    """The warm start's SFT loop: token-mean cross-entropy of the reference completions."""
    m, lr_cfg = cfg.model, cfg.learner
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=m.warm_start_lr,
        betas=(0.9, lr_cfg.adam_beta2),
        eps=1e-8,
        weight_decay=lr_cfg.weight_decay,
    )
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions, strict=True)]
    batches = sft_batches(lengths, m.warm_start_batch_size, seed, m.warm_start_length_pool)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(m.warm_start_sft_steps):
        chosen = next(batches)
        rows = [prompts[i] + completions[i] for i in chosen]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad_id)
        labels = torch.full((len(rows), width), -100)
        for b, i in enumerate(chosen):
            ids[b, : len(rows[b])] = torch.tensor(rows[b])
            labels[b, len(prompts[i]) : len(rows[b])] = torch.tensor(completions[i])
        lr = lr_at(
            step, m.warm_start_lr, m.warm_start_warmup_steps, m.warm_start_lr_schedule, m.warm_start_sft_steps
        )
        for group in opt.param_groups:
            group["lr"] = lr
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), lr_cfg.grad_clip)
        opt.step()
        if (step + 1) % max(1, m.warm_start_sft_steps // 5) == 0:
            print(f"    step {step + 1}/{m.warm_start_sft_steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    return loss.item()


def evaluate(model, tokenizer, samples, prompts, max_new_tokens: int = 96) -> dict[str, float]:
    """Greedy validation figures as the run's report defines them (cluster/eval/validation.py): accuracy
    on the prompts that need a call and on those that need none (both over the whole split), the
    call rate on call prompts and the unseen-values slice."""
    pad = tokenizer.pad_token_id
    texts = []
    for start in range(0, len(prompts), 32):
        ids = prompts[start : start + 32]
        width = max(map(len, ids))
        inputs = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        with torch.no_grad():
            out = model.generate(
                input_ids=inputs,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=pad,
            )
        texts += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    wrapped = [Prompt(sample, ids) for sample, ids in zip(samples, prompts, strict=True)]
    verdicts = [
        judge(text, s.ground_truth, s.tools, checker_category(s.category))
        for s, text in zip(samples, texts, strict=True)
    ]
    sides = side_accuracy(wrapped, [v.reward for v in verdicts])
    return {
        "call": sides["eval/call_prompts"],
        "no_call": sides["eval/no_call_prompts"],
        "call_rate": call_rate(wrapped, verdicts),
        "unseen": sides.get("eval/slice/unseen_values", float("nan")),
    }


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return mean, se


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "warm_start_seeds.json"))
    parser.add_argument("overrides", nargs="*", help="section.field=value, as for launch.py train")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.preset, args.overrides)
    if cfg.model.path != "tiny":
        parser.error("this measures the tiny model's warm start: model.path must be 'tiny'")
    from transformers import AutoModelForCausalLM

    from common.tokenizer import load_tokenizer

    fmt, style = cfg.reward.output_format, cfg.data.prompt_style
    train_samples = load_samples(
        REPO_ROOT / cfg.data.train_path, cfg.data.format, limit=cfg.data.train_limit
    ).samples
    val = load_samples(REPO_ROOT / cfg.data.val_path, cfg.data.format).samples
    model_dir = resolve_model(cfg.model, corpus_texts(train_samples, fmt, style))
    tokenizer = load_tokenizer(model_dir)
    started = time.time()
    prompts = render_prompts(train_samples, tokenizer, fmt, style)
    eos = [tokenizer.eos_token_id]
    completions = [
        tokenizer.encode(reference_completion(s, fmt), add_special_tokens=False) + eos for s in train_samples
    ]
    val_prompts = render_prompts(val, tokenizer, fmt, style)
    print(
        f"{len(train_samples)} training samples, {len(val)} validation prompts, rendered in "
        f"{time.time() - started:.0f}s; model {model_dir}",
        flush=True,
    )
    runs = []
    for seed in args.seeds:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        started = time.time()
        print(f"seed {seed}: {cfg.model.warm_start_sft_steps} SFT steps", flush=True)
        loss = train(model, prompts, completions, cfg, seed, tokenizer.pad_token_id)
        seconds = time.time() - started
        figures = evaluate(model, tokenizer, val, val_prompts)
        runs.append({"seed": seed, "final_loss": loss, "train_seconds": seconds, **figures})
        print(
            f"  call {figures['call']:.3f}  no-call {figures['no_call']:.3f}  call rate "
            f"{figures['call_rate']:.2f}  unseen {figures['unseen']:.3f}  ({seconds:.0f}s)",
            flush=True,
        )
    keys = ("call", "no_call", "call_rate", "unseen")
    summary = {k: dict(zip(("mean", "se"), mean_se([r[k] for r in runs]), strict=True)) for k in keys}
    print("\nmean +- standard error over seeds " + " ".join(map(str, args.seeds)))
    for k in keys:
        print(f"  {k:10s} {summary[k]['mean']:.3f} +- {summary[k]['se']:.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "preset": args.preset,
                "overrides": args.overrides,
                "machine": platform.processor() or platform.machine(),
                "threads": args.threads,
                "runs": runs,
                "summary": summary,
            },
            indent=2,
        )
    )
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
