"""The tool-environment interface: one instance per trajectory, parsed calls in, strings out.

    env = make("bfcl", max_calls=100)      # registered by name (envs.registry)
    tools = env.reset(sample)              # fresh state for this trajectory; the tools on offer
    observations = env.step(calls)         # one string per call, in order
    env.done                               # the call budget is spent (or the env broke)
    env.close()

``calls`` come from the project's own grammar (``envs.calls.parse_calls``): names and literal
arguments, never code. ``step`` never raises for anything the model wrote: a call that cannot run
comes back as an error observation, as a tool would answer it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvCall:
    """One parsed call: ``name(*args, **kwargs)`` with literal values only."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [repr(value) for value in self.args]
        parts += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class TurnCheck:
    """The verdict on one user turn (BFCL's rules): ``ok``, else the error type and a message."""

    ok: bool
    error_type: str = ""
    message: str = ""


class ToolEnv(ABC):
    """A stateful tool backend for one trajectory at a time.

    Subclasses implement :meth:`reset` and :meth:`execute`; the call budget (``max_calls`` per
    trajectory, ``None`` for none) and ``done`` are handled here.
    """

    def __init__(self, max_calls: int | None = None) -> None:
        if max_calls is not None and max_calls < 1:
            raise ValueError(f"max_calls={max_calls}: expected a positive number of calls or None")
        self.max_calls = max_calls
        self.calls_made = 0
        self.broken = False  # set when the backend can no longer be trusted (e.g. a call timed out)

    @abstractmethod
    def reset(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        """Start a trajectory from ``sample``: fresh state, nothing kept from an earlier one.

        Returns the tools offered at the start (JSON schemas, as the prompt shows them).
        """

    @abstractmethod
    def execute(self, call: EnvCall) -> str:
        """Run one call and return its observation; errors are observations too."""

    def step(self, calls: list[EnvCall]) -> list[str]:
        """Run ``calls`` in order; each gets its observation, so one bad call does not stop the rest."""
        observations = []
        for call in calls:
            if self.done:
                observations.append(self.refusal())
                continue
            self.calls_made += 1
            observations.append(self.execute(call))
        return observations

    @property
    def done(self) -> bool:
        """No further call will run: the budget is spent or the backend broke."""
        return self.broken or (self.max_calls is not None and self.calls_made >= self.max_calls)

    def refusal(self) -> str:
        if self.broken:
            return "Error during execution: the environment stopped after an earlier failure"
        return f"Error during execution: the call budget of this task ({self.max_calls} calls) is spent"

    def begin(self) -> None:
        """Reset the budget; subclasses call it at the start of ``reset``."""
        self.calls_made = 0
        self.broken = False

    def close(self) -> None:  # noqa: B027 (optional hook: most environments hold nothing to release)
        """Release what the environment holds (nothing by default)."""
