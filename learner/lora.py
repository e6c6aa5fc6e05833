"""LoRA for the learner (``learner.lora``): low-rank adapters on chosen linear layers, through peft.

The base weights stay frozen and only the adapters train, so the optimizer's states and the
gradients are the adapters' size. Three things follow from keeping the adapters apart:

- the KL reference is the base with the adapters switched off (:func:`adapters_off`): no second
  copy of the model is kept;
- rollout workers and checkpoints get the merged weights ``W + (alpha / r) B A`` under the model's
  own names (:func:`merged_state_dict`), so vLLM, evaluation and ``--model`` see a plain model;
- checkpoints also hold the adapter alone in peft's format (:func:`save_adapter`, ``adapter/``),
  loadable with ``peft.PeftModel.from_pretrained(base, path / "adapter")``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

ADAPTER = "default"  # peft's name for the one adapter
ADAPTER_DIR = "adapter"
_BASE = ".base_layer."


def add_adapters(
    lm: nn.Module, rank: int, alpha: float, dropout: float, target_modules: str | list[str]
) -> nn.Module:
    """Insert LoRA adapters into ``lm`` in place and freeze everything else; returns ``lm``.

    ``B`` starts at zero, so the model's outputs are unchanged until the first update.
    """
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
    try:
        lm = inject_adapter_in_model(config, lm, adapter_name=ADAPTER)
    except ValueError as exc:  # peft: no module of that name
        raise ValueError(f"learner.lora.target_modules={target_modules!r}: {exc}") from None
    lm.lora_config = config  # for save_adapter
    if dropout > 0:  # the learner runs the model in eval mode (no dropout); the adapters' own is asked for
        for layer in layers(lm):
            layer.lora_dropout[ADAPTER].train()
    return lm


def layers(lm: nn.Module) -> list[nn.Module]:
    from peft.tuners.lora import LoraLayer

    return [m for m in lm.modules() if isinstance(m, LoraLayer)]


@contextmanager
def adapters_off(lm: nn.Module) -> Iterator[None]:
    """Run the base model: every adapter contributes nothing inside the block (use under no_grad)."""
    found = layers(lm)
    for layer in found:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in found:
            layer.enable_adapters(True)  # also makes the adapters trainable again


def _deltas(lm: nn.Module) -> dict[str, torch.Tensor]:
    """Each adapted weight's ``(alpha / r) B A``, keyed by the weight's name in the base model."""
    adapted = set(layers(lm))
    return {
        f"{name}.weight": module.get_delta_weight(ADAPTER)
        for name, module in lm.named_modules()
        if module in adapted
    }


def base_state_dict(lm: nn.Module, merged: bool = False) -> dict[str, torch.Tensor]:
    """The base model's weights under its own names, on the CPU; ``merged``: with the adapters added."""
    with torch.no_grad():
        deltas = _deltas(lm) if merged else {}
        out = {}
        for name, tensor in lm.state_dict().items():
            if ".lora_" in name:
                continue
            name = name.replace(_BASE, ".")
            value = tensor + deltas[name].to(tensor.dtype) if name in deltas else tensor
            out[name] = value.detach().to("cpu", copy=True)
        return out


def merged_state_dict(lm: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights with the adapters merged in, under the base model's names, on the CPU."""
    return base_state_dict(lm, merged=True)


def load_base(lm: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load base weights given under the base model's names (the adapters stay as they are)."""
    names = {name.replace(_BASE, "."): name for name in lm.state_dict() if ".lora_" not in name}
    unknown = sorted(set(weights) - set(names))
    missing = sorted(set(names) - set(weights))
    if unknown or missing:
        raise ValueError(f"base weights do not fit the model: unknown {unknown[:3]}, missing {missing[:3]}")
    lm.load_state_dict({names[k]: v for k, v in weights.items()}, strict=False)


def merge_into_base(lm: nn.Module) -> None:
    """Add the adapters into the base weights and start them again from zero (the outputs stay the same)."""
    with torch.no_grad():
        for layer in layers(lm):
            weight = layer.get_base_layer().weight
            weight += layer.get_delta_weight(ADAPTER).to(weight.dtype)
            layer.reset_lora_parameters(ADAPTER, True)


def adapter_state_dict(lm: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' tensors, named as peft saves them (``base_model.model.<module>.lora_A.weight``)."""
    return {
        "base_model.model." + name.replace(f".{ADAPTER}.", "."): tensor.detach().to("cpu", copy=True)
        for name, tensor in lm.state_dict().items()
        if ".lora_" in name
    }


def save_adapter(lm: nn.Module, out_dir: Path, base_model: str) -> Path:
    """Write the adapter in peft's format under ``out_dir/adapter``; returns that folder."""
    from safetensors.torch import save_file

    folder = out_dir / ADAPTER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    config = copy.copy(lm.lora_config)
    config.base_model_name_or_path = base_model
    config.save_pretrained(str(folder))
    save_file(
        {k: v.contiguous() for k, v in adapter_state_dict(lm).items()},
        str(folder / "adapter_model.safetensors"),
    )
    return folder
