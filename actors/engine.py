"""One vLLM engine: grouped sampling with the sampled tokens' log-probs, and in-place weight updates.

:class:`RolloutEngine` is a plain class (usable in-process, e.g. for evaluation scripts);
``actors.rollout.RolloutWorker`` is the same class as a Ray actor. vLLM is imported only when an
engine is built, after the environment it reads at import time is set.

Log-probs are those of the distribution actually sampled from, softmax(logits / T) (vLLM's
``logprobs_mode="processed_logprobs"``; the default "raw_logprobs" ignores T): the learner
recomputes old log-probs the same way, so the ratio of Eq. 4 starts at 1. With ``top_p < 1`` the
processed log-probs are those of the renormalised nucleus, which the learner does not recompute.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from actors.weight_loading import reload_in_worker, serialize_weights
from common.flat_weights import TensorSlot, empty_buffers, unpack
from common.weight_group import WeightGroup, create_weight_group

LOGPROBS_MODE = "processed_logprobs"
# Prompt i of a seeded call samples with seeds seed * SEED_STRIDE + (first_index + i) * G + j, j < G
# (vLLM adds j): a prompt's seed follows its place in the whole step, not in the chunk a worker got.
SEED_STRIDE = 1 << 20

Completion = dict[str, Any]


def _check_model_dir(model_path: str | os.PathLike) -> Path:
    path = Path(model_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"RolloutWorker: model directory '{path}' does not exist (model.path must be a local "
            "Hugging Face model directory; nothing is downloaded)"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"RolloutWorker: '{path}' has no config.json, so it is not a Hugging Face model directory"
        )
    return path


def _set_engine_env(tensor_parallel_size: int) -> bool:
    """Set the environment vLLM reads at import time (values already set win); return whether the
    engine core runs in this process (then tensors can be handed to it directly)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if tensor_parallel_size == 1:
        # The engine core stays in this process: start-up ~2 s instead of 15-35 s (stack-notes.md).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    in_process = tensor_parallel_size == 1 and os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    if not in_process:
        # The weight-reload function must be pickled to the engine's worker processes.
        os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
    return in_process


