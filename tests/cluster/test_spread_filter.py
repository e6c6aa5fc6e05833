"""The spread filter keeps the prompts the starting policy gets right some of the time, records its
verdicts in the run directory and reads them back on resume (the fakes for the Ray roles
of test_step.py, tests/support/fakes.py; the strict reward is the real one)."""

from __future__ import annotations

import json

import pytest

from cluster import spread_filter as spread_module
from cluster.config import load_config
from cluster.spread_filter import PARTIAL_FILE, RECORD_FILE, screening_order, spread_filter
from tests.support.fakes import FakeRewardPool, FakeRollout, six_prompts


class NeverRight(FakeRollout):
    """Every completion of the (call) prompt ids in ``never`` answers in prose: always wrong."""

    def __init__(self, prompts, split, never):
        super().__init__(prompts, split)
        self.never = never

    def _group(self, prompt_id: int, size: int, logprobs: bool = True) -> list[dict]:
        group = super()._group(prompt_id, size, logprobs)
        if prompt_id in self.never:
            group = [dict(c, text="<think>t</think>I cannot help.") for c in group]
        return group


def _cfg(*overrides: str):
    return load_config(overrides=["algorithm.spread_filter_samples=4", *overrides])


def test_off_keeps_every_prompt_and_samples_nothing(tmp_path):
    prompts = six_prompts()
    rollout = FakeRollout(prompts, split={0})
    off = load_config(overrides=["algorithm.spread_filter_samples=0"])
    kept = spread_filter(prompts, off, rollout, FakeRewardPool(), tmp_path)
    assert kept == prompts and rollout.asked == []
    assert not (tmp_path / RECORD_FILE).exists()


def test_keeps_prompts_with_spread_on_both_sides(tmp_path, console):
    prompts = six_prompts()  # ids 0-3 need a call, 4-5 need none
    rollout = NeverRight(prompts, split={1, 4}, never={2})
    kept = spread_filter(prompts, _cfg(), rollout, FakeRewardPool(), tmp_path)
    assert [p.ids[0] for p in kept] == [1, 4]
    assert sorted(x for batch in rollout.asked for x in batch) == list(range(6))
    assert not any(rollout.logprobs_asked)  # rewards are all it needs
    record = json.loads((tmp_path / RECORD_FILE).read_text())
    assert record["samples"] == 4
    expected = {1: 2, 4: 2, 2: 0}
    assert record["passes"] == {p.sample.id: expected.get(p.ids[0], 4) for p in prompts}
    assert (
        "of 6 prompts screened (4 samples each), 2 have spread (33%), 3 always right, 1 never"
        in "\n".join(console())
    )


def test_a_resumed_run_reads_the_verdicts_back(tmp_path, console):
    prompts = six_prompts()
    first = spread_filter(prompts, _cfg(), FakeRollout(prompts, split={2}), FakeRewardPool(), tmp_path)
    again = FakeRollout(prompts, split={0, 1, 2, 3})  # would keep more, were it asked
    second = spread_filter(prompts, _cfg(), again, FakeRewardPool(), tmp_path)
    assert second == first and again.asked == []
    assert "read back from" in "\n".join(console())
    third = spread_filter(
        prompts, _cfg("algorithm.spread_filter_samples=8"), again, FakeRewardPool(), tmp_path
    )
    assert third == first and again.asked == []  # the run keeps the prompts it screened
    assert console("Spread filter: the run screened with 4 samples")


def test_screens_a_seeded_prefix(tmp_path):
    prompts = six_prompts()
    rollout = FakeRollout(prompts, split=set(range(6)))
    kept = spread_filter(
        prompts, _cfg("algorithm.spread_filter_prompts=3"), rollout, FakeRewardPool(), tmp_path
    )
    screened = [x for batch in rollout.asked for x in batch]
    assert len(screened) == 3 and sorted(p.ids[0] for p in kept) == sorted(screened)
    other = FakeRollout(prompts, split=set(range(6)))
    spread_filter(
        prompts,
        _cfg("algorithm.spread_filter_prompts=3", "data.shuffle_seed=1"),
        other,
        FakeRewardPool(),
        tmp_path / "other",
    )
    assert [x for batch in other.asked for x in batch] != screened  # another seed, another prefix


def test_no_prompt_with_spread_is_a_clear_error(tmp_path):
    prompts = six_prompts()
    with pytest.raises(ValueError, match="no screened prompt has spread.*spread_filter_prompts"):
        spread_filter(prompts, _cfg(), FakeRollout(prompts, split=set()), FakeRewardPool(), tmp_path)


def test_one_sample_cannot_show_spread():
    with pytest.raises(Exception, match="spread_filter_samples=1: expected 0 .off. or at least 2"):
        load_config(overrides=["algorithm.spread_filter_samples=1"])


def test_a_stopped_screening_goes_on_from_its_last_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(spread_module, "CHUNK", 2)
    prompts = six_prompts()
    first_two = screening_order(prompts, 0)[:2]
    lines = [
        json.dumps({"ids": [p.sample.id for p in first_two], "passes": [1, 3]}),
        '{"ids": ["torn',  # the line being written when the run stopped
    ]
    (tmp_path / PARTIAL_FILE).write_text("\n".join(lines))
    rollout = FakeRollout(prompts, split=set())  # every prompt it is asked is always right
    kept = spread_filter(prompts, _cfg(), rollout, FakeRewardPool(), tmp_path)
    asked = [x for batch in rollout.asked for x in batch]
    assert sorted(asked) == sorted(p.ids[0] for p in prompts if p not in first_two)
    assert kept == [p for p in prompts if p in first_two]  # spread only in the chunk read back
    assert not (tmp_path / PARTIAL_FILE).exists()  # the record replaces it
