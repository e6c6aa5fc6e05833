"""Our own environments (``files``, ``cart``): state changes, error observations, hold-outs, replay."""

from __future__ import annotations

import copy

import pytest

from envs import EnvCall, make, parse_calls, registered
from envs.stateful import StatefulEnvError, replay_ground_truth

FILES_SAMPLE = {
    "id": "t",
    "env": "files",
    "initial_config": {"FileSystem": {"root": {"notes.txt": "buy milk", "old": {"a.txt": "x"}}, "cwd": "/"}},
}
CART_SAMPLE = {
    "id": "c",
    "env": "cart",
    "initial_config": {"Cart": {"catalog": {"apple": 125, "tea": 560}, "cart": {}, "orders": []}},
}


def play(env, text: str) -> list[str]:
    return env.step(parse_calls(text))


def started(name: str, sample: dict):
    env = make(name)
    tools = env.reset(copy.deepcopy(sample))
    env.next_turn()
    return env, tools


def test_both_are_registered_and_offer_bfcl_style_docs():
    assert {"files", "cart"} <= set(registered())
    for name, sample in (("files", FILES_SAMPLE), ("cart", CART_SAMPLE)):
        _, tools = started(name, sample)
        assert tools and all(set(doc) == {"name", "description", "parameters"} for doc in tools)
        assert all(doc["parameters"]["type"] == "dict" for doc in tools)


def test_files_state_changes_and_later_calls_see_them():
    env, _ = started("files", FILES_SAMPLE)
    out = play(
        env,
        "[mkdir(name='reports'), mv(source='notes.txt', destination='reports'), cd(folder='reports'), ls()]",
    )
    assert out[-1] == '{"current_directory_content": ["notes.txt"]}'
    assert play(env, "[read_file(name='notes.txt'), cd('..'), mv('old', 'older'), ls()]") == [
        '{"content": "buy milk"}',
        '{"current_working_directory": "/"}',
        "Renamed 'old' to 'older'.",
        '{"current_directory_content": ["older/", "reports/"]}',
    ]
    assert env.state() == {
        "FileSystem": {"root": {"reports": {"notes.txt": "buy milk"}, "older": {"a.txt": "x"}}, "cwd": "/"}
    }


@pytest.mark.parametrize(
    "call",
    [
        "read_file(name='missing.txt')",
        "cd(folder='nowhere')",
        "cd(folder='..')",
        "mkdir(name='old')",
        "mkdir(name='a/b')",
        "mv(source='ghost', destination='old')",
        "write_file(name='old', content='x')",
        "write_file(name='n.txt', content=5)",
        "read_file(name='old')",
        "ls(1)",
        "mkdir()",
        "mkdir(name='x', bogus=1)",
        "rm(name='notes.txt')",
        "__import__(name='os')",
    ],
)
def test_files_bad_calls_are_error_observations_and_change_nothing(call):
    env, _ = started("files", FILES_SAMPLE)
    before = env.state()
    [observation] = play(env, f"[{call}]")
    assert observation.startswith("Error during execution: ")
    assert env.state() == before


def test_cart_totals_orders_and_errors():
    env, _ = started("cart", CART_SAMPLE)
    out = play(
        env, "[add_item(item='apple', quantity=3), add_item('tea'), remove_item('apple', 1), view_cart()]"
    )
    assert out[-1] == '{"items": {"apple": 2, "tea": 1}, "total": "8.10"}'
    assert play(env, "[checkout(address='1 Main St')]") == [
        '{"order_id": 1, "items": {"apple": 2, "tea": 1}, "total": "8.10", "address": "1 Main St"}'
    ]
    assert env.state()["Cart"]["cart"] == {} and len(env.state()["Cart"]["orders"]) == 1
    before = env.state()
    for call in (
        "checkout(address='1 Main St')",  # empty cart
        "add_item(item='pear')",
        "add_item(item='apple', quantity=0)",
        "add_item(item='apple', quantity=True)",
        "add_item(item='apple', quantity=1.5)",
        "remove_item(item='tea')",
        "checkout(address='  ')",
    ):
        [observation] = play(env, f"[{call}]")
        assert observation.startswith("Error during execution: "), call
    assert env.state() == before


def test_remove_more_than_held_is_an_error():
    env, _ = started("cart", CART_SAMPLE)
    play(env, "[add_item(item='tea', quantity=2)]")
    [observation] = play(env, "[remove_item(item='tea', quantity=3)]")
    assert observation.startswith("Error during execution: ") and env.state()["Cart"]["cart"] == {"tea": 2}


def test_missed_function_is_offered_only_from_its_turn():
    sample = {**FILES_SAMPLE, "missed_function": {"1": ["mv"]}}
    env = make("files")
    tools = env.reset(sample)
    assert "mv" not in {doc["name"] for doc in tools}
    assert env.next_turn() == []
    [refused] = play(env, "[mv(source='notes.txt', destination='n.txt')]")
    assert refused == "Error during execution: name 'mv' is not defined"
    assert [doc["name"] for doc in env.next_turn()] == ["mv"]
    assert play(env, "[mv(source='notes.txt', destination='n.txt')]") == ["Renamed 'notes.txt' to 'n.txt'."]


def test_reset_starts_fresh_and_never_touches_the_sample():
    sample = copy.deepcopy(FILES_SAMPLE)
    env, _ = started("files", sample)
    play(env, "[mkdir(name='new'), write_file(name='b.txt', content='y')]")
    assert sample == FILES_SAMPLE
    env.reset(sample)
    assert env.state() == {"FileSystem": FILES_SAMPLE["initial_config"]["FileSystem"]}


def test_same_calls_give_same_observations_and_state():
    script = "[mkdir(name='r'), mv('notes.txt', 'r'), cd('r'), ls(), read_file('notes.txt'), cd('/'), ls()]"
    runs = []
    for _ in range(2):
        env, _ = started("files", FILES_SAMPLE)
        runs.append((play(env, script), env.state()))
    assert runs[0] == runs[1]


def test_a_sample_without_the_backends_state_is_refused():
    with pytest.raises(StatefulEnvError):
        make("cart").reset({"id": "x", "initial_config": {"FileSystem": {}}})


def test_call_budget_is_kept():
    env = make("cart", max_calls=1)
    env.reset(copy.deepcopy(CART_SAMPLE))
    env.next_turn()
    out = env.step([EnvCall("view_cart"), EnvCall("view_cart")])
    assert out[0].startswith("{") and "budget" in out[1]


def test_replay_returns_the_state_after_each_turn():
    sample = {
        **FILES_SAMPLE,
        "ground_truth": [
            ["mkdir(name='reports')", "mv(source='notes.txt', destination='reports')"],
            [],
            ["cd(folder='reports')", "ls()"],
        ],
    }
    replayed = replay_ground_truth(sample)
    assert [len(turn.observations) for turn in replayed] == [2, 0, 2]
    assert all(not turn.errors for turn in replayed)
    assert replayed[0].state["FileSystem"]["root"]["reports"] == {"notes.txt": "buy milk"}
    assert replayed[2].state["FileSystem"]["cwd"] == "/reports"
    assert replay_ground_truth(sample, turns=1)[-1].state == replayed[0].state
    broken = {**sample, "ground_truth": [["read_file(name='nope')"]]}
    assert replay_ground_truth(broken)[0].errors
    with pytest.raises(StatefulEnvError):
        replay_ground_truth({**sample, "ground_truth": [["os.system('x')"]]})
