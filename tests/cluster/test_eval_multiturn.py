"""BFCL multi-turn evaluation: the inference loop and its verdicts against bfcl-eval's own
multi_turn_checker, with scripted policies (no model needed) and end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

import launch
from cluster.eval.multiturn import MultiTurnRunner
from common.tokenizer import load_tokenizer
from conformance import bfcl_oracle
from envs.bfcl import MULTI_TURN, load_entries

pytestmark = pytest.mark.skipif(not bfcl_oracle.available(), reason="bfcl-eval is not installed")
NO_CALL = "<think>Nothing left to call.</think>Done."


class ScriptedPolicy:
    """Answers each entry's steps from a script, found by the entry's first question in the prompt."""

    def __init__(self, tokenizer, entries, script):
        self.tokenizer = tokenizer
        self.queues = {e["question"][0][0]["content"]: list(script(e)) for e in entries}
        self.sampled = {question: [] for question in self.queues}  # token ids handed out, per entry
        self.steps = 0

    def __call__(self, prompts, max_new_tokens):
        completions = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            (question,) = [q for q in self.queues if q in text]
            output = self.queues[question].pop(0)
            token_ids = self.tokenizer.encode(output, add_special_tokens=False) + [
                self.tokenizer.eos_token_id
            ]
            logprobs = [-0.5] * len(token_ids)
            completions.append(
                {"text": output, "token_ids": token_ids, "logprobs": logprobs, "finish_reason": "stop"}
            )
            self.sampled[question].append(token_ids)
            self.steps += 1
        return completions


def ground_truth_script(entry):
    for calls in entry["ground_truth"]:
        if calls:
            yield f"<think>Calling what the turn needs.</think>[{', '.join(calls)}]"
        yield NO_CALL


def _entries(category):
    """The first six entries of ``category`` whose first question tells them apart in any prompt."""
    entries = load_entries(category, limit=6)
    firsts = [e["question"][0][0]["content"] for e in entries]
    return [
        e for e, first in zip(entries, firsts, strict=True) if sum(first in other for other in firsts) == 1
    ]


def _run(tiny_model_dir, script):
    """Every category's entries played by the scripted policy, then scored by bfcl-eval too."""
    from cluster.eval.multiturn import cross_check

    tokenizer = load_tokenizer(tiny_model_dir)
    all_entries, all_played, steps = [], [], 0
    sampled = {}
    for category in MULTI_TURN:  # categories share questions: one category at a time
        entries = _entries(category)
        policy = ScriptedPolicy(tokenizer, entries, script)
        runner = MultiTurnRunner(
            policy,
            tokenizer,
            style="compact",
            max_model_len=10**6,
            max_new_tokens=64,
            slots=4,
        )
        played = runner.run(entries)
        cross_check(played)
        all_entries += entries
        all_played += played
        steps += policy.steps
        sampled.update({t.entry["id"]: policy.sampled[t.entry["question"][0][0]["content"]] for t in played})
    for t in all_played:  # token in / token out: the sampled ids sit in the sequence exactly as sampled
        assert len(t.mask) == len(t.logprobs) == len(t.ids) - t.prompt_tokens
        tail = t.ids[t.prompt_tokens :]
        segments, start = [], None
        for i, bit in enumerate([*t.mask, 0]):
            if bit and start is None:
                start = i
            elif not bit and start is not None:
                segments.append(tail[start:i])
                assert set(t.logprobs[start:i]) == {-0.5} and not any(t.logprobs[i : i + 1])
                start = None
        assert segments == sampled[t.entry["id"]], t.entry["id"]
        assert t.model_tokens == sum(t.mask)
    return all_entries, all_played, steps


def test_a_policy_that_plays_the_ground_truth_passes_every_entry_as_bfcl_scores_it(tiny_model_dir):
    entries, played, steps = _run(tiny_model_dir, ground_truth_script)
    assert len(played) == len(entries) >= 20
    assert {t.entry["id"].rsplit("_", 1)[0] for t in played} == set(MULTI_TURN)
    for t in played:
        assert t.correct, (t.entry["id"], t.reason)
        assert t.bfcl["valid"], (t.entry["id"], t.bfcl)
        assert len(t.calls) == len(t.entry["question"])
    assert steps == sum(len(e["question"]) + sum(bool(c) for c in e["ground_truth"]) for e in entries)


