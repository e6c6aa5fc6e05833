"""Checkpoints: a Hugging Face directory (loadable by transformers and vLLM) plus the training state.

Layout of ``<path>/``::

    config.json, model.safetensors, generation_config.json   the policy, HF format
    tokenizer.json, tokenizer_config.json, ...                copied from the model directory
    learner_state.json                                        RL step, settings, source model
    reference.safetensors                                     the KL reference, when it is not the source model
                                                              (LoRA: the base the adapter applies to)
    adapter/adapter_config.json, adapter_model.safetensors    LoRA only: the adapter, in peft's format
    deepspeed/state/...                                       optimizer + engine state per rank (resume)

Everything is written to ``.<name>.tmp`` next to the target and renamed at the end, so a crash
never leaves a half-written checkpoint under the final name. All ranks write into the same
directory (a shared or local file system; several nodes need a shared one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
)
DEEPSPEED_DIR, DEEPSPEED_TAG, STATE_FILE, REFERENCE_FILE = (
    "deepspeed",
    "state",
    "learner_state.json",
    "reference.safetensors",
)


def temp_dir_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def copy_tokenizer_files(model_dir: Path, out_dir: Path) -> list[str]:
    """Copy the tokenizer (and chat template) files that exist in ``model_dir``; return their names."""
    copied = []
    for name in TOKENIZER_FILES:
        src = model_dir / name
        if src.is_file():
            shutil.copy2(src, out_dir / name)
            copied.append(name)
    return copied


def write_hf_dir(
    lm: torch.nn.Module,
    state_dict: dict[str, torch.Tensor] | None,
    out_dir: Path,
    model_dir: Path,
    state: dict,
    reference: dict[str, torch.Tensor] | None,
) -> None:
    """Rank 0's part: the HF model files (unless ``state_dict`` is None: a LoRA checkpoint without the
    merged model), the tokenizer, the learner state and (optionally) the reference."""
    if state_dict is not None:
        lm.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True)
    copy_tokenizer_files(model_dir, out_dir)
    (out_dir / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True))
    if reference is not None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in _untie(reference).items()}, str(out_dir / REFERENCE_FILE))


def publish(tmp: Path, path: Path) -> None:
    """Move the finished temp directory to its final name (replacing an older checkpoint there)."""
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(path)


def read_state(path: Path) -> dict:
    state_file = path / STATE_FILE
    if not state_file.is_file() or not (path / DEEPSPEED_DIR).is_dir():
        raise FileNotFoundError(
            f"{path} is not a learner checkpoint (needs {STATE_FILE} and {DEEPSPEED_DIR}/); to start from plain "
            "HF weights, create the learner with model_path pointing there instead"
        )
    return json.loads(state_file.read_text())


def read_reference(path: Path) -> dict[str, torch.Tensor] | None:
    ref_file = path / REFERENCE_FILE
    if not ref_file.is_file():
        return None
    from safetensors.torch import load_file

    return load_file(str(ref_file))


def _untie(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied embeddings): give each its own copy."""
    seen: set[int] = set()
    out = {}
    for name, t in tensors.items():
        ptr = t.untyped_storage().data_ptr()
        out[name] = t.clone() if ptr in seen else t
        seen.add(ptr)
    return out
