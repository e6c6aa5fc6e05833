"""BFCL multi-turn evaluation: BFCL's inference loop on the safe executor, token in / token out.

Per user turn the model takes steps until it answers without a call (or with text the grammar
cannot read): each step's calls run in the entry's own environment (``envs.bfcl``) and their
results come back as ``tool`` messages. A turn with more than ``STEPS_PER_TURN`` (20) steps fails
the entry, as in BFCL; a ``miss_func`` turn reveals the held-out functions with BFCL's message.
At the end of each turn BFCL's state and response checks decide; the first failed turn fails the
entry (BFCL's score is all-or-nothing per entry), so the rest is not generated.

Tokens: the prompt is rendered once; each step's sampled ids are appended as sampled, and the
tool and user messages that follow are rendered alone (the template's difference against a fixed
conversation) and appended. Nothing sampled is decoded and encoded again.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.console import say
from envs import IsolatedEnv, make
from envs.bfcl import STEPS_PER_TURN
from envs.executor import ERROR_PREFIX
from reward.prompt import function_signature, render_system_prompt
from reward.trajectory import step_calls

# BFCL's prompt-mode sentences (bfcl_eval/constants/default_prompts.py, "classic" style).
MULTI_TURN_BEHAVIOR = (
    "At each turn, you should try your best to complete the tasks requested by the user within the current "
    "turn. Continue to output functions to call until you have fulfilled the user's request to the best of "
    "your ability. Once you have no more functions to call, the system will consider the current turn "
    "complete and proceed to the next turn or task."
)
MULTI_TURN_SLOTS = 8  # conversations played at once (each a whole-context sequence in the KV cache)
REVEAL = "{functions}\nI have updated some more functions you can choose from. What about now?"
_BASE = [  # the fixed conversation the template's suffixes are measured against
    {"role": "system", "content": "S"},
    {"role": "user", "content": "U"},
    {"role": "assistant", "content": "A"},
]


class ChatTokens:
    """Token ids for the pieces of a conversation, as the chat template renders them whole."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        whole = self._ids(_BASE)
        opened = self._ids(_BASE[:2], add_generation_prompt=True) + tokenizer.encode(
            "A", add_special_tokens=False
        )
        if whole[: len(opened)] != opened:
            raise ValueError("the chat template does not render an assistant turn as prompt + content + end")
        self.base = whole
        self.turn_end = whole[len(opened) :]  # e.g. <|im_end|> "\n"

    def _ids(self, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return self._ids(messages, add_generation_prompt=True)

    def close_turn(self, sampled: list[int]) -> list[int]:
        """What the template puts after the sampled ids to end the assistant turn."""
        if self.turn_end and sampled and sampled[-1] == self.turn_end[0]:
            return self.turn_end[1:]
        return self.turn_end

    def continuation(self, messages: list[dict[str, str]]) -> list[int]:
        """``messages`` after an assistant turn, up to the next generation prompt."""
        whole = self._ids(_BASE + messages, add_generation_prompt=True)
        if whole[: len(self.base)] != self.base:
            raise ValueError("the chat template renders earlier turns differently once more follow")
        return whole[len(self.base) :]


@dataclass
class Trajectory:
    """One entry played: its tokens, the calls of each step per turn, and the verdict."""

    entry: dict[str, Any]
    ids: list[int] = field(default_factory=list)  # prompt, then every step and message after it
    mask: list[int] = field(default_factory=list)  # per token after the prompt: 1 = sampled by the model
    logprobs: list[float] = field(default_factory=list)  # ... the sampler's log-prob there (0.0 elsewhere)
    prompt_tokens: int = 0
    model_tokens: int = 0
    turn: int = 0
    steps_in_turn: int = 0
    calls: list[list[list[str]]] = field(default_factory=list)  # [turn][step] -> call strings
    outputs: list[str] = field(default_factory=list)
    turn_outputs: list[list[str]] = field(default_factory=list)  # [turn][step] -> the model's text
    turns_passed: int = 0
    env_errors: int = 0  # observations that are errors
    env_s: float = 0.0  # seconds in the environment (calls and turn checks)
    cut: bool = False  # a step hit max_new_tokens or the model length
    correct: bool | None = None
    reason: str = ""
    failed_turn: int | None = None
    bfcl: dict[str, Any] | None = None
    env: IsolatedEnv | None = None

    @property
    def finished(self) -> bool:
        return self.correct is not None

    def append(self, ids: list[int], sampled: bool = False, logprobs: list[float] | None = None) -> None:
        """Add tokens after the prompt: sampled ones keep their log-probs, the rest are masked out."""
        self.ids += ids
        self.mask += [int(sampled)] * len(ids)
        self.logprobs += list(logprobs) if logprobs else [0.0] * len(ids)
        if sampled:
            self.model_tokens += len(ids)

    def finish(self, correct: bool, reason: str = "") -> None:
        self.correct, self.reason = correct, reason
        if not correct:
            self.failed_turn = self.turn

    def record(self) -> dict[str, Any]:
        record = {
            "id": self.entry["id"],
            "category": self.entry.get("category") or self.entry["id"].rsplit("_", 1)[0],
            "correct": bool(self.correct),
            "reason": self.reason,
            "turns": len(self.entry["question"]),
            "turns_played": len(self.calls),
            "failed_turn": self.failed_turn,
            "steps": sum(len(turn) for turn in self.calls),
            "calls": self.calls,
            "outputs": self.outputs,
            "prompt_tokens": self.prompt_tokens,
            "tokens": len(self.ids),
            "model_tokens": self.model_tokens,
        }
        if self.bfcl is not None:
            record["bfcl"] = self.bfcl
        return record


def render_tools(docs: list[dict[str, Any]], style: str) -> str:
    return (
        "\n".join(function_signature(d) for d in docs)
        if style in ("compact", "signatures")
        else json.dumps(docs)
    )


def first_messages(docs: list[dict[str, Any]], entry: dict[str, Any], style: str) -> list[dict[str, str]]:
    """The conversation a multi-turn entry starts with: the system prompt offering ``docs`` (with
    BFCL's multi-turn sentence), then the first user turn."""
    system = render_system_prompt(docs, "python", style) + "\n" + MULTI_TURN_BEHAVIOR + "\n"
    return [{"role": "system", "content": system}, *entry["question"][0]]


class LocalEnv:
    """An environment in this process with ``IsolatedEnv``'s interface (``call(method, *args)``):
    for our own environments, whose calls are plain Python on small data."""

    call_timeout_s = 0.0

    def __init__(self, name: str) -> None:
        self.name, self.env = name, make(name)

    def reset(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        return self.env.reset(sample)

    def step(self, calls) -> list[str]:
        return self.env.step(calls)

    def call(self, method: str, *args: Any) -> Any:
        if method.startswith("_"):
            raise ValueError(f"{method!r} is not a method LocalEnv forwards")
        return getattr(self.env, method)(*args)

    @property
    def broken(self) -> bool:
        return self.env.broken

    def close(self) -> None:
        self.env.close()


class MultiTurnRunner:
    """Plays multi-turn entries in batches: each round, one model step for every active entry.

    ``generate(prompts, max_new_tokens) -> completions`` is the rollout pool's call (greedy for
    evaluation, sampled for training); ``slots`` entries are played at once, each in its own
    environment, named by the entry's ``env`` (default ``"bfcl"``) and made by ``env_factory``
    (default: an isolated child process with a per-call time limit).
    """

    def __init__(
        self,
        generate,
        tokenizer,
        *,
        style: str,
        max_model_len: int,
        max_new_tokens: int,
        slots: int = MULTI_TURN_SLOTS,
        call_timeout_s: float = 5.0,
        env_factory: Callable[[str], Any] | None = None,
        verbose: bool = True,
    ):
        self.generate, self.chat = generate, ChatTokens(tokenizer)
        self.style, self.max_model_len, self.max_new_tokens = style, max_model_len, max_new_tokens
        self.slots, self.call_timeout_s, self.verbose = slots, call_timeout_s, verbose
        self.env_factory = env_factory or (lambda name: IsolatedEnv(name, call_timeout_s=call_timeout_s))

    def _env_for(self, entry: dict[str, Any], free: list) -> Any:
        """A free environment of the entry's kind; another kind's is closed to make room."""
        name = entry.get("env", "bfcl")
        for index, env in enumerate(free):
            if env.name == name:
                return free.pop(index)
        free.pop().close()
        return self.env_factory(name)

    def run(self, entries: list[dict[str, Any]]) -> list[Trajectory]:
        trajectories = [Trajectory(entry) for entry in entries]
        pending, active = deque(trajectories), []
        free = [self.env_factory(e.get("env", "bfcl")) for e in entries[: min(self.slots, len(entries))]]
        done, started, rounds = 0, time.perf_counter(), 0
        try:
            while pending or active:
                while pending and free:
                    trajectory = pending.popleft()
                    trajectory.env = self._env_for(trajectory.entry, free)
                    self._start(trajectory)
                    active.append(trajectory)
                ready = [t for t in active if not t.finished]
                if ready:
                    completions = self.generate([t.ids for t in ready], self.max_new_tokens)
                    for trajectory, completion in zip(ready, completions, strict=True):
                        self._advance(trajectory, completion)
                    rounds += 1
                for trajectory in [t for t in active if t.finished]:
                    active.remove(trajectory)
                    free.append(trajectory.env)
                    trajectory.env = None
                    done += 1
                    if self.verbose and (done % 10 == 0 or done == len(trajectories)):
                        say(
                            f"multi-turn: {done}/{len(trajectories)} entries in {time.perf_counter() - started:.0f}s ({rounds} rounds)"
                        )
        finally:
            for env in free + [t.env for t in active if t.env is not None]:
                env.close()
        return trajectories

    def _start(self, t: Trajectory) -> None:
        docs = t.env.reset(t.entry)
        t.env.call("next_turn")
        t.calls.append([])
        t.turn_outputs.append([])
        t.ids = self.chat.prompt(first_messages(docs, t.entry, self.style))
        t.prompt_tokens = len(t.ids)
        self._check_room(t)

    def _check_room(self, t: Trajectory) -> None:
        if len(t.ids) + self.max_new_tokens > self.max_model_len:
            t.finish(
                False,
                f"context full: {len(t.ids)} tokens + {self.max_new_tokens} new > model.max_model_len {self.max_model_len}",
            )

    def _advance(self, t: Trajectory, completion: dict[str, Any]) -> None:
        sampled = list(completion["token_ids"])
        t.append(sampled, sampled=True, logprobs=completion.get("logprobs"))
        t.append(self.chat.close_turn(sampled))
        t.outputs.append(completion["text"])
        t.turn_outputs[t.turn].append(completion["text"])
        t.cut = t.cut or completion.get("finish_reason") == "length"
        calls = step_calls(completion["text"])
        if not calls:  # BFCL: an answer without a (readable) call ends the turn
            self._end_turn(t)
            return
        t.calls[t.turn].append([str(call) for call in calls])
        t.steps_in_turn += 1
        started = time.perf_counter()
        observations = t.env.step(calls)
        t.env_s += time.perf_counter() - started
        t.env_errors += sum(o.startswith(ERROR_PREFIX) for o in observations)
        if t.env.broken:  # the environment process was stopped: its state is gone
            t.finish(False, f"turn {t.turn}: {TIMED_OUT} ({t.env.call_timeout_s:g} s) and was stopped")
            return
        if t.steps_in_turn > STEPS_PER_TURN:
            t.finish(False, f"more than {STEPS_PER_TURN} steps in turn {t.turn} (BFCL's step limit)")
            return
        results = [
            {"role": "tool", "name": str(c), "content": o} for c, o in zip(calls, observations, strict=True)
        ]
        t.append(self.chat.continuation(results))
        self._check_room(t)

    def _end_turn(self, t: Trajectory) -> None:
        started = time.perf_counter()
        check = t.env.call("check_turn", t.entry["ground_truth"][t.turn])
        t.env_s += time.perf_counter() - started
        if not check.ok:
            t.finish(False, f"turn {t.turn}: {check.error_type}: {check.message}")
            return
        t.turns_passed += 1
        t.turn += 1
        if t.turn == len(t.entry["question"]):
            t.finish(True)
            return
        revealed = t.env.call("next_turn")
        t.calls.append([])
        t.turn_outputs.append([])
        t.steps_in_turn = 0
        messages = t.entry["question"][t.turn]
        if not messages and revealed:
            messages = [
                {"role": "user", "content": REVEAL.format(functions=render_tools(revealed, self.style))}
            ]
        t.append(self.chat.continuation(messages))
        self._check_room(t)


TIMED_OUT = "a call ran past the time limit"


_ROUND_STRIDE = 1_009  # rounds of one play: each samples with its own seed


def pool_runner(rollout, tokenizer, sampling, *, style: str, max_model_len: int, **runner) -> MultiTurnRunner:
    """A ``MultiTurnRunner`` whose steps the rollout pool samples with ``sampling`` (its
    ``group_size`` is not read: one completion per conversation and step). Each round of steps
    samples with its own seed (``seed * 1009 + round``), so the same seed replays the same play.
    ``runner``: ``MultiTurnRunner``'s other options (slots, env_factory, verbose)."""
    from dataclasses import replace

    rounds = itertools.count()

    def generate(ids: list[list[int]], max_new_tokens: int) -> list[dict[str, Any]]:
        seed = None if sampling.seed is None else sampling.seed * _ROUND_STRIDE + next(rounds)
        one = replace(sampling, group_size=1, max_new_tokens=max_new_tokens, seed=seed)
        return [group[0] for group in rollout.generate(ids, one)]

    return MultiTurnRunner(
        generate,
        tokenizer,
        style=style,
        max_model_len=max_model_len,
        max_new_tokens=sampling.max_new_tokens,
        **runner,
    )


def bfcl_multi_turn_verdict(t: Trajectory) -> dict[str, Any]:
    """bfcl-eval's own ``multi_turn_checker`` (its eval()-based executor) on the calls we played.

    ``{"valid": True/False, "error_type"}``, or ``valid: None`` when not handed to it: a trajectory
    stopped because a call ran past the time limit (BFCL's executor has none and would hang on it).
    Turns not played (after a failed one) count as empty, and an entry stopped at the step limit
    fails as BFCL's runner fails it (its turn count no longer matches). A call whose name is not a
    public method of the entry's backends becomes an undefined name first, which BFCL answers with
    the same NameError, so model text naming a builtin (``open``, ``__import__``) never reaches its eval.
    """
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    from envs.bfcl import allowed_names

    if TIMED_OUT in t.reason:
        return {"valid": None, "error_type": f"not checked: {TIMED_OUT}"}
    if t.reason.startswith("more than"):
        return {"valid": False, "error_type": "multi_turn:force_terminated"}
    allowed = allowed_names(t.entry)
    decoded = [
        [
            [call if call.split("(", 1)[0] in allowed else "egpo_refused_name()" for call in step]
            for step in turn
        ]
        for turn in t.calls
    ]
    decoded += [[] for _ in range(len(t.entry["ground_truth"]) - len(decoded))]
    model = f"egpo_cross_check_{id(t)}"
    try:
        result = multi_turn_checker(
            decoded, t.entry["ground_truth"], t.entry, t.entry["id"].rsplit("_", 1)[0], model
        )
    except Exception as error:  # an exception inside BFCL's checker is a failure there
        result = {"valid": False, "error_type": f"checker raised {type(error).__name__}: {error}"}
    finally:
        for name in [n for n in vars(multi_turn_utils) if n.startswith(model)]:
            del vars(multi_turn_utils)[name]
    return {"valid": bool(result["valid"]), "error_type": result.get("error_type", "")}


def eval_multi_turn(config, request, tokenizer, rollout) -> dict[str, Any]:
    """``launch.py eval --bfcl multi_turn_*``: play, judge, cross-check; the summary dict."""
    from cluster.eval.bfcl import CategoryScore, aggregates
    from cluster.roles.rollout_pool import Sampling
    from envs.bfcl import load_entries

    entries = [e for category in request.categories for e in load_entries(category, request.limit)]

    runner = pool_runner(
        rollout,
        tokenizer,
        Sampling(1, request.temperature, max_new_tokens=request.max_new_tokens, seed=0, logprobs=False),
        style=config.data.prompt_style,
        max_model_len=config.model.max_model_len,
    )
    started = time.perf_counter()
    played = runner.run(entries)
    play_s = time.perf_counter() - started
    cross = None
    cross = cross_check(played) if request.cross_check else None
    request.out_dir.mkdir(parents=True, exist_ok=True)
    with open(request.out_dir / "outputs.jsonl", "w") as out:
        for t in played:
            out.write(json.dumps(t.record()) + "\n")

    def tally(items: list[Trajectory]) -> dict[str, Any]:
        correct = sum(bool(t.correct) for t in items)
        return {
            "correct": correct,
            "total": len(items),
            "accuracy": correct / len(items) if items else None,
            "call_rate": sum(any(turn for turn in t.calls) for t in items) / len(items) if items else None,
        }

    categories = {
        c: tally([t for t in played if t.entry["id"].rsplit("_", 1)[0] == c]) for c in request.categories
    }
    scores = {c: CategoryScore(s["correct"], s["total"]) for c, s in categories.items()}
    return {
        "kind": "bfcl-multi-turn",
        "format": "think+python",
        "categories": categories,
        "overall": tally(played),
        "aggregates": aggregates(scores),
        "cross_check": cross,
        "generated_tokens": sum(t.model_tokens for t in played),
        "steps": sum(len(step) for t in played for step in t.calls),
        "time_s": {"play": round(play_s, 2), "per_entry": round(play_s / len(played), 2) if played else None},
    }


def cross_check(played: list[Trajectory]) -> dict[str, Any]:
    """Every trajectory scored again by bfcl-eval's checker; agreement over those handed to it."""
    agree, skipped, disagreements = 0, 0, []
    for t in played:
        t.bfcl = bfcl_multi_turn_verdict(t)
        if t.bfcl["valid"] is None:
            skipped += 1
        elif t.bfcl["valid"] == t.correct:
            agree += 1
        else:
            disagreements.append(
                {"id": t.entry["id"], "ours": t.correct, "bfcl": t.bfcl, "our_reason": t.reason}
            )
    compared = len(played) - skipped
    return {"entries": len(played), "skipped": skipped, "agree": agree,
            "agreement": agree / compared if compared else None, "disagreements": disagreements}  # fmt: skip


def multi_turn_cross_check_line(cross: dict[str, Any]) -> str:
    pct = "n/a" if cross["agreement"] is None else f"{100 * cross['agreement']:.1f}%"
    skipped = f"; {cross['skipped']} not handed to it ({TIMED_OUT})" if cross.get("skipped") else ""
    compared = cross["entries"] - cross.get("skipped", 0)
    line = f"\nCross-check with bfcl-eval's multi_turn_checker: agreement {pct} ({cross['agree']}/{compared} entries{skipped})"
    for d in cross["disagreements"][:10]:
        line += f"\n  DISAGREE {d['id']}: ours={d['ours']} bfcl={d['bfcl']} ({d['our_reason']})"
    return line
