"""Our own small stateful environments (``"files"``, ``"cart"``) and the replay of their ground truth.

A sample is shaped as a BFCL multi-turn entry (``envs.bfcl``), plus the environment's name:

    {"id", "env": "files", "involved_classes": ["FileSystem"],
     "initial_config": {"FileSystem": {...}},          # the backend's starting state
     "question": [[{"role": "user", "content": ...}], [], ...],   # user turns ([] = a reveal turn)
     "ground_truth": [["mkdir(name='reports')", ...], [], ...],   # call strings per turn
     "missed_function": {"2": ["mv"]}}                  # optional: offered only from that turn on

A backend is a plain class: its public methods are the tools (run through ``SafeExecutor``, so
arguments are literals and a wrong call is an error observation), ``DOCS`` are their BFCL-style
docs, ``load(config)`` sets the initial state and ``state()`` returns it as plain data (what a
BFCL-style state check compares). Everything is deterministic: no clock, no randomness.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from envs.base import EnvCall, ToolEnv, TurnCheck
from envs.calls import parse_ground_truth_strings
from envs.executor import ERROR_PREFIX, SafeExecutor


class StatefulEnvError(ValueError):
    """A sample the environment cannot serve (a bug in the data, not in the model's output)."""


class Backend:
    """The tools of one environment; subclasses set ``DOCS`` and implement ``load``/``state``."""

    DOCS: ClassVar[tuple[dict[str, Any], ...]] = ()

    def _load(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError


class StatefulEnv(ToolEnv):
    """One trajectory over one backend; the driving loop calls ``next_turn`` before each user turn,
    ``step`` with each model step's calls and ``check_turn`` at the end of the turn."""

    BACKEND: ClassVar[type[Backend]]
    CLASS_NAME: ClassVar[str]

    def reset(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        self.begin()
        config = (sample.get("initial_config") or {}).get(self.CLASS_NAME)
        if not isinstance(config, dict):
            raise StatefulEnvError(
                f"sample {sample.get('id')!r}: 'initial_config' needs a {self.CLASS_NAME!r} object"
            )
        self.backend = self.BACKEND()
        self.backend._load(copy.deepcopy(config))
        self.executor = SafeExecutor([self.backend])
        self.turn = -1
        self.sample = sample
        self.truth: StatefulEnv | None = None  # the ground truth's own environment, made on first check
        self.turn_calls = 0  # calls the model made in the current turn
        held: dict[int, list[str]] = {}
        for turn, names in (sample.get("missed_function") or {}).items():
            held.setdefault(int(turn), []).extend(names)
        hidden = {name for names in held.values() for name in names}
        docs = {doc["name"]: doc for doc in self.BACKEND.DOCS}
        unknown = hidden - set(docs)
        if unknown:
            raise StatefulEnvError(f"sample {sample.get('id')!r}: missed_function names {sorted(unknown)}")
        self.held_out = {turn: [copy.deepcopy(docs[n]) for n in names] for turn, names in held.items()}
        self.offered = {name for name in docs if name not in hidden}
        return [copy.deepcopy(doc) for name, doc in docs.items() if name not in hidden]

    def next_turn(self) -> list[dict[str, Any]]:
        """Start the next user turn; returns the docs of functions first offered at this turn."""
        self.turn += 1
        self.turn_calls = 0
        revealed = self.held_out.get(self.turn, [])
        self.offered.update(doc["name"] for doc in revealed)
        return revealed

    def execute(self, call: EnvCall) -> str:
        self.turn_calls += 1
        if call.name not in self.offered:  # not offered (yet): as if the name did not exist
            return f"{ERROR_PREFIX}name '{call.name}' is not defined"
        return self.executor(call)

    def state(self) -> dict[str, Any]:
        """The backend's state as plain data, keyed by class name (BFCL's state-check shape)."""
        return {self.CLASS_NAME: copy.deepcopy(self.backend._state())}

    def check_turn(self, ground_truth: list[str]) -> TurnCheck:
        """BFCL's state check on the turn just played: the ground truth of every turn so far, replayed
        on a fresh environment from the same initial state, must leave the same state. A turn whose
        ground truth calls something fails when the model made no call in it; a turn with no
        ground-truth call (the model should ask or decline) only carries the state on, as in BFCL."""
        if self.truth is None:
            self.truth = type(self)()
            self.truth.reset(self.sample)
        self.truth.next_turn()
        self.truth.step(ground_truth_calls(ground_truth))
        if not ground_truth:
            return TurnCheck(True)
        if not self.turn_calls:
            return TurnCheck(False, "multi_turn:empty_turn_model_response", f"no call in turn {self.turn}")
        if self.state() != self.truth.state():
            return TurnCheck(
                False,
                "multi_turn:instance_state_mismatch",
                f"turn {self.turn}: the state differs from the ground truth's",
            )
        return TurnCheck(True)


# ----------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class TurnReplay:
    """One turn of the ground truth replayed: its calls' observations and the state after it."""

    observations: list[str]
    state: dict[str, Any]

    @property
    def errors(self) -> list[str]:
        return [o for o in self.observations if o.startswith(ERROR_PREFIX)]


def ground_truth_calls(strings: list[str]) -> list[EnvCall]:
    """A turn's ground-truth call strings, read by the grammar the model's calls go through."""
    return parse_ground_truth_strings(strings, StatefulEnvError)


def replay_ground_truth(sample: dict[str, Any], turns: int | None = None) -> list[TurnReplay]:
    """Play the ground truth of the first ``turns`` user turns (all by default) on a fresh
    environment from the sample's initial state; one ``TurnReplay`` per turn, in order.

    The last entry's ``state`` is what a BFCL-style state check compares a trajectory's state with
    after that turn.
    """
    from envs.registry import make

    env = make(sample["env"])
    if not isinstance(env, StatefulEnv):
        raise StatefulEnvError(f"environment {sample['env']!r} has no state to replay into")
    env.reset(sample)
    played = []
    for strings in sample["ground_truth"][:turns]:
        env.next_turn()
        observations = env.step(ground_truth_calls(strings))
        played.append(TurnReplay(observations, env.state()))
    env.close()
    return played
