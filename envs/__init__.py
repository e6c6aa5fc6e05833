"""Stateful tool environments for multi-turn function calling.

One environment object serves one trajectory at a time: ``reset(sample)`` gives it fresh state and
returns the tools on offer, ``step(calls)`` runs the model's parsed calls and returns one
observation string per call, ``done`` says the call budget is spent, ``close()`` releases it.
Environments are registered by name (``register``/``make``); ``"bfcl"`` serves BFCL's eight
multi-turn backends. ``IsolatedEnv`` runs any of them in a child process with a per-call time
limit. This package imports neither Ray, vLLM nor DeepSpeed.
"""

from envs.base import EnvCall, ToolEnv, TurnCheck
from envs.calls import CallSyntaxError, parse_calls
from envs.isolated import IsolatedEnv
from envs.registry import make, register, registered

__all__ = [
    "CallSyntaxError",
    "EnvCall",
    "IsolatedEnv",
    "ToolEnv",
    "TurnCheck",
    "make",
    "parse_calls",
    "register",
    "registered",
]
