"""What a run starts from: the model (and its warm start) and the data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cluster.config.base import Section


class ModelConfig(Section):
    path: str = Field(
        "tiny",
        description="The policy to train: a local Hugging Face model directory, a Hugging Face hub id "
        "(owner/name, downloaded once into the hub cache), 'smollm2-135m-instruct', or 'tiny' to build "
        "the embedded default's tokenizer and random Qwen2 model in code (no download). "
        "Default 'tiny' (the embedded default).",
    )
    revision: str | None = Field(
        None,
        description="For a hub id in model.path: the branch, tag or commit to load. Default None = the "
        "newest; a run records the commit it resolved in its config.yaml.",
    )
    tiny_hidden_size: int = Field(
        64, ge=8, description="Hidden size of the built tiny model (units). Default 64 (stack-notes.md)."
    )
    tiny_num_layers: int = Field(
        2, ge=1, description="Transformer layers of the built tiny model. Default 2 (stack-notes.md)."
    )
    tiny_num_heads: int = Field(
        2, ge=1, description="Attention heads of the built tiny model (divides tiny_hidden_size). Default 2."
    )
    tiny_num_kv_heads: int = Field(
        1,
        ge=1,
        description="Key/value heads of the built tiny model (divides tiny_num_heads; fewer = "
        "grouped-query attention). Default 1.",
    )
    tiny_intermediate_size: int | None = Field(
        None,
        ge=8,
        description="MLP width of the built tiny model (units). Default None = 4 x tiny_hidden_size.",
    )
    tiny_vocab_size: int = Field(
        1024, ge=300, description="BPE vocabulary of the built tiny tokenizer (tokens). Default 1024."
    )
    tiny_tie_embeddings: bool = Field(
        False,
        description="Whether the built tiny model's output layer shares the input embedding table. "
        "Tied, a token's logit grows with its match to the attended hidden state, so copying an "
        "argument value from the request is learned sooner (README, 'What the default run does'). "
        "Default False; the tiny preset sets it.",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights and compute dtype for learner and rollout. Default float32 (CPU has "
        "no bf16 engine, stack-notes.md); use bfloat16 on GPUs.",
    )
    max_model_len: int = Field(
        2048, ge=64, description="Longest prompt + completion the engine accepts (tokens). Default 2048."
    )
    warm_start_sft_steps: int = Field(
        0,
        ge=0,
        description="Supervised fine-tuning steps on the training split before RL (0 = none). "
        "The paper trains instruct models without SFT; a random tiny model needs a warm start. "
        "Default 0; the tiny preset sets it.",
    )
    warm_start_lr: float = Field(
        1e-3,
        gt=0,
        description="Learning rate of the supervised warm start. Default 1e-3 (tiny random model).",
    )
    warm_start_batch_size: int = Field(
        16, ge=1, description="Sequences per supervised warm-start step. Default 16."
    )
    warm_start_warmup_steps: int = Field(
        0,
        ge=0,
        description="Warm-start steps over which the learning rate ramps linearly up to warm_start_lr. "
        "Default 0 (none).",
    )
    warm_start_lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant",
        description="Warm-start learning rate after the warm-up: constant, or a cosine / linear decay "
        "to 0 at the last warm-start step. Default constant.",
    )
    warm_start_length_pool: int = Field(
        1,
        ge=1,
        description="Warm-start batches whose samples are sorted by length together, so that each "
        "batch pads to a near-equal length: fewer padded tokens and faster steps, while the order "
        "stays random beyond the pool. 1 = plain random batches. Default 1.",
    )
    warm_start_cpus: float | None = Field(
        None,
        gt=0,
        description="Ray CPUs (and so threads) of the warm start's learner, which runs alone before "
        "any other role starts. Default None = all of cluster.num_cpus on the local cluster, else "
        "learner.cpus_per_learner.",
    )

    @model_validator(mode="after")
    def _tiny_heads_divide(self) -> ModelConfig:
        if self.path == "tiny" and (
            self.tiny_hidden_size % self.tiny_num_heads or self.tiny_num_heads % self.tiny_num_kv_heads
        ):
            raise ValueError(
                f"model.tiny_num_heads={self.tiny_num_heads}, model.tiny_num_kv_heads={self.tiny_num_kv_heads}: "
                f"expected heads that divide tiny_hidden_size={self.tiny_hidden_size} and kv heads that "
                "divide the heads"
            )
        return self


class DataConfig(Section):
    train_path: str = Field(
        "data/train.jsonl.gz",
        description="Training samples: a JSON/JSONL file (or .json.gz/.jsonl.gz), a Parquet file, a folder saved by datasets' "
        "save_to_disk (DIR or DIR:split), or a hub dataset hf://owner/name[:split] (split default "
        "train). Default: the bundled synthetic set.",
    )
    train_limit: int | None = Field(
        None,
        ge=1,
        description="Read only the first N training samples (a quick trial on a large file). With "
        "val_path None the split is taken from these. Default None = all.",
    )
    val_path: str | None = Field(
        "data/val.jsonl",
        description="Validation samples, in any form train_path takes; None = hold out val_fraction of "
        "train_path. Default: the "
        "bundled validation set.",
    )
    warm_start_path: str | None = Field(
        None,
        description="Samples for the supervised warm start (model.warm_start_sft_steps), in any form "
        "train_path takes, when they should differ from the RL prompts (e.g. a mix with more no-call "
        "tasks to learn abstaining from, and RL on call tasks). Default None: the training split.",
    )
    multi_turn: bool = Field(
        False,
        description="Train on multi-turn tasks with the environment in the loop: train_path and val_path "
        "(or the val_fraction split) hold tasks written by python -m cluster.synthetic.multiturn (a "
        "BFCL multi-turn entry plus its environment's name); each of a task's G samples is a whole "
        "trajectory (the model's steps, the environment's results and the next user turns), trained "
        "on the model's tokens only, with the strict trajectory reward (every user turn passes its state "
        "check, every model step is think-then-answer). The warm start reads data.warm_start_path "
        "(single-turn samples in data.format) when set, else every step of the training tasks' "
        "reference plays. Default False (single-turn samples).",
    )
    env_modules: list[str] = Field(
        default_factory=list,
        description='Python modules that register your own environments (@envs.register("name")) for '
        'multi-turn tasks whose "env" names them, e.g. [my_envs.shop]. The driver imports them first (an '
        "import error stops the run before Ray starts); rollout and reward actors import them by the "
        "EGPO_ENV_MODULES variable. They must be importable there (on a cluster: in the job's working "
        "directory or installed). Default []: the built-in bfcl, files and cart.",
    )
    format: Literal["egpo", "bfcl", "xlam", "chat"] = Field(
        "egpo",
        description="Input format: egpo (this project's JSONL), bfcl, xlam or chat (OpenAI-style). "
        "Default egpo.",
    )
    val_fraction: float = Field(
        0.05, gt=0, lt=1, description="Held-out share when val_path is None. Default 0.05 (paper Sec. 5: 5%)."
    )
    split_seed: int = Field(0, description="Seed of the deterministic train/validation split. Default 0.")
    skip_invalid: bool = Field(
        False,
        description="Skip invalid lines (and report them) instead of stopping on the first. Default False.",
    )
    max_prompt_tokens: int = Field(
        1024,
        ge=16,
        description="Longest rendered prompt (tokens); longer prompts are reported. Default 1024.",
    )
    shuffle_seed: int = Field(0, description="Seed of the training data order (per epoch). Default 0.")
    prompt_style: Literal["paper", "compact", "signatures"] = Field(
        "paper",
        description="System prompt: paper (the paper's instructions, tools as JSON), compact (two "
        "sentences, tools as one-line signatures, about a third of the tokens) or signatures (the "
        "signatures alone; for the tiny model built from scratch, to which a fixed instruction says "
        "nothing). Default paper.",
    )
