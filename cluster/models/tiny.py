"""The embedded default's model: a byte-level BPE tokenizer and a random Qwen2 model, built in code.

Nothing can be downloaded at run time, so the default run (and every test that needs a model)
builds its own: a tokenizer trained on a corpus in well under a second, a ChatML chat template,
and a small randomly initialised ``Qwen2ForCausalLM`` saved as a Hugging Face directory that
transformers, DeepSpeed and vLLM all load.

The think and tool-call tags are added tokens (one id each, not "special", so they survive
detokenisation); the learner finds the chain-of-thought span from their ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# Pre-tokenizer split: words and identifiers (letters and underscores), digit runs, punctuation runs
# (with at most one leading space) and runs of spaces, each on its own. A value then has the same
# tokens in the user's request (" in Havana", "for 30 minutes") and in the call ("city='Havana'",
# "minutes=30"): copying it is an exact match, which a tiny model learns far sooner than the Qwen2
# split's " Havana" vs "'Havana" (a space or quote glued to the word). A function or parameter name
# the BPE has merged is one token ("get_visa_rules", not five), in the tool list and in the call, and
# so is a number; a rare one falls back to pieces. Load it with common.tokenizer.load_tokenizer:
# AutoTokenizer swaps in Qwen2's pre-tokenizer for a qwen2 directory (tests/cluster/test_tiny_model.py).
WORD_SPLIT = r"[\p{L}_]+|\p{N}+| ?[^\s\p{L}\p{N}_]+|[^\S\r\n]+|[\r\n]+"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TAG_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_BUILTIN_CORPUS = [
    "You are an expert in composing functions. You are given a question and a set of possible "
    "functions. Based on the question, you will need to make one or more function calls.",
    "<think>The user wants the weather in Paris, so I call get_weather.</think>"
    "[get_weather(city='Paris', unit='celsius')]",
    "<think>No function fits this request.</think>I cannot help with that using the tools.",
    '{"name": "convert_currency", "arguments": {"amount": 12.5, "from": "USD", "to": "EUR"}}',
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ [](){}<>=,.;:'\"_-+*/",
]


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it for transformers."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORD_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.add_tokens(TAG_TOKENS)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str | Path,
    corpus: Iterable[str] | None = None,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    num_kv_heads: int = 1,
    intermediate_size: int = 256,
    max_position_embeddings: int = 2048,
    tie_word_embeddings: bool = False,
    seed: int = 0,
) -> Path:
    """Build a tokenizer and a random Qwen2 causal LM and save both as an HF directory.

    Untied embeddings by default: vLLM's in-place weight reload keeps a stale output layer
    for tied ones (stack-notes.md); ``tie_word_embeddings=True`` exists to test that trap.
    Returns the directory. The same arguments and corpus give the same files.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(list(corpus) if corpus is not None else _BUILTIN_CORPUS, vocab_size)
    tokenizer.save_pretrained(out)

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=tie_word_embeddings,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(out, safe_serialization=True)
    (out / "egpo_tiny.json").write_text(
        json.dumps({"built_by": "cluster.models.tiny", "tie_word_embeddings": tie_word_embeddings})
    )
    return out
