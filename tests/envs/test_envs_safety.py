"""Adversarial model text against the environment layer: it never raises out of the environment,
never evaluates text, and never runs anything outside the allow-list of public backend methods."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import bfcl_oracle
from envs import CallSyntaxError, EnvCall, ToolEnv, make, parse_calls, register, registered
from tests.support.runs import REPO_ROOT

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Audit events that would mean model text reached code execution, the file system, processes or the network.
FORBIDDEN_EVENTS = (
    "exec",
    "open",
    "os.",
    "subprocess.",
    "shutil.",
    "socket.",
    "ctypes.",
    "pty.",
    "webbrowser.",
)

_events: list[str] = []
_recording = threading.local()


def _audit(event: str, args: tuple) -> None:
    if getattr(_recording, "on", False) and event.startswith(FORBIDDEN_EVENTS):
        _events.append(event)


sys.addaudithook(_audit)

NAMES = [
    "add", "power", "logarithm", "mean", "cd", "ls", "cat", "mkdir", "rm", "echo", "find", "sort",  # allowed
    "_load_scenario", "__init__", "__class__", "__reduce__", "__getattribute__", "_private",  # private
    "open", "eval", "exec", "compile", "__import__", "getattr", "globals", "breakpoint", "exit", "print",
    "system", "popen", "input", "vars", "type", "object", "subprocess", "os",
]  # fmt: skip
EXPRESSIONS = [
    "__import__('os').system('touch /tmp/pwned')", "open('/etc/passwd')", "lambda: 1", "1 + 2", "2 ** 99999",
    "[x for x in ()]", "cd.__globals__", "().__class__.__bases__[0]", "f'{1}'", "x", "*[1]", "**{}", "...",
    "{1, 2}", "b'bytes'", "not True", "(yield)", "await x", "'a' * 10**9",
]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(-1e6, 1e6), st.text(max_size=12)
)
literals = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
argument = st.one_of(literals.map(repr), st.sampled_from(EXPRESSIONS))
call_text = st.builds(
    lambda name, args, kwargs: f"{name}({', '.join(args + [f'{k}={v}' for k, v in kwargs])})",
    st.sampled_from(NAMES) | st.sampled_from(["os.system", "cd.__globals__", "MathAPI.add"]),
    st.lists(argument, max_size=2),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "base", "exponent", "numbers", "folder", "file_name", "x"]), argument
        ),
        max_size=3,
    ),
)
answer_text = st.one_of(
    st.text(max_size=60),
    st.lists(call_text, max_size=4).map(lambda calls: "[" + ", ".join(calls) + "]"),
    call_text,
    st.builds(lambda a, b: a + b, call_text, st.text(max_size=10)),
)


@pytest.fixture(scope="module")
def env():
    if not bfcl_oracle.available():
        pytest.skip("bfcl-eval is not installed")
    from envs.bfcl import load_entries

    entry = next(
        e
        for e in load_entries("multi_turn_base")
        if {"MathAPI", "GorillaFileSystem"} <= set(e["involved_classes"])
    )
    env = make("bfcl")
    env.reset(entry)
    env.next_turn()
    return env


@SETTINGS
@given(text=answer_text)
def test_adversarial_text_never_raises_and_never_runs_outside_the_allow_list(env, text):
    try:
        calls = parse_calls(text)
    except CallSyntaxError:
        return
    for call in calls:  # only names and literal values come out of the parser
        assert type(call) is EnvCall and call.name.isidentifier()
    _events.clear()
    _recording.on = True
    try:
        observations = env.step(calls)
    finally:
        _recording.on = False
    assert not _events, (text, _events)
    assert len(observations) == len(calls) and all(type(o) is str for o in observations)
    for call, observation in zip(calls, observations, strict=True):
        if call.name not in env.executor.methods:
            assert observation == f"Error during execution: name '{call.name}' is not defined"
    assert all(not name.startswith("_") for name in env.executor.methods)


@SETTINGS
@given(text=st.text(max_size=200) | answer_text)
def test_the_parser_only_ever_answers_calls_or_call_syntax_error(text):
    try:
        calls = parse_calls(text)
    except CallSyntaxError:
        return
    assert all(type(call) is EnvCall for call in calls)


def test_expressions_are_refused_by_the_parser():
    for expression in EXPRESSIONS:
        with pytest.raises(CallSyntaxError):
            parse_calls(f"[add(a={expression}, b=1)]")
    with pytest.raises(CallSyntaxError):
        parse_calls("[os.system('ls')]")
    assert parse_calls("sort('a.txt', reverse=True)") == [EnvCall("sort", ("a.txt",), {"reverse": True})]


class Counter(ToolEnv):
    """The README's example of a user-defined environment, in short."""

    def reset(self, sample):
        self.begin()
        self.count = sample.get("start", 0)
        return [
            {"name": "increment", "parameters": {"type": "dict", "properties": {"by": {"type": "integer"}}}}
        ]

    def execute(self, call):
        if call.name != "increment":
            return f"Error during execution: name '{call.name}' is not defined"
        self.count += call.kwargs.get("by", 1)
        return str(self.count)


