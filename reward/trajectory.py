"""The strict binary reward of a multi-turn trajectory: 1 only when every user turn passes its
check and every model step keeps the think-then-answer format.

The reward actor gets the task (environment name, initial state, questions, ground truth) and the
model's texts, step by step within each user turn, and replays them on a fresh environment: each
step's answer is read by the environment's call grammar (after the think block, as BFCL's Qwen
handler does) and its calls run; a step without a readable call ends the turn, which is then
checked (``check_turn``: for our own environments the ground truth replayed on a fresh instance
must leave the same state; for BFCL its state and response checks). Per-turn passes are counted
for the metrics, not rewarded.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from envs import CallSyntaxError, EnvCall, make, parse_calls
from envs.executor import ERROR_PREFIX
from reward.grammar import THINK_CLOSE, split_think


class TrajectoryVerdict(NamedTuple):
    """What replaying one trajectory found: the reward and what the step metrics count."""

    reward: float
    call_syntax: bool  # some step's answer was a readable call list
    turns: int  # user turns of the task
    turns_passed: int  # leading user turns that passed their check
    format_ok: bool  # every model step is <think>...</think> then an answer
    calls: int  # calls run
    env_errors: int  # observations that are errors


def answer_text(text: str) -> str:
    """The part a step's calls are read from: after the think block when there is one."""
    return text.rsplit(THINK_CLOSE, 1)[1] if THINK_CLOSE in text else text


def step_calls(text: str) -> list[EnvCall]:
    """A model step's calls; none when its answer is not a readable call list (ends the turn)."""
    try:
        return parse_calls(answer_text(text))
    except CallSyntaxError:
        return []


def think_then_answer(text: str) -> bool:
    think, answer = split_think(text)
    return think is not None and bool(answer)


def judge_trajectory(task: dict[str, Any], turns: list[list[str]]) -> TrajectoryVerdict:
    """Replay ``turns`` (the model's texts, step by step, per user turn) on a fresh environment of
    ``task`` and judge it; never raises for anything the model wrote."""
    questions = len(task["question"])
    format_ok = all(think_then_answer(text) for texts in turns for text in texts)
    passed = calls = errors = 0
    syntax = False
    env = make(task.get("env", "bfcl"))
    try:
        env.reset(task)
        for turn, texts in enumerate(turns[:questions]):
            env.next_turn()
            ended = False
            for text in texts:
                parsed = step_calls(text)
                if not parsed:
                    ended = True
                    break
                syntax = True
                observations = env.step(parsed)
                calls += len(parsed)
                errors += sum(o.startswith(ERROR_PREFIX) for o in observations)
            if not ended or not env.check_turn(task["ground_truth"][turn]).ok:
                break
            passed += 1
    finally:
        env.close()
    right = passed == questions and len(turns) == questions and format_ok
    return TrajectoryVerdict(1.0 if right else 0.0, syntax, questions, passed, format_ok, calls, errors)
