"""The BFCL environment against BFCL's own executor and checker (bfcl-eval, installed by install.sh)."""

from __future__ import annotations

import time

import pytest

from conformance import bfcl_oracle
from envs import EnvCall, IsolatedEnv, make
from envs.bfcl import MULTI_TURN, BfclEnv, is_long_context, load_entries, parse_ground_truth

pytestmark = pytest.mark.skipif(not bfcl_oracle.available(), reason="bfcl-eval is not installed")


def _variants(call: EnvCall, index: int) -> list[EnvCall]:
    """The call as a model might get it wrong (a missing argument, an unknown one, a wrong name), then right."""
    kwargs = dict(call.kwargs)
    if index % 3 == 0 and kwargs:
        kwargs.pop(next(iter(kwargs)))
        wrong = EnvCall(call.name, call.args, kwargs)
    elif index % 3 == 1:
        wrong = EnvCall(call.name, call.args, {**kwargs, "bogus": 1})
    else:
        wrong = EnvCall(call.name + "s", call.args, kwargs)
    return [wrong, call]


@pytest.mark.parametrize("with_mistakes", [False, True], ids=["ground-truth", "with-mistakes"])
def test_every_multi_turn_entry_replays_as_in_bfcls_own_executor(with_mistakes):
    """All 800 entries: after every turn the observations and every instance's public state equal
    those of BFCL's eval()-based executor, for the ground-truth calls alone and with wrong calls
    (missing, unknown and misnamed arguments) interleaved."""
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import _compare_instances

    env, replayed, differences = BfclEnv(), 0, []
    for category in MULTI_TURN:
        for entry in load_entries(category):
            env.reset(entry)
            key = f"parity_{with_mistakes}_{replayed}"  # BFCL keys its instances (module globals) by this
            for turn, ground_truth in enumerate(entry["ground_truth"]):
                env.next_turn()
                calls = parse_ground_truth(ground_truth)
                if with_mistakes:
                    calls = [
                        variant for i, call in enumerate(calls) for variant in _variants(call, i + replayed)
                    ]
                ours = env.step(calls)
                theirs, instances = multi_turn_utils.execute_multi_turn_func_call(
                    [str(call) for call in calls],
                    entry["initial_config"],
                    entry["involved_classes"],
                    key,
                    entry["id"],
                    long_context=is_long_context(entry),
                )
                if ours != theirs:
                    differences.append((entry["id"], turn, "observations", ours, theirs))
                for name, instance in instances.items():
                    same, diff = _compare_instances(env.instances[name], instance)
                    if not same:
                        differences.append((entry["id"], turn, name, sorted(diff)))
            for name in [name for name in vars(multi_turn_utils) if name.startswith(key + "_")]:
                del vars(multi_turn_utils)[name]
            replayed += 1
    assert replayed == 800
    assert not differences, differences[:5]


def test_ground_truth_passes_every_turn_check_and_a_skipped_turn_fails():
    for category in MULTI_TURN:
        for entry in load_entries(category, limit=25):
            env = make("bfcl")
            env.reset(entry)
            for ground_truth in entry["ground_truth"]:
                env.next_turn()
                env.step(parse_ground_truth(ground_truth))
                check = env.check_turn(ground_truth)
                assert check.ok, (entry["id"], check)

    entry = load_entries("multi_turn_base", limit=1)[0]
    env = make("bfcl")
    env.reset(entry)
    env.next_turn()  # the model does nothing in the first turn
    check = env.check_turn(entry["ground_truth"][0])
    assert not check.ok and check.error_type == "multi_turn:empty_turn_model_response"

    env.reset(entry)
    env.next_turn()
    env.step([EnvCall("pwd")])  # a call, but not the work asked for
    check = env.check_turn(entry["ground_truth"][0])
    assert not check.ok and check.error_type == "multi_turn:instance_state_mismatch"


def test_miss_func_entries_hold_functions_back_until_their_turn():
    entry = load_entries("multi_turn_miss_func", limit=1)[0]
    ((turn, names),) = entry["missed_function"].items()
    env = make("bfcl")
    offered = {doc["name"] for doc in env.reset(entry)}
    assert offered and not offered & set(names)
    revealed = [env.next_turn() for _ in range(len(entry["question"]))]
    assert [doc["name"] for doc in revealed[int(turn)]] == names
    assert all(not docs for i, docs in enumerate(revealed) if i != int(turn))


def test_two_trajectories_of_one_entry_share_no_state():
    entry = next(e for e in load_entries("multi_turn_base") if "GorillaFileSystem" in e["involved_classes"])
    first, second = make("bfcl"), make("bfcl")
    first.reset(entry)
    second.reset(entry)
    first.step([EnvCall("mkdir", (), {"dir_name": "only_in_first"})])
    assert "only_in_first" in str(first.step([EnvCall("ls")]))
    assert "only_in_first" not in str(second.step([EnvCall("ls")]))
    assert first.public_state() != second.public_state()


def test_a_call_that_runs_too_long_is_stopped_and_the_next_reset_starts_afresh():
    entry = next(e for e in load_entries("multi_turn_base") if "MathAPI" in e["involved_classes"])
    env = IsolatedEnv("bfcl", call_timeout_s=1.0)
    try:
        env.reset(entry)
        assert env.step([EnvCall("add", (), {"a": 1, "b": 2})]) == ['{"result": 3}']
        started = time.monotonic()
        power, after = env.step(
            [EnvCall("power", (), {"base": 10, "exponent": 10**10}), EnvCall("add", (1, 2))]
        )
        assert time.monotonic() - started < 10
        assert "did not finish within 1 s" in power
        assert "stopped after an earlier failure" in after and env.done
        env.reset(entry)
        assert not env.done
        assert env.step([EnvCall("add", (), {"a": 2, "b": 2})]) == ['{"result": 4}']
        assert env.call("next_turn") == []
    finally:
        env.close()
    assert env.process is None
