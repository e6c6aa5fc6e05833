"""The data feed: the sample type, loaders with validation, the AST filter, the split, prompt rendering."""

from cluster.data.ast_filter import FilterReport, ast_filter
from cluster.data.loaders import FORMATS, LoadResult, load_samples
from cluster.data.render import (
    PromptTooLong,
    check_prompt_length,
    corpus_texts,
    prompt_messages,
    reference_completion,
    render_prompt,
    render_prompts,
)
from cluster.data.sample import Sample, infer_category
from cluster.data.split import split_samples
from cluster.data.validate import DataError, GoldCallError, MalformedRecordError, ToolSchemaError

__all__ = [
    "FORMATS",
    "DataError",
    "FilterReport",
    "GoldCallError",
    "LoadResult",
    "MalformedRecordError",
    "PromptTooLong",
    "Sample",
    "ToolSchemaError",
    "ast_filter",
    "check_prompt_length",
    "corpus_texts",
    "infer_category",
    "load_samples",
    "prompt_messages",
    "reference_completion",
    "render_prompt",
    "render_prompts",
    "split_samples",
]
