"""Run parsed calls against an allow-list of bound methods; results and errors become strings.

The allow-list is the public methods (no leading ``_``) of the instances the task involves; any
other name is refused without being looked up anywhere. Arguments are the literal values the
parser produced, deep-copied per call so a method cannot keep a reference into the call.
Observations are stringified as BFCL's executor does (``multi_turn_utils.execute_multi_turn_func_call``):
``str`` as is, ``dict`` as JSON (``str`` when it cannot be), anything else ``str``; an exception
becomes ``"Error during execution: <message>"``.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable
from typing import Any

from envs.base import EnvCall

ERROR_PREFIX = "Error during execution: "


class SafeExecutor:
    """Calls by name into the public methods of ``instances`` (later instances win a name clash, as in BFCL)."""

    def __init__(self, instances: list[object]) -> None:
        self.methods: dict[str, Callable[..., Any]] = {}
        for instance in instances:
            for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not name.startswith("_"):
                    self.methods[name] = method

    def __call__(self, call: EnvCall) -> str:
        method = self.methods.get(call.name)
        if method is None:  # the message Python's NameError gives, which is what BFCL's eval() returns
            return f"{ERROR_PREFIX}name '{call.name}' is not defined"
        try:
            args, kwargs = copy.deepcopy((call.args, call.kwargs))
            return observation(method(*args, **kwargs))
        except Exception as error:  # the backend's own errors, wrong arguments: an observation
            return f"{ERROR_PREFIX}{error}"


def observation(result: Any) -> str:
    """A call's result as the model reads it (BFCL's rule)."""
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except Exception:  # objects inside: fall back to str, as BFCL does
            return str(result)
    return str(result)
