"""The learner actor's test set-up: tiny learner actors on Ray and a two-group rollout batch of chat
prompts and completions with rewards (the learner tests and LoRA's)."""

from __future__ import annotations

from common.types import RolloutBatch
from common.weight_group import find_free_port

CHAT_PROMPTS = [
    "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nConvert 12.5 USD to EUR.<|im_end|>\n<|im_start|>assistant\n",
]
COMPLETIONS = [
    "<think>The user wants the weather, so I call get_weather.</think>[get_weather(city='Paris')]<|im_end|>",
    "<think>No function fits.</think>I cannot help with that.<|im_end|>",
    "[get_weather(city=Paris)]",
    "<think>I call convert_currency with the amount.</think>[convert_currency(amount=12.5)]<|im_end|>",
    "<think>convert</think>[convert_currency(amount='12.5', from='USD')]<|im_end|>",
    "<think>Let me think about the currencies and the amount.</think>no<|im_end|>",
]
REWARDS = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # group-major: prompt 0 -> rows 0-2, prompt 1 -> rows 3-5
GROUP = 3


def make_learners(model_dir, world_size=1, **settings):
    """``world_size`` learner actors on ``model_dir`` (micro-batch 2, seed 0, half a CPU each)."""
    from learner import Learner

    port = find_free_port()
    return [
        Learner.options(num_cpus=0.5).remote(
            str(model_dir),
            rank=r,
            world_size=world_size,
            master_port=port,
            micro_batch_size=2,
            seed=0,
            **settings,
        )
        for r in range(world_size)
    ]


def build_rl_batch(tokenizer) -> RolloutBatch:
    """Two groups of three: a call prompt and a currency prompt, with rewards."""
    completions = [tokenizer.encode(c) for c in COMPLETIONS]
    return RolloutBatch(
        prompt_ids=[tokenizer.encode(p) for p in CHAT_PROMPTS],
        completion_ids=grouped(completions),
        sampler_logprobs=None,
        rewards=grouped(REWARDS),
        temperature=0.7,
        staleness=0,
    )


def grouped(rows: list) -> list[list]:
    """Group-major rows (row p * GROUP + g) as ``[P][GROUP]``."""
    return [rows[i : i + GROUP] for i in range(0, len(rows), GROUP)]
