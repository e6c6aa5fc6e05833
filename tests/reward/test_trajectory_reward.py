"""The strict binary reward of a multi-turn trajectory, replayed on fresh environments."""

from __future__ import annotations

import pytest

from cluster.synthetic.multiturn import generate_split
from reward.trajectory import judge_trajectory, step_calls

DONE = "<think>All done.</think>Done."


@pytest.fixture(scope="module")
def tasks():
    return generate_split("train", 24, seed=0)


def perfect(task) -> list[list[str]]:
    """Each turn's reference step, then a step without a call that ends the turn."""
    return [[ref, DONE] if step_calls(ref) else [ref] for ref in task["reference"]]


def test_the_reference_play_earns_1_and_passes_every_turn(tasks):
    for task in tasks:
        verdict = judge_trajectory(task, perfect(task))
        assert verdict.reward == 1.0, (task["id"], verdict)
        assert verdict.turns_passed == verdict.turns == len(task["question"])
        assert verdict.format_ok and verdict.env_errors == 0


def test_any_flaw_earns_0(tasks):
    for task in tasks:
        turns = perfect(task)
        assert judge_trajectory(task, turns[:-1]).reward == 0.0  # a user turn not played
        no_think = [[text.split("</think>", 1)[1] for text in texts] for texts in turns]
        verdict = judge_trajectory(task, no_think)  # same calls, no think block: format fails
        assert verdict.reward == 0.0 and not verdict.format_ok
        assert verdict.turns_passed == verdict.turns  # ... though every state check passes
        cut = [texts[:1] for texts in turns]  # a turn whose last step still calls never ended
        if any(step_calls(texts[-1]) for texts in cut):
            assert judge_trajectory(task, cut).reward == 0.0


def test_a_wrong_call_fails_the_state_check_of_its_turn(tasks):
    task = next(t for t in tasks if t["env"] == "files" and t["ground_truth"][0])
    turns = perfect(task)
    turns[0] = ["<think>Make a folder.</think>[mkdir(name='zzz_unexpected')]", DONE]
    verdict = judge_trajectory(task, turns)
    assert verdict.reward == 0.0 and verdict.turns_passed == 0 and verdict.calls == 1


def test_no_call_in_a_turn_that_needs_one_fails_it(tasks):
    task = next(t for t in tasks if t["ground_truth"][0])
    turns = perfect(task)
    turns[0] = [DONE]
    verdict = judge_trajectory(task, turns)
    assert verdict.reward == 0.0 and verdict.turns_passed == 0 and not verdict.call_syntax
