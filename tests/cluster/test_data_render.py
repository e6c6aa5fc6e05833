"""Prompt rendering through the tiny tokenizer's chat template, PromptTooLong, SFT references."""

from __future__ import annotations

import json

import pytest

from cluster.data import (
    PromptTooLong,
    Sample,
    corpus_texts,
    prompt_messages,
    reference_completion,
    render_prompt,
    render_prompts,
)
from cluster.models.tiny import build_tokenizer
from reward import render_system_prompt, score
from tests.support.runs import REPO_ROOT

DATA_DIR = REPO_ROOT / "data"

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "dict",
        "properties": {"city": {"type": "string", "description": "City name."}},
        "required": ["city"],
    },
}
SINGLE = Sample(
    id="w1",
    messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    tools=[WEATHER],
    ground_truth=[{"get_weather": {"city": ["Paris"]}}],
    category="simple",
    reference="<think>The user wants the current weather. get_weather fits.</think>[get_weather(city='Paris')]",
)
HISTORY = Sample(
    id="w2",
    messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
        },
        {"role": "tool", "content": '{"temp": 3}'},
        {"role": "user", "content": "And in Rome?"},
    ],
    tools=[WEATHER],
    ground_truth=[{"get_weather": {"city": ["Rome"]}}],
    category="simple",
)
NO_CALL = Sample(
    id="w3",
    messages=[{"role": "user", "content": "Who wrote Hamlet?"}],
    tools=[WEATHER],
    ground_truth=[],
    category="irrelevance",
)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(corpus_texts([SINGLE, HISTORY, NO_CALL]), vocab_size=400)


