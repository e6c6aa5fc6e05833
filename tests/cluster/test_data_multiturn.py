"""The multi-turn task generator over our own environments (cluster.synthetic.multiturn)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache

import pytest

from cluster.synthetic.multiturn import (
    CATEGORIES,
    POOLS,
    UNSEEN_VALUES,
    check_task,
    generate_split,
    load_tasks,
    main,
    phrasing_patterns,
)
from envs import make, parse_calls
from envs.stateful import replay_ground_truth

THINK = re.compile(r"^<think>[^<]+</think>(.+)$", re.S)


@cache
def tasks(split: str) -> tuple[dict, ...]:
    if split == "unseen":
        return tuple(generate_split("val", 100, seed=0, values="held_out"))
    return tuple(generate_split(split, 300 if split == "train" else 150, seed=0))


def held_out_values() -> list[str]:
    pools = POOLS["held_out"]
    return [*pools.folders, *pools.files, *pools.contents, *pools.products, *pools.addresses]


def user_texts(task: dict) -> list[str]:
    return [message["content"] for turn in task["question"] for message in turn]


def test_same_seed_same_bytes_other_seed_other_tasks(tmp_path):
    for folder in ("a", "b"):
        main(["--seed", "3", "--train", "40", "--val", "20", "--out", str(tmp_path / folder)])
    for name in ("multiturn_train.jsonl.gz", "multiturn_val.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert generate_split("val", 20, seed=3) != generate_split("val", 20, seed=4)
    assert len(load_tasks(tmp_path / "a" / "multiturn_train.jsonl.gz")) == 40


def test_no_validation_phrasing_occurs_in_training():
    val_only = phrasing_patterns("val")
    train_patterns = phrasing_patterns("train")
    assert val_only and train_patterns
    train_texts = [text for task in tasks("train") for text in user_texts(task)]
    val_texts = [text for task in tasks("val") for text in user_texts(task)]
    assert not [text for text in train_texts if any(p.match(text) for p in val_only)]
    assert all(any(p.match(text) for p in train_patterns) for text in train_texts)
    assert all(any(p.match(text) for p in val_only) for text in val_texts)
    assert not set(train_texts) & set(val_texts)


def test_unseen_values_slice_uses_only_values_training_never_has():
    train_text = "\n".join(json.dumps(task) for task in tasks("train"))
    held = held_out_values()
    assert not [value for value in held if re.search(rf"\b{re.escape(value)}\b", train_text)]
    unseen = tasks("unseen")
    assert all(task["slice"] == UNSEEN_VALUES and task["id"].startswith("mt_val_unseen_") for task in unseen)
    assert all("slice" not in task for task in tasks("train") + tasks("val"))
    for task in unseen:
        state = task["initial_config"]
        if "Cart" in state:
            assert set(state["Cart"]["catalog"]) <= set(POOLS["held_out"].products)
        else:
            root = state["FileSystem"]["root"]
            assert set(root) <= set(held)
    with pytest.raises(ValueError):
        generate_split("train", 5, values="held_out")


@pytest.mark.parametrize("split", ["train", "val", "unseen"])
def test_every_task_replays_its_ground_truth_without_an_error(split):
    for task in tasks(split):
        replayed = replay_ground_truth(task)
        assert len(replayed) == len(task["question"]) >= 2
        assert not [o for turn in replayed for o in turn.errors], task["id"]
        check_task(task)


@pytest.mark.parametrize("split", ["train", "val", "unseen"])
def test_shape_categories_and_references(split):
    seen = set()
    for task in tasks(split):
        seen.add((task["env"], task["category"]))
        assert len(task["question"]) == len(task["ground_truth"]) == len(task["reference"])
        assert task["involved_classes"] == [next(iter(task["initial_config"]))]
        for truth, reference in zip(task["ground_truth"], task["reference"], strict=True):
            answer = THINK.match(reference).group(1)
            if truth:
                assert [str(c) for c in parse_calls(answer)] == [
                    str(c) for c in parse_calls("[" + ", ".join(truth) + "]")
                ]
            else:
                assert not answer.startswith("[")
        empty = [i for i, truth in enumerate(task["ground_truth"]) if not truth]
        if task["category"] == "multi_turn_base":
            assert not empty and "missed_function" not in task
        else:  # one turn the model cannot fulfil; the next one carries the calls
            assert len(empty) == 1 and task["ground_truth"][empty[0] + 1]
        if task["category"] == "multi_turn_miss_func":
            [(turn, [name])] = task["missed_function"].items()
            turn = int(turn)
            assert turn == empty[0] + 1 and task["question"][turn] == []
            assert name in {c.name for s in task["ground_truth"][turn] for c in parse_calls(s)}
            earlier = {
                c.name for strings in task["ground_truth"][:turn] for s in strings for c in parse_calls(s)
            }
            assert name not in earlier
            assert name not in {doc["name"] for doc in make(task["env"]).reset(task)}
        else:
            assert all(turn for turn in task["question"])
    assert seen == {(env, category) for env in ("files", "cart") for category in CATEGORIES}


def test_later_turns_depend_on_earlier_ones():
    """Played alone from the initial state, a later turn's ground truth often fails or ends elsewhere."""
    dependent = 0
    for task in tasks("train"):
        full = replay_ground_truth(task)
        for turn in range(1, len(task["ground_truth"])):
            if not task["ground_truth"][turn]:
                continue
            alone = replay_ground_truth({**task, "ground_truth": [task["ground_truth"][turn]]})[0]
            if alone.errors or alone.observations != full[turn].observations:
                dependent += 1
                break
    assert dependent >= len(tasks("train")) // 3


def test_load_tasks_refuses_a_task_whose_ground_truth_fails(tmp_path):
    good = copy.deepcopy(tasks("val")[0])
    bad = copy.deepcopy(good)
    bad["ground_truth"][0] = (
        ["read_file(name='no-such-file')"] if bad["env"] == "files" else ["remove_item(item='gold')"]
    )
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"t\.jsonl:2: .*turn 0"):
        load_tasks(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "env": "nowhere"}) + "\n")
    with pytest.raises(ValueError, match=r":2: .*unknown environment"):
        load_tasks(path)


@pytest.mark.parametrize("fmt", ["egpo", "chat"])
def test_single_turn_loaders_refuse_a_multi_turn_task_and_name_the_reader(tmp_path, fmt):
    from cluster.data import load_samples
    from cluster.data.validate import MalformedRecordError

    path = tmp_path / "mt.jsonl"
    path.write_text(json.dumps(tasks("val")[0]) + "\n")
    with pytest.raises(MalformedRecordError, match=r"mt\.jsonl:1: a multi-turn task .*load_tasks"):
        load_samples(path, fmt)
    assert load_samples(path, fmt, skip_invalid=True).samples == []
