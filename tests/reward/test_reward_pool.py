"""The reward actor pool on a real local Ray cluster: order, chunking, and surviving a killed actor."""

from __future__ import annotations

import threading
import time

import pytest

from reward import render_calls, score
from reward.pool import RewardPool, RewardPoolError
from tests.support.ray_actors import kill_actor

DOC = {
    "name": "add",
    "parameters": {
        "type": "dict",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


def make_items(count: int) -> list[dict]:
    """Item i asks for add(a=i, b=1); every third completion gets b wrong, every fifth has no think block."""
    items = []
    for i in range(count):
        answer = render_calls([{"name": "add", "arguments": {"a": i, "b": 2 if i % 3 == 0 else 1}}])
        text = answer if i % 5 == 0 else f"<think>add {i} and 1</think>\n{answer}"
        items.append({"text": text, "ground_truth": [{"add": {"a": [i], "b": [1]}}], "functions": [DOC]})
    return items


def expected_rewards(items: list[dict]) -> list[float]:
    return [score(item["text"], item["ground_truth"], item["functions"]) for item in items]


def test_pool_scores_in_input_order_across_actors(ray_cluster):
    pool = RewardPool(num_actors=2, cpus_per_actor=0.25, chunk_size=7, name_prefix="reward-order")
    try:
        items = make_items(100)
        rewards = pool.score(items)
        assert rewards == expected_rewards(items)
        assert rewards[1] == 1.0 and rewards[3] == 0.0 and rewards[5] == 0.0  # the three kinds of item
        assert pool.size == 2 and pool.score([]) == []
        assert {ray_cluster.get_actor(f"reward-order-{i}") is not None for i in range(2)} == {True}
        # groups: one gold and tool list per prompt, its G texts beside them; verdicts come back [P][G]
        groups = [
            {**items[i], "texts": [item["text"] for item in items[i : i + 4]]} for i in range(0, 100, 4)
        ]
        verdicts = pool.judge_groups(groups)
        assert [len(group) for group in verdicts] == [4] * 25
        for i, group in zip(range(0, 100, 4), verdicts, strict=True):
            mates = [{**items[j], "ground_truth": items[i]["ground_truth"]} for j in range(i, i + 4)]
            assert [v.reward for v in group] == expected_rewards(mates)
            assert [v.call_syntax for v in group] == [j % 5 != 0 for j in range(i, i + 4)]
        with pytest.raises(ValueError, match=r"reward group 0 lacks key\(s\) \['texts'\]"):
            pool.judge_groups([items[0]])
    finally:
        pool.shutdown()


def test_items_are_validated_with_a_clear_message(ray_cluster):
    pool = RewardPool(num_actors=1)
    try:
        with pytest.raises(ValueError, match=r"reward item 1 lacks key\(s\) \['functions'\]"):
            pool.score([make_items(1)[0], {"text": "x", "ground_truth": []}])
    finally:
        pool.shutdown()
    with pytest.raises(ValueError, match="num_actors must be >= 1"):
        RewardPool(num_actors=0)
    first = RewardPool(num_actors=1, name_prefix="reward-taken")
    try:
        with pytest.raises(ValueError, match="'reward-taken-0' is taken"):
            RewardPool(num_actors=1, name_prefix="reward-taken")
    finally:
        first.shutdown()


def test_a_killed_actor_is_replaced_and_its_chunks_retried(ray_cluster, console):
    """Kill an actor between batches and during one: every item is scored exactly once, correctly."""
    pool = RewardPool(
        num_actors=2,
        cpus_per_actor=0.25,
        chunk_size=500,
        name_prefix="reward-kill",
        max_restarts=3,
    )
    try:
        assert pool.metrics() == {
            "pool/reward_actors": 2,
            "pool/reward_restarts": 0,
            "reward/oversize_total": 0,
        }
        items = make_items(600)
        assert pool.score(items) == expected_rewards(items)

        kill_actor(ray_cluster.get_actor("reward-kill-0"))
        assert pool.score(items) == expected_rewards(items)
        assert pool.restarts == 1
        assert ray_cluster.get_actor("reward-kill-0") is not None  # the replacement took the name
        lines = console("Reward pool:")
        assert len(lines) == 1 and lines[0].startswith("Reward pool: reward actor reward-kill-0 died (")
        assert lines[0].endswith("its unscored chunks go to a replacement (restart 1/3)")
        assert pool.metrics() == {
            "pool/reward_actors": 2,
            "pool/reward_restarts": 1,
            "reward/oversize_total": 0,
        }

        big = make_items(40_000)
        result: dict[str, list[float]] = {}
        worker = threading.Thread(target=lambda: result.setdefault("rewards", pool.score(big)))
        worker.start()
        time.sleep(0.2)  # the batch takes ~1 s on 2 cores
        assert worker.is_alive(), "the batch must still be running when the actor is killed"
        ray_cluster.kill(ray_cluster.get_actor("reward-kill-1"))
        worker.join(timeout=120)
        assert result["rewards"] == expected_rewards(big)
        assert len(result["rewards"]) == len(big)
        assert pool.restarts == 2
        lines = console("Reward pool:")
        assert len(lines) == 2 and "reward-kill-1 died" in lines[1] and "(restart 2/3)" in lines[1]
    finally:
        pool.shutdown()


def test_the_pool_gives_up_after_max_restarts(ray_cluster):
    pool = RewardPool(num_actors=1, max_restarts=0, name_prefix="reward-giveup")
    try:
        kill_actor(ray_cluster.get_actor("reward-giveup-0"))
        with pytest.raises(RewardPoolError, match=r"reward actor reward-giveup-0 died \(.*max_restarts=0"):
            pool.score(make_items(10))
    finally:
        pool.shutdown()


def test_pool_scores_hermes_answers(ray_cluster):
    pool = RewardPool(num_actors=1, fmt="hermes")
    try:
        calls = [{"name": "add", "arguments": {"a": 1, "b": 1}}]
        gold = [{"add": {"a": [1], "b": [1]}}]
        items = [
            {
                "text": f"<think>t</think>{render_calls(calls, 'hermes')}",
                "ground_truth": gold,
                "functions": [DOC],
            },
            {
                "text": f"<think>t</think>{render_calls(calls, 'python')}",
                "ground_truth": gold,
                "functions": [DOC],
            },
        ]
        assert pool.score(items) == [1.0, 0.0]
    finally:
        pool.shutdown()


def test_a_pool_the_cluster_cannot_place_fails_with_a_clear_message(ray_cluster):
    with pytest.raises(
        RewardPoolError, match="could not place the reward actors within 2 s.*lower reward.cpus_per_actor"
    ):
        RewardPool(num_actors=1, cpus_per_actor=64, start_timeout_s=2)


def test_the_pool_counts_completions_over_the_cap(ray_cluster):
    from reward.grammar import MAX_COMPLETION_CHARS

    pool = RewardPool(num_actors=1)
    try:
        items = make_items(3)
        items[1] = {**items[1], "text": items[1]["text"] + " " * MAX_COMPLETION_CHARS}
        assert pool.score(items) == [expected_rewards(items[:1])[0], 0.0, expected_rewards(items[2:])[0]]
        assert pool.metrics()["reward/oversize_total"] == 1
    finally:
        pool.shutdown()
