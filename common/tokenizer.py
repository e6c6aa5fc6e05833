"""A model directory's tokenizer, loaded as its own ``tokenizer.json`` defines it.

transformers 5's ``AutoTokenizer`` picks the tokenizer class from the model type and, for some
types (qwen2 among them), rebuilds the pre-tokenizer in that class's constructor, whatever the
directory's ``tokenizer.json`` says. The tiny model is a Qwen2 whose BPE was trained with its own
split (``cluster.models.tiny.WORD_SPLIT``: identifiers and digit runs whole), so ``AutoTokenizer``
gave it Qwen2's regex instead: ``get_visa_rules`` became four tokens and ``12`` two. A directory
that names the generic class (``TokenizersBackend``, what transformers writes for a tokenizer built
from a ``tokenizers`` object) is loaded with that class, which keeps the file's pipeline as it is.
Any other directory or hub id goes through ``AutoTokenizer`` unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERIC_CLASS = "TokenizersBackend"


def load_tokenizer(path: str | Path, **kwargs: Any):
    """The tokenizer of ``path`` (a local model directory or a hub id)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    directory = Path(path).expanduser()
    config_file = directory / "tokenizer_config.json"
    if (
        (directory / "tokenizer.json").is_file()
        and config_file.is_file()
        and json.loads(config_file.read_text()).get("tokenizer_class") == GENERIC_CLASS
    ):
        return PreTrainedTokenizerFast.from_pretrained(path, **kwargs)
    return AutoTokenizer.from_pretrained(path, **kwargs)
