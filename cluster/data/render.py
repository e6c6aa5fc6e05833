"""Prompt rendering: the system prompt with the tools, then the sample's turns, as token ids.

The system prompt comes from ``reward.render_system_prompt`` (versioned there; ``style`` picks the
paper's prompt or the compact one of the tiny default); the chat template
is the model tokenizer's own. Prompts are never truncated: one longer than the configured maximum
raises ``PromptTooLong``, which the training loop reports and skips.
"""

from __future__ import annotations

import re
from typing import Any

from cluster.data.sample import Sample
from reward import gold_to_calls, render_calls, render_system_prompt

_THINK = re.compile(r"^\s*<think>(.*?)</think>(.*)$", re.DOTALL)
NO_CALL_ANSWER = "None of the given functions can be used for this request."


class PromptTooLong(ValueError):
    """A rendered prompt exceeds ``max_prompt_tokens``; carries the sample id and the length."""

    def __init__(self, sample_id: str, length: int, limit: int):
        self.sample_id = sample_id
        self.length = length
        self.limit = limit
        super().__init__(
            f"sample '{sample_id}': the rendered prompt has {length} tokens, more than "
            f"max_prompt_tokens={limit}; it is skipped, not truncated"
        )


def prompt_messages(sample: Sample, fmt: str = "python", style: str = "paper") -> list[dict[str, str]]:
    """Chat messages for the template: our system prompt (a system turn of the sample merged after
    it), then the history, with earlier assistant tool calls written in answer format ``fmt``."""
    system = render_system_prompt(sample.tools, fmt, style)
    turns: list[dict[str, str]] = []
    for message in sample.messages:
        if message["role"] == "system":
            system = f"{system}\n{message['content']}"
            continue
        turns.append({"role": message["role"], "content": _turn_text(message, fmt)})
    return [{"role": "system", "content": system}, *turns]


def _turn_text(message: dict[str, Any], fmt: str) -> str:
    calls = message.get("tool_calls")
    if not calls:
        return message["content"]
    rendered = render_calls(calls, fmt)
    return f"{message['content']}\n{rendered}" if message["content"] else rendered


def render_prompt(
    sample: Sample,
    tokenizer: Any,
    fmt: str = "python",
    max_prompt_tokens: int | None = None,
    style: str = "paper",
) -> list[int]:
    """Token ids of the prompt through ``tokenizer.apply_chat_template`` with the generation prompt.

    Raises ``PromptTooLong`` when longer than ``max_prompt_tokens`` (None = no limit).
    """
    encoded = tokenizer.apply_chat_template(
        prompt_messages(sample, fmt, style), add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return check_prompt_length(sample, list(encoded["input_ids"]), max_prompt_tokens)


def check_prompt_length(sample: Sample, ids: list[int], max_prompt_tokens: int | None) -> list[int]:
    """``ids`` when they fit ``max_prompt_tokens`` (None = no limit); else raise ``PromptTooLong``."""
    if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
        raise PromptTooLong(sample.id, len(ids), max_prompt_tokens)
    return ids


def render_prompts(
    samples: list[Sample], tokenizer: Any, fmt: str = "python", style: str = "paper"
) -> list[list[int]]:
    """Token ids of many prompts, as :func:`render_prompt` gives them one by one: the chat template
    renders each, and the tokenizer encodes them in one batch (1.4x as fast on the 30,000 bundled
    training prompts: 10.3 s against 14.5 s).
    No length limit is applied."""
    if not samples:
        return []
    encoded = tokenizer.apply_chat_template(
        [prompt_messages(sample, fmt, style) for sample in samples],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )
    return [list(ids) for ids in encoded["input_ids"]]


def reference_completion(sample: Sample, fmt: str = "python") -> str:
    """A correct completion for supervised warm start: ``<think>...</think>`` then the answer.

    The sample's ``reference`` is used as is in the python format; otherwise its think text is
    kept and the calls are rendered from the gold in ``fmt``. Without a reference, a short
    formulaic think is written.
    """
    think, answer = _split_reference(sample.reference)
    if sample.reference is not None and fmt == "python" and think is not None:
        return sample.reference
    calls = gold_to_calls(sample.ground_truth)
    if calls:
        names = " and ".join(dict.fromkeys(call["name"] for call in calls))
        think = think if think is not None else f"The request fits {names}."
        return f"<think>{think}</think>{render_calls(calls, fmt)}"
    think = think if think is not None else "No given function fits this request with the details given."
    return f"<think>{think}</think>{answer or NO_CALL_ANSWER}"


def _split_reference(reference: str | None) -> tuple[str | None, str | None]:
    if reference is None:
        return None, None
    match = _THINK.match(reference)
    if match is None:
        return None, None
    return match.group(1), match.group(2)


def corpus_texts(samples: list[Sample], fmt: str = "python", style: str = "paper") -> list[str]:
    """Texts to train a tokenizer on: each distinct system prompt, every turn (after its role, as the
    chat template writes it, so "assistant" is one token), every reference."""
    texts: dict[str, None] = {}
    for sample in samples:
        for message in prompt_messages(sample, fmt, style):
            texts[f"{message['role']}\n{message['content']}"] = None
        texts[f"assistant\n{reference_completion(sample, fmt)}"] = None
    return list(texts)