def _checkpoint_shapes(model_dir: Path) -> dict[str, tuple[int, ...]] | None:
    """Name -> shape of every tensor in the directory's safetensors files (headers only), or None
    when the checkpoint is in another format."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        with safe_open(f, framework="pt") as st:
            for name in st.keys():  # noqa: SIM118 (safe_open is not a dict)
                shapes[name] = tuple(st.get_slice(name).get_shape())
    return shapes


def _check_update_against(shapes: dict[str, tuple[int, ...]] | None, index: list[TensorSlot]) -> None:
    """Reject an update whose names or shapes the model does not have, before touching the engine
    (a failed reload midway would leave it half loaded)."""
    if shapes is None:
        return
    tied_head = shapes.get("model.embed_tokens.weight")
    wrong = []
    for slot in index:
        expected = shapes.get(slot.name, tied_head if slot.name == "lm_head.weight" else None)
        if expected is None or tuple(slot.shape) != expected:
            wrong.append(f"{slot.name} {tuple(slot.shape)} (model: {expected or 'no such tensor'})")
    if wrong:
        raise ValueError(
            f"update_weights: {len(wrong)} tensor(s) do not match the model's checkpoint names/shapes "
            f"(Hugging Face names expected, e.g. 'model.norm.weight'): {'; '.join(wrong[:5])}"
        )


class RolloutEngine:
    """Owns one ``vllm.LLM``; samples groups of completions and takes new weights in place."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "float32",
        max_model_len: int = 2048,
        gpu_memory_utilization: float = 0.1,
        tensor_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        enforce_eager: bool | None = None,
        kv_cache_memory_bytes: int | None = None,
        enable_sleep_mode: bool = False,
    ) -> None:
        """Start the engine.

        ``gpu_memory_utilization`` is the share of GPU memory (on CPU: of the NUMA node's RAM) the
        engine may fill with weights, activations and KV cache; the vLLM default 0.92 fails on CPU,
        and below ~0.08 even the tiny model does not fit on a 12 GiB node. On CPU,
        ``kv_cache_memory_bytes`` sets the KV cache's size instead (cluster/roles/kv_cache.py sizes it
        from the run); GPUs ignore it. ``enforce_eager`` None
        means True on CPU and False (CUDA graphs) on GPU. ``enable_sleep_mode`` lets :meth:`sleep`
        free the GPU between sampling turns (``cluster.mode=colocated``; ignored on CPU). Raises
        ``FileNotFoundError`` for a missing model directory and ``RuntimeError`` naming the model and the settings when vLLM
        cannot start (e.g. the memory setting does not fit).
        """
        self.model_path = str(_check_model_dir(model_path))
        self._shapes = _checkpoint_shapes(Path(self.model_path))
        self._version = 0
        self._weight_group: WeightGroup | None = None
        self._settings = dict(
            dtype=dtype,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=enable_prefix_caching,
            seed=seed,
        )
        self._in_process = _set_engine_env(tensor_parallel_size)
        on_gpu = torch.cuda.is_available()
        if kv_cache_memory_bytes is not None and not on_gpu:
            self._settings["kv_cache_memory_bytes"] = int(kv_cache_memory_bytes)
        self.device = "cuda" if on_gpu else "cpu"
        self._sleep_mode = enable_sleep_mode and on_gpu  # vLLM's sleep mode needs CUDA (or ROCm, XPU)
        self._asleep = False
        try:
            from vllm import LLM

            self.llm = LLM(
                model=self.model_path,
                enforce_eager=(not on_gpu) if enforce_eager is None else enforce_eager,
                distributed_executor_backend="uni" if tensor_parallel_size == 1 else None,
                logprobs_mode=LOGPROBS_MODE,
                # On CPU a seeded request whose prefill is split across scheduler steps crashes vLLM
                # ("CPU Generator does not use offset": the discarded partial-prefill token rewinds a
                # generator the CPU cannot rewind), so prompts are prefilled whole there.
                **({} if on_gpu else {"enable_chunked_prefill": False}),
                **({"enable_sleep_mode": True} if self._sleep_mode else {}),
                **self._settings,
            )
        except Exception as err:
            settings = ", ".join(f"{k}={v}" for k, v in self._settings.items())
            hint = ""
            if "kv_cache_memory_bytes" in self._settings:
                hint = (
                    " (kv_cache_memory_bytes is the KV cache's size on CPU, set by rollout.kv_cache_gib or "
                    "sized from the run: it must hold one max_model_len sequence and fit in free memory)"
                )
            elif "memory" in str(err).lower() or "kv cache" in str(err).lower():
                hint = (
                    " (gpu_memory_utilization is the share of GPU memory, or on CPU of the NUMA node's "
                    "RAM, that the engine may use for weights, activations and KV cache together: it must "
                    "cover the model and at least one max_model_len sequence)"
                )
            raise RuntimeError(
                f"RolloutWorker: the vLLM engine failed to start for model '{self.model_path}' "
                f"({settings}) on {self.device}: {type(err).__name__}: {err}{hint}"
            ) from err

    # ------------------------------------------------------------------ health
    def ping(self) -> dict[str, Any]:
        """Cheap liveness check: policy version, model path, process id and device."""
        return {
            "version": self._version,
            "model_path": self.model_path,
            "pid": os.getpid(),
            "device": self.device,
        }

    def version(self) -> int:
        """The policy version of the weights the engine samples with (0 = the loaded checkpoint)."""
        return self._version

    # ------------------------------------------------------------------ sampling
    def generate(
        self,
        prompts: list[list[int]] | list[str],
        group_size: int,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int | None = None,
        first_index: int = 0,
        logprobs: bool = True,
    ) -> list[list[Completion]]:
        """Sample ``group_size`` completions per prompt, all prompts submitted in one batch.

        ``first_index`` is the place of ``prompts[0]`` in the whole batch when this call gets a chunk
        of it: with a ``seed``, prompt i samples as prompt ``first_index + i`` of the batch would,
        so the tokens do not depend on how the batch was split over workers. ``logprobs=False``
        leaves each completion's ``logprobs`` empty (the same tokens are sampled): vLLM builds them
        in Python, token by token: a quarter of a CPU engine's time on two threads (README, Speed).

        Returns, per prompt in request order, G dicts with ``token_ids``, ``logprobs`` (the sampled
        token's log-prob under softmax(logits / temperature), one per token), ``text``,
        ``finish_reason`` ("stop": end-of-sequence token or a stop string, "length": hit
        ``max_new_tokens`` or the model length), ``policy_version`` and ``prompt_token_ids`` (the
        ids vLLM used, also for text prompts). A fixed ``seed`` reproduces the same completions.
        """
        _check_sampling_args(prompts, group_size, temperature, top_p, max_new_tokens)
        self.wake_up()  # a sleeping engine samples only after it has its device back
        from vllm import SamplingParams

        greedy = temperature == 0  # evaluation: argmax decoding, no log-probs (the list stays empty)

        def params(i: int) -> SamplingParams:
            return SamplingParams(
                n=1 if greedy else group_size,  # vLLM allows greedy only with n=1
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_new_tokens,
                stop=list(stop) if stop else None,
                logprobs=0 if logprobs and not greedy else None,
                seed=None if seed is None else seed * SEED_STRIDE + (first_index + i) * group_size,
            )

        inputs = [{"prompt": p} if isinstance(p, str) else {"prompt_token_ids": list(p)} for p in prompts]
        sampling = [params(i) for i in range(len(prompts))]
        outputs = self.llm.generate(inputs, sampling, use_tqdm=False)  # in request order
        groups = [self._group(out) for out in outputs]
        if greedy:  # every greedy sample of a prompt is the same completion
            groups = [[dict(group[0]) for _ in range(group_size)] for group in groups]
        return groups

    def _group(self, out) -> list[Completion]:
        prompt_ids = list(out.prompt_token_ids or [])
        group = []
        for c in sorted(out.outputs, key=lambda c: c.index):
            ids = list(c.token_ids)
            logprobs = (
                [float(step[tok].logprob) for step, tok in zip(c.logprobs, ids, strict=True)]
                if c.logprobs
                else []
            )
            group.append(
                {
                    "token_ids": ids,
                    "logprobs": logprobs,
                    "text": c.text,
                    "finish_reason": c.finish_reason,
                    "policy_version": self._version,
                    "prompt_token_ids": prompt_ids,
                }
            )
        return group

    # ------------------------------------------------------------------ taking turns
    def sleep(self) -> dict[str, float]:
        """Free the device for the learner's turn (``cluster.mode=colocated``): vLLM sleep level 1
        drops the KV cache and moves the weights to host memory. Returns the seconds it took and the
        GiB of device memory it freed; on CPU (no sleep mode) it does nothing and returns zeros."""
        if not self._sleep_mode or self._asleep:
            return {"seconds": 0.0, "freed_gib": 0.0}
        free, t = torch.cuda.mem_get_info()[0], time.perf_counter()
        self.llm.sleep(level=1)
        self._asleep = True
        return {
            "seconds": time.perf_counter() - t,
            "freed_gib": (torch.cuda.mem_get_info()[0] - free) / 2**30,
        }

    def wake_up(self) -> dict[str, float]:
        """Take the device back after the learner's turn: weights back on it, KV cache reallocated.
        Returns the seconds it took (zero when it was not asleep)."""
        if not self._asleep:
            return {"seconds": 0.0}
        t = time.perf_counter()
        self.llm.wake_up()
        self._asleep = False
        return {"seconds": time.perf_counter() - t}

    # ------------------------------------------------------------------ weights
    def update_weights(self, buffers: list[torch.Tensor], index: list[TensorSlot], version: int) -> None:
        """Load the learner's flat buffers (``common.flat_weights`` format, Hugging Face names) into
        the running engine, reset the prefix cache and record ``version`` as the policy version.
        Names or shapes the model does not have raise ``ValueError`` and leave the engine as it was."""
        _check_update_against(self._shapes, index)
        self._load_named(list(unpack(buffers, index)), version)

    def init_weight_group(
        self,
        master_addr: str,
        master_port: int,
        rank: int,
        world_size: int,
        backend: str = "gloo",
        timeout_s: float = 300.0,
    ) -> None:
        """Join the learner's weight-sync group (``common.weight_group``; the learner is rank 0).
        Blocks until every rank joined, so the driver starts all ranks' calls together;
        ``timeout_s`` bounds the join and each later broadcast."""
        if self._weight_group is not None:
            self._weight_group.close()
            self._weight_group = None
        self._weight_group = create_weight_group(
            master_addr, master_port, rank, world_size, backend, timeout_s
        )

    def receive_weights(self, index: list[TensorSlot], version: int) -> None:
        """Receive the learner's flat buffers by broadcast from rank 0 and apply them like
        :meth:`update_weights`. The learner broadcasts the buffers of ``index`` in order."""
        if self._weight_group is None:
            raise RuntimeError("receive_weights: call init_weight_group first (no weight-sync group joined)")
        buffers = empty_buffers(index, self._weight_group.device)
        self._weight_group.broadcast(buffers, src=0)  # take part even if the check below fails
        _check_update_against(self._shapes, index)
        self._load_named(list(unpack(buffers, index)), version)

    def _load_named(self, named: list[tuple[str, torch.Tensor]], version: int) -> None:
        self.wake_up()
        payload = named if self._in_process else serialize_weights(named)
        self.llm.collective_rpc(reload_in_worker, args=(payload,))
        self.llm.reset_prefix_cache()
        self._version = int(version)


def _check_sampling_args(
    prompts, group_size: int, temperature: float, top_p: float, max_new_tokens: int
) -> None:
    if not isinstance(prompts, list | tuple) or not prompts:
        raise ValueError("generate: prompts must be a non-empty list of strings or token-id lists")
    for i, p in enumerate(prompts):
        ok = isinstance(p, str) or (isinstance(p, list | tuple) and all(isinstance(t, int) for t in p))
        if not ok or len(p) == 0:
            raise ValueError(
                f"generate: prompt {i} must be a non-empty string or list of token ids, got {p!r:.80}"
            )
    if group_size < 1:
        raise ValueError(f"generate: group_size must be >= 1, got {group_size}")
    if not temperature >= 0:
        raise ValueError(
            f"generate: temperature must be >= 0 (0 = greedy; log-probs are of softmax(logits / T)), got {temperature}"
        )
    if not 0 < top_p <= 1:
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise ValueError(f"generate: max_new_tokens must be >= 1, got {max_new_tokens}")
