"""Validation at the edge: every record is checked before it becomes a training sample.

Errors are ``ValueError`` subclasses whose message is ``file:line: what is wrong`` (for JSON
arrays and Parquet files the number is the record's position, counted from 1).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cluster.data.sample import ROLES, Sample

OBJECT_SCHEMA_TYPES = ("dict", "object")


class DataError(ValueError):
    """A dataset record that cannot be used; ``where`` is ``file:line``."""

    def __init__(self, where: str, what: str):
        self.where = where
        self.what = what
        super().__init__(f"{where}: {what}")


class MalformedRecordError(DataError):
    """The line is not valid JSON, or lacks a field, or a field has the wrong shape."""


class ToolSchemaError(DataError):
    """A tool's parameters are not an object schema (type dict/object with properties)."""


class GoldCallError(DataError):
    """A gold call names a function not among the tools, or an argument its schema lacks."""


def check_tools(tools: Any, where: str) -> None:
    """Each tool is ``{name, description?, parameters: {type: dict|object, properties, required?}}``."""
    if not isinstance(tools, list):
        raise MalformedRecordError(
            where, f"tools must be a list of function docs, got {type(tools).__name__}"
        )
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        label = f"tool #{index + 1}"
        if not isinstance(tool, dict):
            raise ToolSchemaError(where, f"{label} must be an object, got {type(tool).__name__}")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ToolSchemaError(where, f"{label} has no 'name' string")
        if name in seen:
            raise ToolSchemaError(where, f"tool '{name}' is listed twice")
        seen.add(name)
        _check_object_schema(tool.get("parameters"), f"tool '{name}'", where)


def _check_object_schema(schema: Any, label: str, where: str) -> None:
    if not isinstance(schema, dict):
        raise ToolSchemaError(where, f"{label}: 'parameters' must be an object schema, got {schema!r}")
    if schema.get("type") not in OBJECT_SCHEMA_TYPES:
        raise ToolSchemaError(
            where, f"{label}: 'parameters' has type {schema.get('type')!r}, expected 'dict' or 'object'"
        )
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ToolSchemaError(
            where, f"{label}: 'properties' must be an object, got {type(properties).__name__}"
        )
    for param, spec in properties.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise ToolSchemaError(where, f"{label}: parameter '{param}' has no 'type' string")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ToolSchemaError(where, f"{label}: 'required' must be a list of parameter names")
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise ToolSchemaError(where, f"{label}: required parameter(s) {unknown} missing from 'properties'")


def check_ground_truth(ground_truth: Any, tools: list[dict[str, Any]], where: str) -> None:
    """Gold calls are ``{name: {param: [acceptable...]}}`` naming offered tools and their parameters."""
    if not isinstance(ground_truth, list):
        raise MalformedRecordError(where, f"ground_truth must be a list, got {type(ground_truth).__name__}")
    by_name = {tool["name"]: tool for tool in tools}
    for index, call in enumerate(ground_truth):
        label = f"gold call #{index + 1}"
        if not isinstance(call, dict) or len(call) != 1:
            raise MalformedRecordError(
                where, f"{label} must be {{function_name: {{param: [values]}}}}, got {call!r}"
            )
        ((name, params),) = call.items()
        if name not in by_name:
            offered = ", ".join(by_name) or "none"
            raise GoldCallError(
                where, f"{label} names function '{name}', which is not among the tools ({offered})"
            )
        if not isinstance(params, dict):
            raise MalformedRecordError(
                where, f"{label} '{name}': arguments must be an object, got {params!r}"
            )
        properties = by_name[name]["parameters"].get("properties", {})
        for param, acceptable in params.items():
            if param not in properties:
                known = ", ".join(properties) or "none"
                raise GoldCallError(
                    where,
                    f"{label} '{name}' has argument '{param}', which its schema lacks (parameters: {known})",
                )
            if not isinstance(acceptable, list) or not acceptable:
                raise MalformedRecordError(
                    where, f"{label} '{name}': '{param}' must list its acceptable values, got {acceptable!r}"
                )


def check_messages(messages: Any, where: str) -> None:
    """Turns have a known role and string content; the prompt ends on a user or tool turn."""
    if not isinstance(messages, list) or not messages:
        raise MalformedRecordError(where, "messages must be a non-empty list of turns")
    for index, message in enumerate(messages):
        label = f"message #{index + 1}"
        if not isinstance(message, dict):
            raise MalformedRecordError(where, f"{label} must be an object, got {type(message).__name__}")
        if message.get("role") not in ROLES:
            raise MalformedRecordError(
                where, f"{label} has role {message.get('role')!r}, expected one of {ROLES}"
            )
        if not isinstance(message.get("content"), str):
            raise MalformedRecordError(where, f"{label} ({message['role']}) has no 'content' string")
        for call in message.get("tool_calls", []):
            if not (
                isinstance(call, dict)
                and isinstance(call.get("name"), str)
                and isinstance(call.get("arguments"), dict)
            ):
                raise MalformedRecordError(
                    where, f"{label}: tool_calls must be [{{name, arguments: {{...}}}}]"
                )
    if messages[-1]["role"] not in ("user", "tool"):
        raise MalformedRecordError(
            where, f"the prompt ends on a {messages[-1]['role']} turn; it must end on a user or tool turn"
        )


def build_sample(record: dict[str, Any], where: str) -> Sample:
    """Check a record's parts and build the ``Sample``; raises a ``DataError`` naming ``where``."""
    if not isinstance(record, dict):
        raise MalformedRecordError(where, f"expected a JSON object, got {type(record).__name__}")
    check_messages(record.get("messages"), where)
    check_tools(record.get("tools"), where)
    check_ground_truth(record.get("ground_truth"), record["tools"], where)
    try:
        return Sample.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
        )
        raise MalformedRecordError(where, problems) from None