def test_user_environments_register_by_name_with_a_call_budget():
    register("counter-test")(Counter)
    assert "counter-test" in registered() and "bfcl" in registered()
    env = make("counter-test", max_calls=2)
    env.reset({"start": 5})
    assert env.step(parse_calls("[increment(by=2), increment(), increment()]")) == [
        "7",
        "8",
        "Error during execution: the call budget of this task (2 calls) is spent",
    ]
    assert env.done
    env.reset({})
    assert not env.done and env.step([EnvCall("increment")]) == ["1"]
    with pytest.raises(ValueError, match="already taken"):
        register("counter-test")(type("Other", (Counter,), {}))
    with pytest.raises(ValueError, match="unknown environment 'nope'"):
        make("nope")


def test_the_readme_multi_turn_environment_and_task_work_as_printed():
    """The README's own multi-turn environment (``# my_envs/counters.py``) and its task line: the
    task loads (its ground truth replays on the environment) and a right call passes the turn."""
    import re

    from cluster.synthetic.multiturn import check_task
    from envs.stateful import ground_truth_calls

    readme = (REPO_ROOT / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.DOTALL) if "my_envs/counters" in b]
    (task_text,) = [
        b for b in re.findall(r"```json\n(.*?)```", readme, re.DOTALL) if '"env": "counters"' in b
    ]
    exec(compile(example.replace('"counters"', '"counters-readme"'), "README.md", "exec"), {})  # noqa: S102
    task = json.loads(task_text.replace('"counters"', '"counters-readme"'))
    check_task(task)
    env = make("counters-readme")
    env.reset(task)
    env.next_turn()
    assert env.step(ground_truth_calls(task["ground_truth"][0])) == ["5"]
    assert env.check_turn(task["ground_truth"][0]).ok


def test_environment_modules_named_in_the_variable_register_in_a_fresh_process():
    """What a rollout worker or reward actor does with data.env_modules (EGPO_ENV_MODULES)."""
    code = "from envs import make; env = make('counters'); env.reset({'initial_config': {'Counters': {}}}); print(type(env).__name__)"
    env = {**os.environ, "EGPO_ENV_MODULES": "tests.support.counter_env"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "CountersEnv"
    env["EGPO_ENV_MODULES"] = "tests.support.no_such_env"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "environment module 'tests.support.no_such_env' cannot be imported" in failed.stderr


def test_the_envs_package_imports_neither_ray_vllm_nor_deepspeed():
    code = (
        "import sys, envs, envs.bfcl, envs.isolated\n"
        "heavy = [m for m in ('ray', 'vllm', 'deepspeed', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_environment_example_runs_as_printed():
    """The README's user-defined environment, run from the README itself (our own text, not model output)."""
    import re

    readme = (REPO_ROOT / "README.md").read_text()
    (example,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
        if '@register("shop")' in block
    ]
    assert len(example.splitlines()) <= 45
    namespace: dict = {}
    exec(compile(example.replace('"shop"', '"shop-readme"'), "README.md", "exec"), namespace)  # noqa: S102
    env = namespace["env"]
    assert env.step(parse_calls("[total(), add_item(name='bread'), checkout()]")) == [
        "3.10", "bread: 1 in the cart", "Error during execution: cannot checkout()"
    ]  # fmt: skip
