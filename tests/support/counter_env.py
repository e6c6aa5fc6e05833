"""A user's own environment, as the README shows it: tally counters (``data.env_modules``)."""

from __future__ import annotations

from typing import Any

from envs import register
from envs.stateful import Backend, StatefulEnv


class Counters(Backend):
    DOCS = (
        {
            "name": "bump",
            "description": "Add to a named counter (a new one starts at 0).",
            "parameters": {
                "type": "dict",
                "properties": {"name": {"type": "string"}, "by": {"type": "integer", "default": 1}},
                "required": ["name"],
            },
        },
        {
            "name": "read",
            "description": "The value of a counter.",
            "parameters": {"type": "dict", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
    )

    def _load(self, config: dict[str, Any]) -> None:
        self.counts = dict(config.get("counts", {}))

    def _state(self) -> dict[str, Any]:
        return {"counts": self.counts}

    def bump(self, name: str, by: int = 1) -> int:
        self.counts[name] = self.counts.get(name, 0) + by
        return self.counts[name]

    def read(self, name: str) -> int:
        if name not in self.counts:
            raise ValueError(f"no counter {name!r}")
        return self.counts[name]


@register("counters")
class CountersEnv(StatefulEnv):
    BACKEND = Counters
    CLASS_NAME = "Counters"


def task(number: int) -> dict[str, Any]:
    """A two-turn task over the counters (what a user's own data would hold)."""
    name = ("apples", "pears", "plums")[number % 3]
    return {
        "id": f"counters_{number}",
        "env": "counters",
        "involved_classes": ["Counters"],
        "initial_config": {"Counters": {"counts": {name: number}}},
        "question": [
            [{"role": "user", "content": f"Add {number % 4 + 1} to {name}."}],
            [{"role": "user", "content": f"How many {name} now?"}],
        ],
        "ground_truth": [[f"bump(name='{name}', by={number % 4 + 1})"], [f"read(name='{name}')"]],
        "category": "multi_turn_base",
        "reference": [
            f"<think>Add to the counter.</think>[bump(name='{name}', by={number % 4 + 1})]",
            f"<think>Read the counter.</think>[read(name='{name}')]",
        ],
    }