def test_a_policy_that_never_calls_fails_every_entry_and_bfcl_agrees(tiny_model_dir):
    entries, played, _ = _run(tiny_model_dir, lambda entry: [NO_CALL] * 50)
    for t in played:
        assert not t.correct and "empty_turn_model_response" in t.reason
        assert t.bfcl["valid"] is False
        assert t.failed_turn == next(i for i, calls in enumerate(t.entry["ground_truth"]) if calls)


def test_a_policy_that_stops_after_the_first_turn_fails_at_the_second(tiny_model_dir):
    def first_turn_only(entry):
        scripted = list(ground_truth_script(entry))
        return scripted[: 2 if entry["ground_truth"][0] else 1] + [NO_CALL] * 50

    _, played, _ = _run(tiny_model_dir, first_turn_only)
    for t in played:
        assert t.correct is False and t.bfcl["valid"] is False
        later = [i for i, calls in enumerate(t.entry["ground_truth"]) if calls and i > 0]
        assert t.failed_turn == later[0], (t.entry["id"], t.reason)


def test_a_call_past_the_time_limit_fails_the_entry_and_is_not_handed_to_bfcl(tiny_model_dir):
    from cluster.eval.multiturn import TIMED_OUT, cross_check

    tokenizer = load_tokenizer(tiny_model_dir)
    entries = [next(e for e in load_entries("multi_turn_base") if "MathAPI" in e["involved_classes"])]
    bomb = "<think>Big.</think>[add(a=1, b=2), power(base=10, exponent=10000000000)]"
    policy = ScriptedPolicy(tokenizer, entries, lambda entry: [bomb] + [NO_CALL] * 50)
    runner = MultiTurnRunner(
        policy, tokenizer, style="compact", max_model_len=10**6, max_new_tokens=64, call_timeout_s=1.0,
    )  # fmt: skip
    (played,) = runner.run(entries)
    assert played.correct is False and TIMED_OUT in played.reason
    assert played.calls == [[["add(a=1, b=2)", "power(base=10, exponent=10000000000)"]]]
    cross = cross_check([played])
    assert cross["skipped"] == 1 and cross["agreement"] is None and played.bfcl["valid"] is None


def test_eval_multi_turn_end_to_end_on_the_tiny_model(ray_cluster, tmp_path, capsys):
    from cluster.models.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny-16k", tie_word_embeddings=False, max_position_embeddings=16384)
    status = launch.main(
        [
            "eval", "--model", str(model), "--bfcl", "multi_turn_base,multi_turn_miss_func",
            "--limit", "2", "--max-new-tokens", "16", "--cross-check", "--name", "tiny-mt",
            f"logging.runs_dir={tmp_path}", "rollout.cpus_per_worker=0.5", "reward.cpus_per_actor=0.25",
            "data.prompt_style=compact", "model.max_model_len=12288",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    folder = tmp_path / "tiny-mt" / "eval"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["kind"] == "bfcl-multi-turn"
    assert list(summary["categories"]) == ["multi_turn_base", "multi_turn_miss_func"]
    assert summary["overall"]["total"] == 4
    assert summary["cross_check"]["agreement"] == 1.0
    assert summary["aggregates"]["v3"]["multi_turn"]["missing"] == [
        "multi_turn_miss_param",
        "multi_turn_long_context",
    ]
    records = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [
        "multi_turn_base_0",
        "multi_turn_base_1",
        "multi_turn_miss_func_0",
        "multi_turn_miss_func_1",
    ]
    for record in records:  # the random model rarely writes a readable call: each turn ends on its first step
        assert record["outputs"] and record["steps"] == sum(len(turn) for turn in record["calls"])
        assert record["tokens"] >= record["prompt_tokens"] + record["model_tokens"] > record["prompt_tokens"]
    assert "BFCL v3 Multi-turn" in captured.out and "multi_turn_checker: agreement 100.0%" in captured.out
