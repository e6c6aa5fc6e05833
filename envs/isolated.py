"""Any registered environment in a child process, so a call that runs too long can be stopped.

A Python call cannot be interrupted from inside its own process while it sits in C code
(``MathAPI.power(base=10, exponent=10**9)`` is one big-integer power), so the environment lives in
a child process and each call waits at most ``call_timeout_s``. A call that overruns kills the
child: the observation says so, the environment is ``done`` (its state is gone), and the next
``reset`` starts a new child. The child also runs under an address-space limit. Children are
started with ``spawn`` (no copy of a parent holding threads or engines), so a script that uses
``IsolatedEnv`` needs Python's usual ``if __name__ == "__main__":`` guard (``launch.py`` has it).

    env = IsolatedEnv("bfcl", call_timeout_s=5)
    tools = env.reset(entry)
    env.call("next_turn")                    # any public method of the environment, by name
    observations = env.step(calls)
    env.close()
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection
from typing import Any

from envs.base import EnvCall, ToolEnv
from envs.executor import ERROR_PREFIX
from envs.registry import make

START_TIMEOUT_S = 120.0  # a fresh child imports the environment's backends on its first reset
_NOT_REMOTE = frozenset({"step", "begin", "close", "refusal"})


class EnvTimeout(TimeoutError):
    """The environment process did not answer in time and was stopped."""


class IsolatedEnv(ToolEnv):
    """``make(name, **options)`` in a child process; every call gets at most ``call_timeout_s`` seconds."""

    def __init__(
        self,
        name: str,
        *,
        call_timeout_s: float = 5.0,
        memory_limit_mb: int | None = 4096,
        max_calls: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(max_calls)
        if call_timeout_s <= 0:
            raise ValueError(f"call_timeout_s={call_timeout_s}: expected a positive number of seconds")
        self.name, self.options = name, options
        self.call_timeout_s = call_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def reset(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        self.begin()
        if self.process is None or not self.process.is_alive():
            self._start()
        return self._request("reset", (sample,), START_TIMEOUT_S)

    def execute(self, call: EnvCall) -> str:
        try:
            return self._request("execute", (call,), self.call_timeout_s)
        except EnvTimeout:
            self.broken = True
            return (
                f"{ERROR_PREFIX}{call.name} did not finish within {self.call_timeout_s:g} s and was stopped"
            )

    def call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """The environment's public ``method(*args)`` in the child; ``EnvTimeout`` if it overruns."""
        if method.startswith("_") or method in _NOT_REMOTE:
            raise ValueError(f"{method!r} is not a method IsolatedEnv forwards")
        if self.process is None or not self.process.is_alive():
            raise RuntimeError(f"environment {self.name!r} is not running: reset it first")
        return self._request(method, args, timeout_s or self.call_timeout_s)

    def close(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.is_alive() and self.conn is not None:
                self.conn.send(("close", ()))
                self.process.join(timeout=5)
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._stop()

    # ------------------------------------------------------------------ the child process

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the parent (threads, engines)
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, self.name, self.options, self.memory_limit_mb), daemon=True
        )
        self.process.start()
        child.close()
        self.conn = parent

    def _stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        self.process = self.conn = None

    def _request(self, method: str, args: tuple, timeout_s: float) -> Any:
        assert self.conn is not None
        self.conn.send((method, args))
        if not self.conn.poll(timeout_s):
            self._stop()
            raise EnvTimeout(f"environment {self.name!r}: {method} did not finish within {timeout_s:g} s")
        try:
            status, value = self.conn.recv()
        except EOFError:  # the child died (memory limit, a crash in a backend)
            self._stop()
            self.broken = True
            raise RuntimeError(f"environment {self.name!r} stopped during {method}") from None
        if status == "error":
            raise value
        return value


def _serve(conn: Connection, name: str, options: dict[str, Any], memory_limit_mb: int | None) -> None:
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    env = make(name, **options)
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            break
        if method == "close":
            env.close()
            break
        try:
            target = (
                getattr(env, method) if not method.startswith("_") and method not in _NOT_REMOTE else None
            )
            if not callable(target):
                raise AttributeError(f"environment {name!r} has no method {method!r}")
            reply = ("ok", target(*args))
        except Exception as error:  # the parent raises it: a bad sample, a bug in a custom env
            reply = ("error", error)
        try:
            conn.send(reply)
        except Exception as error:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"{method}: {type(error).__name__}: {error}")))
