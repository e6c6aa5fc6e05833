"""The rollout engine's KV cache on CPU, sized from what the run needs.

vLLM on CPU reserves ``gpu_memory_utilization`` of the whole memory node, minus the model, for
its KV cache. On a small node that is negative (the preset's 135M model left -0.25 of the 1.46
GiB it needed on a 15 GiB node); on a large one it takes gigabytes no run uses. Instead the
driver sizes the cache from the run: the sequences one worker holds at once (a step's
completions, ``train.prompts_per_step x rollout.group_size``, shared among the workers), each
as long as the longest prompt plus ``rollout.max_new_tokens`` (and never less than one
``model.max_model_len`` sequence, which vLLM requires), in vLLM's blocks plus the one block it
keeps back, times the bytes a token takes in every layer's keys and values. More sequences than
that still run: vLLM queues them.

``rollout.kv_cache_gib`` sets the size by hand; ``VLLM_CPU_KVCACHE_SPACE`` (GiB), when set in
the environment, overrides both (vLLM's own setting). On GPUs ``rollout.gpu_memory_utilization``
applies as usual and nothing here is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from common.console import say

GIB = 1 << 30
BLOCK_TOKENS = 128  # vLLM's KV-cache block on CPU: a sequence takes whole blocks, and one block
# of the cache is never handed out (measured: 16 blocks' worth served sequences of 15 blocks)
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class KvCachePlan:
    """One rollout worker's KV cache."""

    bytes_per_token: int  # keys and values of every layer
    sequences: int  # held at once by one worker
    tokens_per_sequence: int
    bytes: int
    by_hand: bool = False  # rollout.kv_cache_gib

    def describe(self) -> str:
        if self.by_hand:
            return f"{self.bytes / GIB:.2f} GiB (rollout.kv_cache_gib)"
        return (
            f"{self.bytes / GIB:.2f} GiB ({self.sequences} sequences x {self.tokens_per_sequence} tokens "
            f"x {self.bytes_per_token} bytes a token)"
        )


def bytes_per_token(model_dir: str | Path, dtype: str) -> int:
    """Bytes of keys and values one token takes across all layers, from the model's config.json."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    config = config.get("text_config", config)
    layers = int(config["num_hidden_layers"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or config["hidden_size"] // heads)
    return kv_bytes(layers, kv_heads, head_dim, DTYPE_BYTES[dtype])


def kv_bytes(layers: int, kv_heads: int, head_dim: int, dtype_bytes: int) -> int:
    """Bytes of one token's keys and values across ``layers`` layers."""
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def _blocks(tokens: int) -> int:
    return math.ceil(tokens / BLOCK_TOKENS) * BLOCK_TOKENS


def _smallest_tokens(max_model_len: int) -> int:
    """The fewest tokens a cache vLLM accepts holds: one ``max_model_len`` sequence and the spare block."""
    return _blocks(max_model_len) + BLOCK_TOKENS


def plan_kv_cache(
    model_dir: str | Path, cfg, longest_prompt: int, sequences: int | None = None
) -> KvCachePlan:
    """The KV cache one rollout worker of run ``cfg`` needs (``cfg`` is a ``RunConfig``).

    ``sequences``: held at once by one worker; default a training step's completions, shared."""
    return kv_cache_plan(cfg, bytes_per_token(model_dir, cfg.model.dtype), longest_prompt, sequences)


def kv_cache_plan(cfg, per_token: int, longest_prompt: int, sequences: int | None = None) -> KvCachePlan:
    """``plan_kv_cache`` for a model whose keys and values take ``per_token`` bytes a token."""
    model, rollout = cfg.model, cfg.rollout
    if rollout.kv_cache_gib is not None:
        size = int(rollout.kv_cache_gib * GIB)
        return KvCachePlan(per_token, 0, 0, size, by_hand=True)
    if sequences is None:
        sequences = math.ceil(cfg.train.prompts_per_step * rollout.group_size / max(1, rollout.num_workers))
    per_sequence = _blocks(min(model.max_model_len, longest_prompt + rollout.max_new_tokens))
    tokens = max(sequences * per_sequence + BLOCK_TOKENS, _smallest_tokens(model.max_model_len))
    return KvCachePlan(per_token, sequences, per_sequence, tokens * per_token)


def check_fits(
    plan: KvCachePlan, max_model_len: int, workers: int, weight_bytes: int, available: int
) -> None:
    """Raise ``ValueError`` naming the field to change when the cache cannot serve one
    ``max_model_len`` sequence, or the workers' caches and weights exceed ``available`` bytes."""
    one_sequence = _smallest_tokens(max_model_len) * plan.bytes_per_token
    if plan.bytes < one_sequence:
        raise ValueError(
            f"rollout.kv_cache_gib={plan.bytes / GIB:g}: the KV cache must hold one model.max_model_len "
            f"({max_model_len}) sequence, {one_sequence / GIB:.3f} GiB; raise rollout.kv_cache_gib or "
            "lower model.max_model_len"
        )
    needed = workers * (plan.bytes + weight_bytes)
    if needed > available:
        fields = (
            "rollout.kv_cache_gib"
            if plan.by_hand
            else "train.prompts_per_step, rollout.max_new_tokens or model.max_model_len, or set "
            "rollout.kv_cache_gib"
        )
        raise ValueError(
            f"the rollout workers do not fit in memory: {workers} worker(s) x (KV cache "
            f"{plan.describe()} + weights {weight_bytes / GIB:.2f} GiB) = {needed / GIB:.2f} GiB, but "
            f"{available / GIB:.2f} GiB is available on this machine; lower {fields}, or "
            "rollout.num_workers"
        )


def weight_bytes(model_dir: str | Path, dtype: str) -> int:
    """The engine's copy of the weights: the parameters the checkpoint holds, in ``dtype``."""
    from safetensors import safe_open

    count = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (a safe_open handle is not iterable)
                count += math.prod(f.get_slice(name).get_shape())
    return count * DTYPE_BYTES[dtype]


def rollout_kv_cache(
    cfg, model_dir: str | Path, longest_prompt: int, sequences: int | None = None
) -> int | None:
    """The KV-cache bytes to give each CPU rollout worker of run ``cfg`` (``longest_prompt``: in
    tokens; ``sequences``: held at once, as in ``plan_kv_cache``), checked against this machine's
    free memory on a local cluster.
    None when the workers have GPUs (``rollout.gpu_memory_utilization`` applies there). Raises
    ``ValueError`` naming the field to change when it cannot fit."""
    if cfg.rollout.gpus_per_worker > 0:
        return None
    import psutil

    plan = plan_kv_cache(model_dir, cfg, longest_prompt, sequences)
    if cfg.cluster.address == "local":
        check_fits(
            plan,
            cfg.model.max_model_len,
            cfg.rollout.num_workers,
            weight_bytes(model_dir, cfg.model.dtype),
            psutil.virtual_memory().available,
        )
    say(f"Rollout KV cache: {plan.describe()} per worker")
    return plan.bytes
