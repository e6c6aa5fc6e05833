"""Fakes for the driver's Ray roles, as one RL step sees them: a rollout pool that answers from a
script, a reward pool that scores with the real strict reward in this process, a learner group and
a weight sync that record what they are given; and the six prompts they are scripted for."""

from __future__ import annotations

from cluster.data import load_samples
from cluster.data.feed import Prompt
from common.types import RolloutBatch
from reward import gold_to_calls, render_calls
from reward.score import judge


def six_prompts() -> list[Prompt]:
    """Six validation samples, four that need a call and two that need none; prompt ids are [i]."""
    samples = load_samples("data/val.jsonl").samples
    chosen = [s for s in samples if s.ground_truth][:4] + [s for s in samples if not s.ground_truth][:2]
    return [Prompt(sample, [i]) for i, sample in enumerate(chosen)]


class FakeRollout:
    """Answers each prompt from a script: every completion right (a flat group), or right and wrong
    in turn (a group with spread) for the prompt ids in ``split``."""

    def __init__(self, prompts: list[Prompt], split: set[int], version: int = 0):
        self.samples = {p.ids[0]: p.sample for p in prompts}
        self.split = split
        self.version = version
        self.size = 1
        self.asked: list[list[int]] = []
        self.logprobs_asked: list[bool] = []  # each call's Sampling.logprobs
        self.events: list[str] = []  # sleep, wake, push (cluster.mode=colocated), in order
        self.asleep = False

    def generate(self, ids: list[list[int]], sampling) -> list[list[dict]]:
        self.asked.append([x[0] for x in ids])
        self.logprobs_asked.append(sampling.logprobs)
        return [self._group(x[0], sampling.group_size, sampling.logprobs) for x in ids]

    def _group(self, prompt_id: int, size: int, logprobs: bool = True) -> list[dict]:
        sample = self.samples[prompt_id]
        if sample.ground_truth:
            right, wrong = render_calls(gold_to_calls(sample.ground_truth)), "No function fits."
        else:
            right, wrong = "No function fits.", "[get_time(city='Oslo')]"
        texts = [wrong if prompt_id in self.split and k % 2 else right for k in range(size)]
        return [
            {
                "text": f"<think>t</think>{text}",
                "token_ids": [5] * (k + 2),
                "logprobs": [-0.5] * (k + 2) if logprobs else [],  # as the engine leaves them
                "finish_reason": "stop",
            }  # fmt: skip
            for k, text in enumerate(texts)
        ]

    def metrics(self) -> dict[str, float]:
        return {"pool/rollout_restarts": 0}

    def sleep(self) -> dict[str, float]:
        self.events.append("sleep")
        self.asleep = True
        return {"time/rollout_sleep": 0.25, "memory/rollout_freed_gib": 3.0}

    def wake_up(self) -> dict[str, float]:
        self.events.append("wake")
        self.asleep = False
        return {"time/rollout_wake": 0.5}


class FakeRewardPool:
    """The reward pool's contract, scored in this process with the real strict reward."""

    def judge_groups(self, groups: list[dict]) -> list[list]:
        return [
            [judge(t, g["ground_truth"], g["functions"], g.get("category")) for t in g["texts"]]
            for g in groups
        ]

    def metrics(self) -> dict[str, int]:
        return {"pool/reward_actors": 1}


class FakeLearners:
    world_size = 1

    def __init__(self, rollout: FakeRollout | None = None):
        self.batches: list[RolloutBatch] = []
        self.rollout = rollout
        self.trained_while_asleep: list[bool] = []

    def train_step(self, batch: RolloutBatch) -> dict[str, float]:
        self.batches.append(batch)
        if self.rollout is not None:
            self.trained_while_asleep.append(self.rollout.asleep)
        return {"loss": 0.5, "throughput/tokens_per_s": 10.0}


class FakeWeightSync:
    def __init__(self, rollout: FakeRollout):
        self.rollout = rollout

    def push(self, version: int) -> None:
        self.rollout.events.append("push")
        self.rollout.version = version
