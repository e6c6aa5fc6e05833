"""The rollout batch (common.types.RolloutBatch): its [P][G] shape is checked when it is built, it
cuts into whole groups per learner rank and it crosses a process boundary as it is."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from common.types import RolloutBatch


def batch(**changes) -> RolloutBatch:
    """Three groups of two: prompt p is [p], completion g of it [10 p + g] repeated g + 1 times."""
    fields = {
        "prompt_ids": [[0], [1], [2]],
        "completion_ids": [[[10 * p + g] * (g + 1) for g in range(2)] for p in range(3)],
        "sampler_logprobs": [[[-0.5] * (g + 1) for g in range(2)] for _ in range(3)],
        "rewards": [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]],
        "temperature": 0.7,
        "staleness": 0,
    }
    return RolloutBatch(**{**fields, **changes})


def test_the_shape_and_the_rows_group_major():
    b = batch()
    assert (b.num_groups, b.group_size, b.num_rollouts) == (3, 2, 6)
    assert b.flat_prompts() == [[0], [0], [1], [1], [2], [2]]
    assert b.flat_completions() == [[0], [1, 1], [10], [11, 11], [20], [21, 21]]
    assert b.flat_sampler_logprobs() == [[-0.5] * (k % 2 + 1) for k in range(6)]
    assert batch(sampler_logprobs=None).flat_sampler_logprobs() is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"prompt_ids": [], "completion_ids": [], "sampler_logprobs": None, "rewards": []}, "one group"),
        ({"prompt_ids": [[0], [1]]}, "one group of completions and one of rewards per prompt"),
        ({"rewards": [[1.0, 0.0], [0.0, 0.0]]}, "one group of completions and one of rewards per prompt"),
        ({"completion_ids": [[[1], [2]], [[3]], [[4], [5]]]}, r"G = 2 .* groups differing: \[1\]"),
        ({"rewards": [[1.0, 0.0], [0.0], [1.0, 1.0]]}, r"one reward per completion .*differing: \[1\]"),
        ({"sampler_logprobs": [[[-0.5], [-0.5, -0.5]]] * 2}, "token for token"),
        ({"sampler_logprobs": [[[-0.5], [-0.5]]] * 3}, r"token for token.*\(0, 1\)"),
        ({"loss_mask": [[[1], [1, 1]]] * 2}, r"loss_mask must match completion_ids token for token.*2 groups"),
        ({"loss_mask": [[[1], [1, 0, 1]]] * 3}, r"loss_mask must match completion_ids .*\(0, 1\)"),
        ({"loss_mask": [[[1], [1, 0]], [[1], [2, 1]], [[0], [1, 1]]]}, r"only 0 .* or 1 .*other values: \[\(1, 1\)\]"),
        ({"loss_mask": [[[1], [1, 0]], [[0.5], [1, 1]], [[0], [1, 1]]]}, r"only 0 .* or 1 .*\[\(1, 0\)\]"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"staleness": -1}, "staleness must be >= 0"),
    ],
    ids=["empty", "prompts", "reward groups", "uneven groups", "rewards", "sampler groups", "sampler tokens",
         "mask groups", "mask tokens", "mask value 2", "mask value 0.5", "temperature", "staleness"],
)  # fmt: skip
def test_a_batch_of_the_wrong_shape_is_refused_when_built(changes, message):
    with pytest.raises(ValueError, match=message):
        batch(**changes)


@pytest.mark.parametrize("missing", ["temperature", "staleness", "sampler_logprobs"])
def test_temperature_staleness_and_sampler_logprobs_have_no_default(missing):
    fields = {f.name: getattr(batch(), f.name) for f in dataclasses.fields(RolloutBatch)}
    del fields[missing]
    with pytest.raises(TypeError, match=missing):
        RolloutBatch(**fields)


def test_shards_hold_whole_consecutive_groups():
    b = batch(prompt_ids=[[0], [1], [2], [3]], completion_ids=batch().completion_ids + [[[30], [31, 31]]],
              sampler_logprobs=None, rewards=batch().rewards + [[0.0, 1.0]], staleness=1)  # fmt: skip
    assert b.shard(1) == [b]
    halves = b.shard(2)
    assert [h.prompt_ids for h in halves] == [[[0], [1]], [[2], [3]]]
    assert [h.rewards for h in halves] == [[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]]]
    assert [h.completion_ids for h in halves] == [b.completion_ids[:2], b.completion_ids[2:]]
    assert all(h.sampler_logprobs is None and (h.temperature, h.staleness) == (0.7, 1) for h in halves)
    assert sum((h.flat_completions() for h in b.shard(4)), []) == b.flat_completions()
    with_sampler = batch().shard(3)
    assert [s.sampler_logprobs for s in with_sampler] == [[row] for row in batch().sampler_logprobs]


def test_groups_that_do_not_split_evenly_are_refused():
    with pytest.raises(ValueError, match="3 groups do not split evenly over 2 learner ranks"):
        batch().shard(2)
    with pytest.raises(ValueError, match="into 0 parts"):
        batch().shard(0)


def test_it_is_frozen_and_pickles():
    b = batch()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.staleness = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(b)) == b


def test_a_loss_mask_is_optional_flattens_group_major_and_shards_with_its_groups():
    """Multi-turn trajectories mark their model tokens (1) apart from environment and user tokens (0);
    without a mask (the default) every completion token is the model's."""
    assert batch().loss_mask is None and batch().flat_loss_mask() is None
    masks = [[[1], [1, 0]], [[0], [1, 1]], [[1], [0, 1]]]
    b = batch(loss_mask=masks)
    assert b.flat_loss_mask() == [[1], [1, 0], [0], [1, 1], [1], [0, 1]]
    assert [s.loss_mask for s in b.shard(3)] == [[group] for group in masks]
    assert all(s.loss_mask is None for s in batch().shard(3))
    assert pickle.loads(pickle.dumps(b)) == b
