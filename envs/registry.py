"""Environments by name, so configs and users can pick and add them.

@register("shop")
class ShopEnv(ToolEnv): ...

env = make("shop", max_calls=20)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

from envs.base import ToolEnv

EnvClass = TypeVar("EnvClass", bound=type[ToolEnv])

_REGISTRY: dict[str, type[ToolEnv]] = {}
ENV_MODULES = "EGPO_ENV_MODULES"  # comma-separated modules registering users' environments


def register(name: str) -> Callable[[EnvClass], EnvClass]:
    """Class decorator: make ``cls`` available as ``make(name)``. A name is taken once."""

    def add(cls: EnvClass) -> EnvClass:
        if not (isinstance(cls, type) and issubclass(cls, ToolEnv)):
            raise TypeError(f"environment {name!r}: {cls!r} is not a ToolEnv subclass")
        known = _REGISTRY.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"environment name {name!r} is already taken by {known.__qualname__}")
        _REGISTRY[name] = cls
        return cls

    return add


def make(name: str, **options: Any) -> ToolEnv:
    """A new environment registered as ``name``, built with ``options``."""
    _load_builtin()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r}: registered are {', '.join(registered())}") from None
    return cls(**options)


def registered() -> list[str]:
    """The names ``make`` accepts, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    import envs.bfcl  # noqa: F401  (registers "bfcl")
    import envs.cart  # noqa: F401  (registers "cart")
    import envs.files  # noqa: F401  (registers "files")

    load_modules(os.environ.get(ENV_MODULES, ""))


def load_modules(names: str | list[str]) -> None:
    """Import the modules (a list, or comma-separated) that register users' environments."""
    for name in names.split(",") if isinstance(names, str) else names:
        if name.strip():
            try:
                importlib.import_module(name.strip())
            except ImportError as exc:
                raise ValueError(f"environment module {name.strip()!r} cannot be imported: {exc}") from None
