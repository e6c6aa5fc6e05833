"""One RL step of the driver in seconds, with fakes for the Ray roles: the rollout pool answers
from a script, the reward pool scores with the real strict reward in this process, the learner
group and the weight sync record what they are given. Pins dynamic-sampling replacement, the
staleness guard and the metric keys of a step; the whole stack runs in tests/e2e/test_loop.py."""

from __future__ import annotations

import pytest

from cluster.config import load_config
from cluster.data.feed import PromptFeed
from cluster.pipeline import RolloutPipeline
from cluster.step import rl_step, sample_and_score
from tests.support.fakes import FakeLearners, FakeRewardPool, FakeRollout, FakeWeightSync, six_prompts

G = 4


def _config(*overrides: str, per_step: int = 3):
    sizes = [f"rollout.group_size={G}", f"train.prompts_per_step={per_step}", f"learner.micro_batch_size={G}"]
    return load_config("tiny", [*sizes, *overrides])


def _step(cfg, rollout: FakeRollout, step: int = 1) -> tuple[dict, FakeLearners]:
    feed = PromptFeed(six_prompts(), cfg.train.prompts_per_step, cfg.data.shuffle_seed)
    reward_pool, learners = FakeRewardPool(), FakeLearners(rollout)
    produce = lambda s: sample_and_score(s, cfg, feed, rollout, reward_pool)  # noqa: E731
    pipeline = RolloutPipeline(produce, step, step, cfg.algorithm.max_staleness, rollout.version)
    metrics = rl_step(step, cfg, pipeline, learners, FakeWeightSync(rollout), rollout, reward_pool)
    return metrics, learners


def test_dynamic_sampling_replaces_flat_groups_with_fresh_prompts():
    cfg = _config(
        "algorithm.dynamic_sampling=true", "algorithm.dynamic_sampling_rounds=2", "rollout.logprobs=true"
    )
    rollout = FakeRollout(six_prompts(), split={0, 1, 2, 3, 4, 5})
    first = PromptFeed(six_prompts(), 3, cfg.data.shuffle_seed).batch(1)
    rollout.split = {first[0].ids[0]}  # the step's other two groups are flat
    metrics, learners = _step(cfg, rollout)
    assert rollout.asked[0] == [p.ids[0] for p in first]
    assert len(rollout.asked[1]) == 2  # round 1: two fresh prompts for the two flat groups
    assert metrics["frac_zero_std_groups_sampled"] == pytest.approx(2 / 3)
    # each round re-asks for the positions still flat; the last prompt asked at a position is trained
    expected = [p.ids[0] for p in first]
    flat_positions = [1, 2]
    for asked in rollout.asked[1:]:
        assert len(asked) == len(flat_positions)
        for position, prompt_id in zip(flat_positions, asked, strict=True):
            expected[position] = prompt_id
        flat_positions = [i for i in flat_positions if expected[i] not in rollout.split]
    assert metrics["dynamic_sampling/replaced_groups"] == sum(len(asked) for asked in rollout.asked[1:])
    batch = learners.batches[0]
    assert (batch.num_groups, batch.group_size) == (3, G)
    assert [p[0] for p in batch.prompt_ids] == expected
    assert expected[1:] != [p.ids[0] for p in first[1:]]  # this seed's draw does replace them
    assert batch.temperature == cfg.rollout.temperature and batch.staleness == 0
    for position, prompt_id in enumerate(expected):  # each group's rewards are its prompt's own
        rewards = batch.rewards[position]
        assert (len(set(rewards)) > 1) == (prompt_id in rollout.split)
        # the group's completions and the sampler's log-probs of their tokens, as the rollout gave them
        assert [len(c) for c in batch.completion_ids[position]] == [k + 2 for k in range(G)]
        assert batch.sampler_logprobs[position] == [[-0.5] * (k + 2) for k in range(G)]


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ((), False),  # synchronous: the learner's own pass gives pi_old
        (("algorithm.max_staleness=1",), True),  # stale tokens are weighted by pi_old / pi_sampler
        (("rollout.logprobs=true",), True),  # kept for the sampler-vs-learner gap
    ],
)
def test_the_rollouts_carry_sampler_logprobs_only_where_they_are_used(overrides, wanted):
    cfg = _config(*overrides)
    rollout = FakeRollout(six_prompts(), split=set())
    _, learners = _step(cfg, rollout)
    assert rollout.logprobs_asked == [wanted]
    batch = learners.batches[0]
    if wanted:
        assert batch.sampler_logprobs[0] == [[-0.5] * (k + 2) for k in range(G)]
    else:
        assert batch.sampler_logprobs is None


def test_without_dynamic_sampling_flat_groups_are_trained_as_they_are():
    cfg = _config()
    rollout = FakeRollout(six_prompts(), split=set())
    metrics, learners = _step(cfg, rollout)
    assert len(rollout.asked) == 1 and metrics["frac_zero_std_groups_sampled"] == 1.0
    assert "dynamic_sampling/replaced_groups" not in metrics
    assert learners.batches[0].rewards == [[1.0] * G] * 3  # the script answers every prompt right


def test_the_staleness_guard_refuses_rollouts_older_than_max_staleness():
    cfg = _config("algorithm.max_staleness=0")
    rollout = FakeRollout(six_prompts(), split=set(), version=1)  # workers at version 1, learner at step 4
    with pytest.raises(RuntimeError, match=r"step 4: rollouts of policy version 1 are 2 versions old"):
        _step(cfg, rollout, step=4)


def test_a_step_reports_these_metrics():
    cfg = _config(per_step=6)  # every prompt: both sides are in the step
    rollout = FakeRollout(six_prompts(), split={0, 4})
    metrics, _ = _step(cfg, rollout)
    own = set(metrics) - {"loss", "pool/rollout_restarts", "pool/reward_actors"}
    assert own == {
        "throughput/learner_tokens_per_s", "time/generate", "time/score", "time/train", "time/weight_sync",
        "time/step", "time/overhead", "frac_zero_std_groups_sampled", "reward/call_prompts",
        "call_rate/train", "reward/no_call_prompts", "reward/mean", "response_length/mean",
        "frac_truncated", "throughput/tokens_per_s", "throughput/completions_per_s", "pool/rollout_workers",
        "pool/learners", "policy_version", "policy/staleness", "data/batch_digest",
    }  # fmt: skip
    assert metrics["policy_version"] == 1 == rollout.version and metrics["policy/staleness"] == 0
    assert metrics["response_length/mean"] == pytest.approx(sum(k + 2 for k in range(G)) / G)


def test_colocated_mode_puts_the_engines_to_sleep_while_the_learner_trains():
    rollout = FakeRollout(six_prompts(), split={0, 1, 2, 3, 4, 5})
    metrics, learners = _step(_config("cluster.mode=colocated"), rollout)
    assert rollout.events == ["sleep", "wake", "push"] and learners.trained_while_asleep == [True]
    assert metrics["time/rollout_sleep"] == 0.25 and metrics["time/rollout_wake"] == 0.5
    assert metrics["memory/rollout_freed_gib"] == 3.0
    turns = metrics["time/rollout_sleep"] + metrics["time/rollout_wake"]
    named = (
        metrics["time/generate"] + metrics["time/score"] + metrics["time/train"] + metrics["time/weight_sync"]
    )
    assert metrics["time/overhead"] == pytest.approx(metrics["time/step"] - named - turns)

    separate = FakeRollout(six_prompts(), split={0, 1, 2, 3, 4, 5})
    metrics, _ = _step(_config(), separate)
    assert separate.events == ["push"] and "time/rollout_sleep" not in metrics
