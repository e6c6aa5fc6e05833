"""The two sides of a function-calling split: prompts that need a call and prompts that need none.

A strict binary reward can be earned on either side, and a policy can gain on one by giving up the
other (abstaining everywhere scores on the no-call side). These figures keep the sides apart, for
validation (``eval/...``) and for a step's training rollouts. They read the reward pool's verdicts:
the reward and the answer's call syntax, so nothing is parsed twice.
"""

from __future__ import annotations

from collections import defaultdict

from cluster.data.feed import Prompt
from reward.score import Verdict


def side_accuracy(prompts: list[Prompt], rewards: list[float]) -> dict[str, float]:
    """Accuracy on the prompts that need a call (``eval/call_prompts``), on those that need none
    (``eval/no_call_prompts``) and on each named slice of the split (``eval/slice/<name>``, e.g. the
    bundled validation's ``unseen_values``); a side or slice with no prompt is left out."""
    groups: dict[str, list[float]] = defaultdict(list)
    for prompt, reward in zip(prompts, rewards, strict=True):
        groups["eval/call_prompts" if prompt.sample.ground_truth else "eval/no_call_prompts"].append(reward)
        if prompt.sample.slice:
            groups[f"eval/slice/{prompt.sample.slice}"].append(reward)
    return {key: sum(values) / len(values) for key, values in sorted(groups.items())}


def call_rate(prompts: list[Prompt], verdicts: list[Verdict]) -> float | None:
    """The share of prompts that need a call (a non-empty gold) answered with a call list, right
    or wrong; None when no prompt needs one. A policy that learns to abstain everywhere scores on
    the no-call categories while this falls, which accuracy alone hides."""
    answered = [v.call_syntax for p, v in zip(prompts, verdicts, strict=True) if p.sample.ground_truth]
    return sum(answered) / len(answered) if answered else None


def call_precision(prompts: list[Prompt], verdicts: list[Verdict]) -> float | None:
    """Of the prompts that need a call answered with a call list, the share answered right; None
    when there is no such answer. Right calls = call rate x precision: a policy that only moves its
    threshold (calls more, or abstains more) changes the first factor, one that calls better the
    second."""
    right = [
        v.reward for p, v in zip(prompts, verdicts, strict=True) if p.sample.ground_truth and v.call_syntax
    ]
    return sum(right) / len(right) if right else None


def rollout_split(prompts: list[Prompt], verdicts: list[list[Verdict]]) -> dict[str, float]:
    """A step's training rollouts (one group of verdicts per prompt) split by whether the prompt
    needs a call: the mean reward of each side (``reward/call_prompts``, ``reward/no_call_prompts``)
    and ``call_rate/train``, the share of completions on call-needing prompts written as a call
    list. Shows what RL is rewarding: right calls, or abstaining where no call is due. A side with
    no prompt is left out."""
    per_prompt = [p for p, group in zip(prompts, verdicts, strict=True) for _ in group]
    flat = [v for group in verdicts for v in group]
    need = [v.reward for p, v in zip(per_prompt, flat, strict=True) if p.sample.ground_truth]
    skip = [v.reward for p, v in zip(per_prompt, flat, strict=True) if not p.sample.ground_truth]
    out = {}
    if need:
        out["reward/call_prompts"] = sum(need) / len(need)
        out["call_rate/train"] = call_rate(per_prompt, flat)
    if skip:
        out["reward/no_call_prompts"] = sum(skip) / len(skip)
    return out