def test_prompt_is_our_system_prompt_then_the_turns_through_the_chat_template(tokenizer):
    ids = render_prompt(SINGLE, tokenizer)
    text = tokenizer.decode(ids)
    system = render_system_prompt([WEATHER], "python")
    assert text == (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_the_sample_system_turn_is_merged_after_ours_and_history_calls_are_written_out():
    messages = prompt_messages(HISTORY, "python")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert messages[0]["content"] == render_system_prompt([WEATHER], "python") + "\nAnswer briefly."
    assert messages[2]["content"] == "[get_weather(city='Oslo')]"
    hermes = prompt_messages(HISTORY, "hermes")
    assert (
        hermes[2]["content"]
        == '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    )
    assert "<tool_call>" in hermes[0]["content"]  # the hermes system prompt


def test_prompt_too_long_is_raised_with_id_and_length_never_truncated(tokenizer):
    length = len(render_prompt(HISTORY, tokenizer))
    assert render_prompt(HISTORY, tokenizer, max_prompt_tokens=length) == render_prompt(HISTORY, tokenizer)
    with pytest.raises(PromptTooLong, match=rf"sample 'w2': the rendered prompt has {length} tokens") as info:
        render_prompt(HISTORY, tokenizer, max_prompt_tokens=length - 1)
    assert (info.value.sample_id, info.value.length, info.value.limit) == ("w2", length, length - 1)
    assert isinstance(info.value, ValueError)


def test_prompts_rendered_in_one_batch_are_those_rendered_one_by_one(tiny_model_dir):
    from cluster.data import load_samples
    from common.tokenizer import load_tokenizer

    samples = load_samples(DATA_DIR / "val.jsonl").samples[:40] + [SINGLE, HISTORY]
    for tokenizer in (load_tokenizer(tiny_model_dir), build_tokenizer(["a b c"], 300)):
        for style in ("paper", "compact"):
            assert render_prompts(samples, tokenizer, "python", style) == [
                render_prompt(s, tokenizer, "python", style=style) for s in samples
            ]
    assert render_prompts([], build_tokenizer(["a b c"], 300)) == []


def test_prompt_with_the_tiny_model_directory_tokenizer(tiny_model_dir):
    from common.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    ids = render_prompt(SINGLE, tokenizer)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_reference_completions_score_one_in_both_formats():
    for sample in (SINGLE, HISTORY, NO_CALL):
        for fmt in ("python", "hermes"):
            completion = reference_completion(sample, fmt)
            assert completion.startswith("<think>")
            assert score(completion, sample.ground_truth, sample.tools, sample.category, fmt=fmt) == 1.0
    assert reference_completion(SINGLE, "python") == SINGLE.reference
    hermes = reference_completion(SINGLE, "hermes")
    assert hermes.startswith(
        "<think>The user wants the current weather. get_weather fits.</think><tool_call>"
    )
    assert json.loads(hermes.split("<tool_call>")[1].split("</tool_call>")[0]) == {
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }


def test_corpus_texts_hold_system_prompts_turns_and_references_once_after_their_role():
    texts = corpus_texts([SINGLE, SINGLE, NO_CALL])
    assert len(texts) == len(set(texts))
    assert "system\n" + render_system_prompt([WEATHER], "python") in texts
    assert "user\nWhat's the weather in Paris?" in texts and "user\nWho wrote Hamlet?" in texts
    assert "assistant\n" + SINGLE.reference in texts
    assert "assistant\n" + reference_completion(NO_CALL) in texts


CONVERT = {
    "name": "convert_length",
    "description": "Convert a length between units.",
    "parameters": {
        "type": "dict",
        "properties": {
            "value": {"type": "float", "description": "The length."},
            "unit": {"type": "string", "enum": ["m", "ft"], "description": "Target unit."},
            "precision": {"type": "integer", "description": "Decimals."},
        },
        "required": ["value", "unit"],
    },
}


def test_compact_style_lists_signatures_with_optional_and_enum_parameters():
    system = render_system_prompt([WEATHER, CONVERT], "python", "compact")
    lines = system.splitlines()
    assert lines[-2:] == [
        "get_weather(city: string) - Current weather in a city.",
        'convert_length(value: float, unit: string in ["m", "ft"], precision: integer = None) - '
        "Convert a length between units.",
    ]
    assert "[func(param=value, ...)]" in lines[0] and "{" not in system.split("Functions:")[1]
    assert "<tool_call>" in render_system_prompt([WEATHER], "hermes", "compact")
    paper = render_system_prompt([WEATHER, CONVERT], "python")
    assert len(system) < len(paper) / 2
    with pytest.raises(ValueError, match="unknown prompt style 'short'"):
        render_system_prompt([WEATHER], "python", "short")


def test_compact_style_reaches_the_rendered_prompt_and_the_tokenizer_corpus(tokenizer):
    compact = render_system_prompt([WEATHER], "python", "compact")
    assert prompt_messages(HISTORY, "python", "compact")[0]["content"] == compact + "\nAnswer briefly."
    text = tokenizer.decode(render_prompt(SINGLE, tokenizer, style="compact"))
    assert text.startswith(f"<|im_start|>system\n{compact}<|im_end|>\n")
    assert len(render_prompt(SINGLE, tokenizer, style="compact")) < len(render_prompt(SINGLE, tokenizer))
    assert f"system\n{compact}" in corpus_texts([SINGLE], style="compact")
    assert f"system\n{compact}" not in corpus_texts([SINGLE])


def test_signatures_style_is_the_tool_list_alone():
    signatures = render_system_prompt([WEATHER], "python", "signatures")
    assert signatures == "Functions:\nget_weather(city: string) - Current weather in a city.\n"
    assert signatures == render_system_prompt([WEATHER], "hermes", "signatures")


def test_render_all_leaves_out_and_reports_prompts_over_the_limit(tiny_model_dir, console):
    from cluster.config import load_config
    from cluster.data.feed import render_all
    from common.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    style = load_config("tiny").data.prompt_style
    lengths = [len(render_prompt(s, tokenizer, style=style)) for s in (SINGLE, HISTORY)]
    limit = min(lengths)
    cfg = load_config("tiny", [f"data.max_prompt_tokens={limit}"])
    kept = render_all([SINGLE, HISTORY], tokenizer, cfg, "train")
    said = console("train:")
    assert [p.sample.id for p in kept] == [
        s.id for s, n in zip((SINGLE, HISTORY), lengths, strict=True) if n <= limit
    ]
    assert said == [
        f"train: 1 of 2 prompts are longer than data.max_prompt_tokens={limit} (longest {max(lengths)}); "
        "left out, not truncated"
    ]
