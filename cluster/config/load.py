"""Loading a run config: a YAML preset plus ``section.field=value`` overrides, validated into a
:class:`RunConfig`, with errors that name the field; saving the resolved config."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cluster.config.base import CONFIGS_DIR, DEFAULT_PRESET, ConfigError
from cluster.config.run import RunConfig


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            paths.extend(_field_paths(ann, f"{prefix}{name}."))
        else:
            paths.append(f"{prefix}{name}")
    return paths


def _closest(path: str) -> str:
    candidates = _field_paths(RunConfig) + list(RunConfig.model_fields)
    match = difflib.get_close_matches(path, candidates, n=1, cutoff=0.0)
    return match[0] if match else ""


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"unknown key '{path}' (value {value!r}); did you mean '{_closest(path)}'?"
    if error["type"] == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    field = path or "config"
    return f"{field}={value!r}: expected {error['msg'][0].lower()}{error['msg'][1:]}"


def validate(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a RunConfig from a plain dict, or raise ConfigError naming every bad field."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        end = "" if problems.endswith((".", "?")) else "."
        raise ConfigError(f"Invalid {source}: {problems}{end}") from None


def parse_value(text: str) -> Any:
    """A command-line value as YAML would read it (numbers, booleans, null, lists)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key.sub=value`` override to a nested dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"Override '{assignment}' is not of the form key.sub=value.")
    key, _, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            f"Override key '{key}' must be section.field (e.g. algorithm.entropy_coef=0.4, "
            f"learner.lora.rank=8); did you mean '{_closest(key)}'?"
        )
    if parts[0] not in RunConfig.model_fields:
        raise ConfigError(
            f"Unknown config section '{parts[0]}' in '{assignment}'; did you mean '{_closest(key)}'?"
        )
    node = data
    for depth, name in enumerate(parts[:-1]):
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"Config section '{where}' must be a mapping, got {node!r}.")
    node[parts[-1]] = parse_value(raw)


def preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return CONFIGS_DIR / f"{name_or_path}.yaml"


def load_config(preset: str = DEFAULT_PRESET, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML preset (a name under configs/ or a path) and apply overrides."""
    path = preset_path(preset)
    if not path.is_file():
        known = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
        raise ConfigError(f"Config preset '{preset}' not found (looked for {path}); known presets: {known}.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    for assignment in overrides or []:
        apply_override(data, assignment)
    return validate(data, source=f"config ({path.name}{' + overrides' if overrides else ''})")


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (every field, defaults included)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
