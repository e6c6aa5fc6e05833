"""The Ray roles' resources and settings: rollout workers, reward actors, learners, the cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cluster.config.base import Section, threads_field


class RolloutConfig(Section):
    num_workers: int = Field(1, ge=1, description="Rollout workers (one vLLM engine each). Default 1.")
    cpus_per_worker: float = Field(
        0.5,
        gt=0,
        description="Ray CPUs per rollout worker (fractions allowed). Default 0.5 (2-core machine).",
    )
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per rollout worker. Default 0 (CPU).")
    group_size: int = Field(8, description="G, completions sampled per prompt. Default 8 (paper Sec. 5).")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature. Default 0.7 (paper Sec. 5).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass. Default 1.0 (no truncation).")
    max_new_tokens: int = Field(
        256, ge=1, description="Completion cap (tokens). Paper: 8192; default 256 (observed mean ~100)."
    )
    gpu_memory_utilization: float = Field(
        0.1,
        gt=0,
        le=1,
        description="GPU only: the share of GPU memory vLLM may fill with weights, activations and KV "
        "cache. Default 0.1. On CPU, train and eval size the KV cache from the run instead "
        "(rollout.kv_cache_gib).",
    )
    kv_cache_gib: float | None = Field(
        None,
        gt=0,
        description="CPU only: each rollout worker's KV cache (GiB). Default None = sized from the run "
        "(a step's completions per worker x (longest prompt + rollout.max_new_tokens) x the model's "
        "bytes a token, at least one model.max_model_len sequence; cluster/roles/kv_cache.py). GPUs use "
        "rollout.gpu_memory_utilization instead.",
    )
    threads: int | None = threads_field("rollout worker's engine")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallel degree. Default 1.")
    enable_prefix_caching: bool = Field(
        True, description="Share a prompt's prefill across its G samples. Default True."
    )
    seed: int = Field(0, description="Base sampling seed (per step and prompt derived from it). Default 0.")
    logprobs: bool | None = Field(
        None,
        description="Whether the RL rollouts carry each sampled token's log-prob from vLLM. They weight "
        "stale tokens in asynchronous mode and give the sampler-vs-learner gap "
        "(logprob_diff/sampler_vs_learner); in synchronous and colocated mode the learner's own pass "
        "gives pi_old, and vLLM builds them in Python token by token (a quarter of a CPU engine's "
        "time on two threads; README, Speed). Default None = only in asynchronous mode "
        "(algorithm.max_staleness > 0); true also keeps the gap in synchronous mode.",
    )
    min_workers: int = Field(
        1, ge=1, description="Fewest rollout workers 'launch.py scale' or autoscaling may leave. Default 1."
    )
    max_workers: int | None = Field(
        None,
        ge=1,
        description="Most rollout workers 'launch.py scale' or autoscaling may ask for; None = no cap "
        "(what the cluster can place). Default None.",
    )
    autoscale: bool = Field(
        False,
        description="At each step, grow the pool to what the Ray cluster can place (nodes joining), "
        "between min_workers and max_workers. Default False (the size changes only by 'launch.py scale').",
    )
    max_restarts: int = Field(
        3,
        ge=0,
        description="Dead rollout workers the pool replaces over the run before it stops with an error "
        "(their prompts are always re-dispatched). Default 3, as the reward pool.",
    )
    weight_sync_timeout_s: float = Field(
        60.0,
        gt=0,
        description="How long one weight-sync operation (joining the group, broadcasting one buffer) may "
        "wait for its peers (seconds). A worker that dies during a broadcast holds the others back at "
        "most this long; the broadcast is then retried without it. Default 60.",
    )
    placement_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long a new rollout worker may wait for the cluster to place it (seconds); "
        "past that the pool says so and keeps running with the workers it has. Default 30.",
    )
    chunk_prompts: int | None = Field(
        None,
        ge=1,
        description="Prompts per work chunk handed to one worker; None = the step's prompts split "
        "evenly over the workers (one chunk each: biggest vLLM batches). Smaller chunks re-balance "
        "finer when workers join, leave or die. Default None.",
    )

    @model_validator(mode="after")
    def _pool_bounds(self) -> RolloutConfig:
        top = self.max_workers
        if self.autoscale and top is None:
            raise ValueError(
                "rollout.max_workers=None: expected a number with rollout.autoscale=true (without a cap "
                "the pool would start a vLLM engine for every free share of the cluster)"
            )
        if self.num_workers < self.min_workers or (top is not None and self.num_workers > top):
            raise ValueError(
                f"rollout.num_workers={self.num_workers}: expected a number between "
                f"rollout.min_workers={self.min_workers} and rollout.max_workers={top}"
            )
        return self


class RewardConfig(Section):
    num_actors: int = Field(1, ge=1, description="Reward actors in the pool. Default 1.")
    cpus_per_actor: float = Field(0.25, gt=0, description="Ray CPUs per reward actor. Default 0.25.")
    output_format: Literal["python", "hermes"] = Field(
        "python",
        description="Answer format after </think>: the paper's Python call list, or Hermes/Qwen "
        "<tool_call> JSON blocks. Default python (paper; egpo-spec.md Sec. 1 [decision]).",
    )


class LoraConfig(Section):
    rank: int = Field(
        0,
        ge=0,
        description="LoRA: train low-rank adapters of this rank on the target layers instead of every "
        "weight (0 = off: full fine-tuning). The optimizer states and gradients shrink to the "
        "adapters'; the KL reference is the base with the adapters off (no second copy); rollout "
        "workers get the merged weights. Also the warm start's. ZeRO stage 0-2. Default 0.",
    )
    alpha: float = Field(
        16.0, gt=0, description="LoRA scale numerator: updates are (alpha / rank) B A. Default 16."
    )
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout on the adapters' input (the base runs without). Default 0."
    )
    target_modules: str | list[str] = Field(
        "all-linear",
        description="Layers that get adapters: 'all-linear' (every linear layer but the output head) "
        "or module names, e.g. [q_proj, v_proj]. Default all-linear.",
    )
    save_merged: bool = Field(
        True,
        description="Checkpoints hold the merged model (loadable by launch.py eval --model and vLLM) "
        "beside the adapter (adapter/, peft's format). False: the adapter and the training state only "
        "(small; resumable, but evaluate it by merging it into its base first). Default True.",
    )


class LearnerConfig(Section):
    num_learners: int = Field(1, ge=1, description="Data-parallel learner actors. Default 1.")
    cpus_per_learner: float = Field(1.0, gt=0, description="Ray CPUs per learner actor. Default 1.")
    gpus_per_learner: float = Field(0.0, ge=0, description="GPUs per learner actor. Default 0 (CPU).")
    threads: int | None = threads_field("learner actor")
    zero_stage: Literal[0, 1, 2, 3] = Field(0, description="DeepSpeed ZeRO stage. Default 0.")
    lr: float = Field(1e-6, gt=0, description="Peak learning rate. Default 1e-6 (paper Sec. 5).")
    lr_warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps. Default 0.")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant", description="Decay after warm-up. Default constant."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay. Default 0.")
    adam_beta2: float = Field(
        0.999,
        gt=0,
        lt=1,
        description="AdamW's second-moment decay, for RL and the warm start. Default 0.999 (PyTorch's). "
        "The tiny preset sets 0.98: at its high warm-start learning rate the loss falls fast, and with "
        "0.999 the step size stays scaled to the first steps' large gradients (measured on the default "
        "run: 1.4% of validation call prompts right after the 600-step warm start with 0.999, 8.9% "
        "with 0.98).",
    )
    grad_clip: float = Field(1.0, gt=0, description="Max global gradient norm. Default 1.0.")
    micro_batch_size: int = Field(
        8,
        ge=1,
        description="Sequences per forward/backward (RL steps: whole groups, at least one). Default 8.",
    )
    share_prompt: bool = Field(
        True,
        description="Run each group's prompt once for its G completions (on its cached keys and "
        "values) instead of G times; same loss and gradients. Default True.",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute each decoder layer's activations in the backward pass instead of keeping "
        "them: activation memory falls from every layer's to about one layer's, for one more forward "
        "pass of each layer. Runs every prompt with its completion in full (Hugging Face's checkpointing keeps no "
        "KV cache, so share_prompt does not apply). Same loss and gradients. Default False; the paper "
        "preset sets it.",
    )
    max_tokens_per_micro_batch: int | None = Field(
        None,
        ge=1,
        description="Pack micro-batches by tokens instead of by count: sequences (RL steps: whole groups) "
        "sorted by length, each micro-batch at most this many padded tokens (rows x its longest "
        "sequence; one longer sequence runs alone), so one long batch no longer sets the peak. The loss "
        "is a token mean over the whole batch, so the split changes no number. Default None (count: "
        "micro_batch_size).",
    )
    single_pass: bool = Field(
        True,
        description="With one PPO epoch: take pi_old's log-probs, the CoT entropies and the importance "
        "weights from the update's own forward pass (detached) instead of a separate no-grad pass; "
        "same loss and gradients. Default True.",
    )
    backend: Literal["gloo", "nccl"] = Field(
        "gloo", description="torch.distributed backend: gloo on CPU, nccl on GPUs. Default gloo."
    )
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA adapters (learner.lora.*).")


class ClusterConfig(Section):
    gpu_memory_gib: float | None = Field(
        None,
        gt=0,
        description="Memory of one GPU of the cluster, for the memory plan checked before any work "
        "(launch.py plan). Default None: not checked on GPUs (CPU runs check this machine's memory).",
    )
    address: str = Field(
        "local",
        description="Ray cluster: 'local' starts one on this machine bound to 127.0.0.1; 'auto' or "
        "host:port joins an existing one (ray job submit). Default local.",
    )
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of the local cluster (None = all). Default None."
    )
    colocate: bool = Field(
        True,
        description="Place the rollout workers and reward actors on the learner's node (weights stay "
        "on one machine); false lets them go to any node with room. Default True.",
    )
    mode: Literal["separate", "colocated"] = Field(
        "separate",
        description="How the rollout workers and the learner share devices. 'separate': each role uses "
        "its own Ray CPUs or GPUs (threads: its CPUs); with algorithm.max_staleness > 0 they run at once. "
        "'colocated': they take turns on the same devices, each phase using all of them, like verl's "
        "hybrid engine or OpenRLHF's colocate_all: on CPU, rollout.threads and learner.threads left "
        "unset become all the cores of the learner's node (shared among the workers, or the ranks, "
        "there); on GPU (set learner.gpus_per_learner + rollout.gpus_per_worker <= 1, so one worker "
        "shares each learner's GPU) the rollout engines sleep while the learner trains (vLLM sleep "
        "mode, level 1: KV cache freed, weights moved to host memory) and wake before the new weights "
        "arrive. Synchronous only (algorithm.max_staleness=0), with every role on the learner's node "
        "(cluster.colocate=true). Default separate.",
    )
    placement_timeout_s: float = Field(
        120.0,
        gt=0,
        description="How long the learner ranks and the reward actors may wait for the cluster to "
        "place them before the run stops with what is missing (seconds). Default 120.",
    )
