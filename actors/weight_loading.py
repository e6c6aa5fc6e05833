"""Loading new policy weights into a running vLLM engine, in place (run inside vLLM's worker).

The functions here are sent to the engine's worker through ``LLM.collective_rpc``; each receives
the vLLM worker object as its first argument. They use ``model_runner.reload_weights``: plain
``model.load_weights`` fails on CPU, where linear weights are repacked for oneDNN (stack-notes.md).

The tied-embedding trap: with tied input/output embeddings the weights sent (a model's
``named_parameters()``, or its checkpoint) have no ``lm_head.weight``, so ``reload_weights`` refreshes
the embedding table but never re-processes the output layer. On CPU that layer multiplies with a
packed copy of the *old* table made when the engine started (log-prob error 0.83 after one update,
tests/actors/test_rollout_worker.py). :func:`retie_output_layer` re-ties the output layer to the
reloaded table and re-runs its post-load processing, which rebuilds the packed copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

TIED_OUTPUT_NAME = "lm_head.weight"


def serialize_weights(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> bytes:
    """Safetensors bytes of the tensors: what can cross ``collective_rpc`` to worker processes
    (tensors cannot, stack-notes.md)."""
    from safetensors.torch import save

    return save({name: t.contiguous() for name, t in named_tensors})


def _named_tensors(weights: list[tuple[str, torch.Tensor]] | bytes) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(weights, bytes):
        from safetensors.torch import load

        yield from load(weights).items()
    else:
        yield from weights


def has_tied_embeddings(model: torch.nn.Module) -> bool:
    """Whether the vLLM model's config ties the output layer to the input embeddings."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    return bool(getattr(config, "tie_word_embeddings", False))


def _input_embedding(model: torch.nn.Module) -> torch.nn.Module:
    """The vocabulary embedding table of a vLLM model (not its output head)."""
    from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding

    tables = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, VocabParallelEmbedding) and not isinstance(m, ParallelLMHead)
    ]
    named = [m for name, m in tables if name.endswith("embed_tokens")]
    if len(named) == 1 or len(tables) == 1:
        return named[0] if named else tables[0][1]
    raise RuntimeError(
        f"cannot re-tie the output layer of {type(model).__name__}: expected one input embedding "
        f"table, found {[name for name, _ in tables]}"
    )


def retie_output_layer(model: torch.nn.Module) -> bool:
    """Point the output layer back at the (reloaded) input embedding table and rebuild whatever
    its quantisation method derived from it at start-up (the CPU GEMM's packed weight).

    Returns True when the model has tied embeddings and the output layer was refreshed.
    """
    lm_head = getattr(model, "lm_head", None)
    if not has_tied_embeddings(model) or not hasattr(lm_head, "weight"):
        return False  # untied, or no output layer on this pipeline stage
    lm_head.weight = _input_embedding(model).weight
    quant_method = getattr(lm_head, "quant_method", None)
    if quant_method is not None and hasattr(quant_method, "process_weights_after_loading"):
        quant_method.process_weights_after_loading(lm_head)
    return True


def reload_in_worker(worker, weights: list[tuple[str, torch.Tensor]] | bytes) -> int:
    """Load checkpoint-format (Hugging Face names) weights into the worker's model in place.

    ``weights`` is a list of ``(name, tensor)`` (in-process engine) or safetensors bytes (worker
    processes). For a tied model a sent ``lm_head.weight`` is dropped: the table arrives as the
    embedding and the output layer is re-tied to it afterwards. Returns the number of tensors loaded.
    """
    model = worker.model_runner.get_model()
    tied = has_tied_embeddings(model)
    named = [(n, t) for n, t in _named_tensors(weights) if not (tied and n == TIED_OUTPUT_NAME)]
    reload = getattr(worker, "reload_weights", None) or worker.model_runner.reload_weights
    with torch.no_grad():
        reload(weights_iterator=iter(named))
        retie_output_layer(model)
    return len(named)
