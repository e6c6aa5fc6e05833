"""LoRA: push the merged weights to vLLM each step, or only the adapter? Both, measured.

Per step of an RL run with ``learner.lora``, the rollout engine must sample with the new adapter:

- **merged** (what the learner does): merge ``W + (alpha / r) B A`` into full weights
  (``learner.lora.merged_state_dict``) and load them into the running engine in place
  (``RolloutEngine.update_weights``); sampling runs on a plain model;
- **adapter**: write the adapter in peft's format and hand vLLM a new ``LoRARequest`` (vLLM started
  with ``enable_lora``); sampling runs the base plus the adapter's low-rank product.

Each arm runs in its own process (one vLLM engine per process), alternated for ``--rounds``; per arm
it reports the update time (learner side + engine side) and the generation time of one step's
batch (``--prompts`` x ``--group`` completions of exactly ``--tokens`` tokens, the adapter changed
before every step). Figures go to ``benchmarks/results/lora_sync.json``.

    .venv/bin/python benchmarks/lora_sync.py                       # SmolLM2-135M, rank 16, all-linear
    .venv/bin/python benchmarks/lora_sync.py --model runs/<name>/warm_start --rank 8
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
RESULT_PATH = REPO_ROOT / "benchmarks" / "results" / "lora_sync.json"
ARMS = ("merged", "adapter")


def model_dir(name: str) -> str:
    """``smollm2`` (SmolLM2-135M-Instruct from its PyPI package) or a local model directory."""
    if name != "smollm2":
        return name
    from cluster.config import load_config
    from cluster.models.resolve import resolve_model

    return str(resolve_model(load_config("smollm2-cpu", []).model, []))


def adapted_model(path: str, rank: int, seed: int):
    """The model with random (non-zero) adapters on every linear layer, as after some RL steps."""
    import torch
    from transformers import AutoModelForCausalLM

    from learner import lora

    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    lora.add_adapters(lm, rank, 2.0 * rank, 0.0, "all-linear")
    perturb(lm, seed)
    return lm


def perturb(lm, seed: int) -> None:
    """A new adapter: what one optimizer step gives the engine to sample with."""
    import torch

    from learner import lora

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora.layers(lm):
            weight = layer.lora_B[lora.ADAPTER].weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 1e-3)


def run_arm(arm: str, args: argparse.Namespace) -> dict:
    """One arm in this process: ``--steps`` of (new adapter -> engine update -> generate)."""
    import torch

    from actors.engine import RolloutEngine
    from common.flat_weights import pack
    from learner import lora

    torch.set_num_threads(args.threads)
    path = model_dir(args.model)
    lm = adapted_model(path, args.rank, 0)
    prompts = [[1 + (7 * i + j) % 500 for j in range(args.prompt_tokens)] for i in range(args.prompts)]
    max_len = args.prompt_tokens + args.tokens + 8
    kv_bytes = 1 << 30  # the same KV cache for both arms
    extra = {}
    if arm == "merged":
        engine = RolloutEngine(path, max_model_len=max_len, seed=0, kv_cache_memory_bytes=kv_bytes)
        llm = engine.llm
    else:  # the same engine settings, with LoRA enabled
        from vllm import LLM

        from actors.engine import LOGPROBS_MODE, _set_engine_env

        _set_engine_env(1)
        llm = LLM(
            model=path,
            enforce_eager=True,
            distributed_executor_backend="uni",
            logprobs_mode=LOGPROBS_MODE,
            enable_chunked_prefill=False,
            enable_prefix_caching=True,
            dtype="float32",
            max_model_len=max_len,
            kv_cache_memory_bytes=kv_bytes,
            seed=0,
            enable_lora=True,
            max_lora_rank=args.rank,
            max_loras=1,
        )
    from vllm import SamplingParams, TokensPrompt
    from vllm.lora.request import LoRARequest

    params = SamplingParams(n=args.group, max_tokens=args.tokens, ignore_eos=True, temperature=0.7, seed=0)
    inputs = [TokensPrompt(prompt_token_ids=p) for p in prompts]
    update_s, generate_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for step in range(1, args.steps + 1):
            perturb(lm, step)
            t0 = time.perf_counter()
            if arm == "merged":
                buffers, index = pack(lora.merged_state_dict(lm).items(), 256 << 20)
                engine.update_weights(buffers, index, version=step)
            else:
                folder = lora.save_adapter(lm, Path(tmp) / f"step-{step}", path)
                extra = {"lora_request": LoRARequest(f"step-{step}", step, str(folder))}
            t1 = time.perf_counter()
            outs = llm.generate(inputs, params, use_tqdm=False, **extra)
            t2 = time.perf_counter()
            assert all(len(c.token_ids) == args.tokens for o in outs for c in o.outputs)
            update_s.append(t1 - t0)
            generate_s.append(t2 - t1)
    return {"update_s": update_s, "generate_s": generate_s}


def summarise(samples: list[dict], args: argparse.Namespace) -> dict:
    """Means over rounds, the first step of each round dropped (the adapter arm loads its kernels)."""
    update = [x for s in samples for x in s["update_s"][1:]]
    generate = [x for s in samples for x in s["generate_s"][1:]]
    tokens = args.prompts * args.group * args.tokens
    return {
        "update_s": statistics.mean(update),
        "generate_s": statistics.mean(generate),
        "step_s": statistics.mean(update) + statistics.mean(generate),
        "tokens_per_s": tokens / statistics.mean(generate),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or a local model directory")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=96, help="completion length (fixed: ignore_eos)")
    parser.add_argument("--steps", type=int, default=4, help="steps per arm and round (the first is dropped)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # one arm, in a child process
    parser.add_argument("--out", default=str(RESULT_PATH))
    args = parser.parse_args(argv)
    if args.arm:
        print("ARM " + json.dumps(run_arm(args.arm, args)), flush=True)
        return

    samples: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    passthrough = [
        f"--model={args.model}", f"--rank={args.rank}", f"--prompts={args.prompts}", f"--group={args.group}",
        f"--prompt-tokens={args.prompt_tokens}", f"--tokens={args.tokens}", f"--steps={args.steps}",
        f"--threads={args.threads}",
    ]  # fmt: skip
    for round_ in range(1, args.rounds + 1):
        for arm in ARMS:
            print(f"lora_sync: round {round_}/{args.rounds}, {arm}", flush=True)
            done = subprocess.run(
                [sys.executable, __file__, *passthrough, "--arm", arm],
                capture_output=True,
                text=True,
                cwd=REPO_ROOT,
            )
            line = next((x for x in done.stdout.splitlines() if x.startswith("ARM ")), None)
            if done.returncode != 0 or line is None:
                raise SystemExit(
                    f"lora_sync: the {arm} arm failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
                )
            samples[arm].append(json.loads(line[4:]))
    result = {
        "model": args.model,
        "rank": args.rank,
        "batch": f"{args.prompts} prompts x {args.group} completions x {args.tokens} tokens "
        f"(prompts of {args.prompt_tokens} tokens)",
        "arms": {arm: summarise(samples[arm], args) for arm in ARMS},
        "samples": samples,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
    }
    merged, adapter = result["arms"]["merged"], result["arms"]["adapter"]
    result["adapter_over_merged_step"] = adapter["step_s"] / merged["step_s"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for arm in ARMS:
        r = result["arms"][arm]
        print(
            f"{arm:8s} update {r['update_s'] * 1e3:8.1f} ms  generate {r['generate_s']:6.2f} s  "
            f"({r['tokens_per_s']:7.1f} tokens/s)  step {r['step_s']:6.2f} s"
        )
    print(f"adapter / merged, per step: {result['adapter_over_merged_step']:.2f}x; wrote {out}")


if __name__ == "__main__":
    main()
