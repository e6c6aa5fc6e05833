"""Record converters: one dataset record (in a public format) -> sample records for validation.

Each converter takes a decoded record and its ``file:line`` and returns plain dicts with the
``Sample`` fields, raising ``MalformedRecordError`` for shapes it cannot read; the semantic checks
(tool schemas, gold calls) happen afterwards in ``cluster.data.validate``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cluster.data.sample import infer_category
from cluster.data.validate import MalformedRecordError


def json_field(record: dict[str, Any], key: str, where: str) -> Any:
    """A field that may hold JSON text (xLAM, Parquet exports) or the decoded value."""
    if key not in record:
        raise MalformedRecordError(where, f"missing field '{key}'")
    value = record[key]
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise MalformedRecordError(where, f"field '{key}' is not valid JSON: {exc}") from None
    return value


def require_object(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise MalformedRecordError(where, f"expected a JSON object, got {type(record).__name__}")
    if "env" in record and "initial_config" in record:
        raise MalformedRecordError(
            where,
            f"a multi-turn task over the {record['env']!r} environment: the single-turn loaders do not "
            "take these; read them with cluster.synthetic.multiturn.load_tasks",
        )
    return record


# --- egpo: this project's JSONL -------------------------------------------------------------


def from_egpo(record: Any, where: str) -> list[dict[str, Any]]:
    record = dict(require_object(record, where))
    for key in ("messages", "tools", "ground_truth"):
        if key in record and isinstance(record[key], str):
            record[key] = json_field(record, key, where)
    if "category" not in record and isinstance(record.get("ground_truth"), list):
        record["category"] = infer_category(record["ground_truth"], record.get("tools") or [])
    return [record]


# --- BFCL: question file + possible_answer file ---------------------------------------------

_BFCL_INDEX = re.compile(r"_\d+(-\d+)*$")


def bfcl_category(sample_id: str) -> str:
    """``live_multiple_12-3-0`` -> ``live_multiple``; ``simple_python_7`` -> ``simple_python``."""
    return _BFCL_INDEX.sub("", sample_id)


def from_bfcl(record: Any, where: str, answers: dict[str, tuple[str, Any]]) -> list[dict[str, Any]]:
    record = dict(require_object(record, where))
    for key in ("question", "function", "ground_truth"):  # a dataset column of mixed types holds JSON text
        if isinstance(record.get(key), str):
            record[key] = json_field(record, key, where)
    sample_id = record.get("id")
    if not isinstance(sample_id, str):
        raise MalformedRecordError(where, "missing 'id' string")
    turns = record.get("question")
    if not isinstance(turns, list) or not turns:
        raise MalformedRecordError(where, "'question' must be a list of turns (lists of messages)")
    if len(turns) > 1:
        raise MalformedRecordError(
            where,
            f"'{sample_id}' is a multi-turn BFCL question ({len(turns)} turns); those are scored by "
            "execution, not by the AST checker, and are not supported",
        )
    category = bfcl_category(sample_id)
    if "irrelevance" in category:
        ground_truth: Any = []
    elif sample_id in answers:
        ground_truth = answers[sample_id][1]
    elif "ground_truth" in record:  # a dataset row that carries its possible answer
        ground_truth = record["ground_truth"]
    else:
        hint = "pass answers_path (the possible_answer file)" if not answers else "the answers file lacks it"
        raise MalformedRecordError(where, f"no possible answer for '{sample_id}' ({category}): {hint}")
    if "function" not in record:
        raise MalformedRecordError(where, "missing field 'function'")
    return [
        {
            "id": sample_id,
            "messages": turns[0],
            "tools": record["function"],
            "ground_truth": ground_truth,
            "category": category,
        }
    ]


# --- xLAM: query / tools / answers as JSON strings ------------------------------------------

_XLAM_TYPES = {
    "str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "float",
    "number": "float", "bool": "boolean", "boolean": "boolean", "dict": "dict", "object": "dict",
    "list": "array", "array": "array", "tuple": "tuple",
}  # fmt: skip


def xlam_type(type_text: Any) -> tuple[str, bool]:
    """An xLAM parameter type (``"str"``, ``"List[int]"``, ``"int, optional"``) -> (Gorilla type, required)."""
    if not isinstance(type_text, str):
        return "any", True
    required = "optional" not in type_text.lower()
    base = type_text.split(",")[0].strip().lower()
    head = base.split("[")[0].strip()
    return _XLAM_TYPES.get(head, "any"), required


def xlam_tool(tool: Any, where: str) -> dict[str, Any]:
    """An xLAM tool (``parameters: {name: {type, description, default}}``) as a BFCL function doc."""
    if not isinstance(tool, dict):
        raise MalformedRecordError(where, f"an xLAM tool must be an object, got {tool!r}")
    params = tool.get("parameters", {})
    if isinstance(params, dict) and params.get("type") in ("dict", "object") and "properties" in params:
        return tool  # already an object schema
    if not isinstance(params, dict):
        return {**tool, "parameters": params}  # rejected by the schema check with its message
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in params.items():
        spec = spec if isinstance(spec, dict) else {}
        gorilla_type, is_required = xlam_type(spec.get("type"))
        properties[name] = {"type": gorilla_type, "description": str(spec.get("description", ""))}
        if "default" in spec and spec["default"] not in ("", None):
            properties[name]["default"] = spec["default"]
        if is_required:
            required.append(name)
    parameters = {"type": "dict", "properties": properties, "required": required}
    return {
        "name": tool.get("name"),
        "description": str(tool.get("description", "")),
        "parameters": parameters,
    }


def calls_to_gold(calls: Any, where: str) -> list[dict[str, Any]]:
    """Concrete calls ``[{name, arguments}]`` (arguments may be JSON text) -> ``[{name: {arg: [value]}}]``."""
    if not isinstance(calls, list):
        raise MalformedRecordError(where, f"gold calls must be a list, got {type(calls).__name__}")
    gold = []
    for call in calls:
        if isinstance(call, dict) and "function" in call:
            call = call["function"]  # OpenAI tool_calls entry
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise MalformedRecordError(where, f"a gold call needs a 'name', got {call!r}")
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise MalformedRecordError(
                    where, f"arguments of '{call['name']}' are not valid JSON: {exc}"
                ) from None
        if not isinstance(arguments, dict):
            raise MalformedRecordError(
                where, f"arguments of '{call['name']}' must be an object, got {arguments!r}"
            )
        gold.append({call["name"]: {key: [value] for key, value in arguments.items()}})
    return gold


def from_xlam(record: Any, where: str) -> list[dict[str, Any]]:
    record = require_object(record, where)
    query = record.get("query")
    if not isinstance(query, str):
        raise MalformedRecordError(where, "missing 'query' string")
    raw_tools = json_field(record, "tools", where)
    if not isinstance(raw_tools, list):
        raise MalformedRecordError(where, f"'tools' must be a JSON list, got {type(raw_tools).__name__}")
    tools = [xlam_tool(tool, where) for tool in raw_tools]
    gold = calls_to_gold(json_field(record, "answers", where), where)
    sample_id = str(record["id"]) if "id" in record else f"xlam-{where.rsplit(':', 1)[-1]}"
    return [
        {
            "id": sample_id,
            "messages": [{"role": "user", "content": query}],
            "tools": tools,
            "ground_truth": gold,
            "category": infer_category(gold, tools),
        }
    ]


# --- OpenAI-style chat: one sample per assistant turn ----------------------------------------


def _chat_tool(tool: Any, where: str) -> Any:
    """``{"type": "function", "function": {...}}`` -> the function doc (parameters default to none)."""
    if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        tool = tool["function"]
    if isinstance(tool, dict) and "parameters" not in tool:
        tool = {**tool, "parameters": {"type": "object", "properties": {}}}
    return tool


def _text(content: Any) -> str:
    """Message content as text: a string, None, or a list of ``{"type": "text", "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


def _chat_message(message: Any, where: str) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise MalformedRecordError(where, f"a chat message must be an object, got {message!r}")
    turn = {"role": message.get("role"), "content": _text(message.get("content"))}
    if message.get("tool_calls"):
        gold = calls_to_gold(message["tool_calls"], where)
        turn["tool_calls"] = [
            {"name": name, "arguments": {k: v[0] for k, v in args.items()}}
            for call in gold
            for name, args in call.items()
        ]
    return turn


def from_chat(record: Any, where: str) -> list[dict[str, Any]]:
    record = require_object(record, where)
    raw_messages = json_field(record, "messages", where)
    if not isinstance(raw_messages, list):
        raise MalformedRecordError(where, "'messages' must be a list of chat turns")
    raw_tools = json_field(record, "tools", where) if "tools" in record else []
    if not isinstance(raw_tools, list):
        raise MalformedRecordError(where, "'tools' must be a list")
    tools = [_chat_tool(tool, where) for tool in raw_tools]
    base_id = str(record["id"]) if "id" in record else f"chat-{where.rsplit(':', 1)[-1]}"
    samples = []
    for index, message in enumerate(raw_messages):
        if not (isinstance(message, dict) and message.get("role") == "assistant"):
            continue
        history = [_chat_message(m, where) for m in raw_messages[:index]]
        if not any(turn["role"] == "user" for turn in history):
            continue  # an assistant opening has no request to answer
        gold = calls_to_gold(message.get("tool_calls") or [], where)
        reply = _text(message.get("content"))
        samples.append(
            {
                "id": f"{base_id}-turn{index}",
                "messages": history,
                "tools": tools,
                "ground_truth": gold,
                "category": infer_category(gold, tools),
                "reference": None if gold else f"<think>No function call is needed here.</think>{reply}",
            }
        )
    if not samples:
        raise MalformedRecordError(where, "the conversation has no assistant turn after a user turn")
    return samples
