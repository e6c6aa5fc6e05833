"""The elastic rollout pool with real Ray actors and vLLM workers: ``launch.py scale`` grows and
shrinks a pool between steps, newcomers sample with the current weights, a scale request is seen
in the middle of a step, a size the cluster cannot place is reported without hanging, and the
scale command's errors name what is wrong."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import pytest

from tests.support.runs import REPO_ROOT

PROMPTS = [[7 + i, 19, 31 + i, 43] for i in range(6)]


def _rollout_cfg(**fields):
    from cluster.config import RolloutConfig

    base = dict(num_workers=1, cpus_per_worker=0.25, placement_timeout_s=60, chunk_prompts=2)
    return RolloutConfig(**{**base, **fields})


def _model_cfg():
    from cluster.config import ModelConfig

    return ModelConfig(max_model_len=256)


def _weights(model_dir):
    """The model's own weights as flat buffers (what the learner would send)."""
    from transformers import AutoModelForCausalLM

    from common.flat_weights import pack

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return pack(model.state_dict().items(), 1 << 20)


def _gcs_address(ray) -> str:
    return ray.get_runtime_context().gcs_address


def _scale_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "launch.py", "scale", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _step(pool, version: int, buffers, index) -> set[str]:
    """One rollout step: generate, check the groups and the weights version, then 'train' (load
    weights as ``version``). Returns the workers that generated."""
    from cluster.roles.rollout_pool import Sampling

    groups = pool.generate(PROMPTS, Sampling(group_size=2, temperature=1.0, max_new_tokens=8, seed=version))
    assert len(groups) == len(PROMPTS), "one group per prompt"
    for prompt, group in zip(PROMPTS, groups, strict=True):
        assert len(group) == 2 and all(c["prompt_token_ids"] == prompt for c in group)
    versions = {c["policy_version"] for group in groups for c in group}
    assert versions == {pool.version}, f"a worker sampled with stale weights: {versions} vs {pool.version}"
    pool.update_weights(buffers, index, version)
    return {c["worker"] for group in groups for c in group}


@pytest.mark.slow
def test_scale_one_to_three_to_one_during_a_run(ray_cluster, tiny_model_dir):
    from cluster.roles.rollout_pool import RolloutPool
    from cluster.roles.scale import scale_command

    buffers, index = _weights(tiny_model_dir)
    pool = RolloutPool(
        str(tiny_model_dir), _model_cfg(), _rollout_cfg(), name_prefix="el-rollout", run_name="elastic-a"
    )
    address = _gcs_address(ray_cluster)
    try:
        assert _step(pool, 1, buffers, index) == {"el-rollout-0"}

        # Scaling a run that does not exist names the runs that do.
        wrong = _scale_cli("--workers", "3", "--run", "nope", "--address", address)
        assert wrong.returncode == 2
        assert "no run named 'nope'" in wrong.stderr and "elastic-a" in wrong.stderr

        # The user's command, from another process, against this cluster.
        grown = _scale_cli("--workers", "3", "--run", "elastic-a", "--address", address)
        assert grown.returncode == 0, grown.stdout + grown.stderr
        assert "rollout workers 1 now, target set to 3" in grown.stdout

        # Next step: three workers, the two newcomers with weights version 1 (checked in _step).
        used = _step(pool, 2, buffers, index)
        assert pool.size == 3 and len(used) == 3
        assert _step(pool, 3, buffers, index) == set(pool.worker_names())

        # Back to one (in-process, as the command would do when already connected).
        assert scale_command(argparse.Namespace(workers=1, run="elastic-a", address=address)) == 0
        used = _step(pool, 4, buffers, index)
        assert pool.size == 1 and used == {"el-rollout-0"}
        assert pool.metrics()["pool/rollout_workers"] == 1
        assert pool.restarts == 0
    finally:
        pool.shutdown()


@pytest.mark.slow
def test_scale_request_mid_step_and_a_size_the_cluster_cannot_place(ray_cluster, tiny_model_dir, console):
    """A newcomer asked for while a step runs joins it (with the current version); asking for more
    than the cluster can place is reported and the pool keeps running with what it has."""
    from ray.util.placement_group import placement_group, remove_placement_group

    from cluster.roles.rollout_pool import RolloutPool, Sampling

    pool = RolloutPool(
        str(tiny_model_dir),
        _model_cfg(),
        _rollout_cfg(chunk_prompts=1, placement_timeout_s=3),
        name_prefix="el-mid",
        run_name="elastic-b",
    )
    buffers, index = _weights(tiny_model_dir)
    pool.update_weights(buffers, index, 5)
    prompts = [[3 + i, 11, 13 + i] for i in range(24)]
    sampling = Sampling(group_size=2, temperature=1.0, max_new_tokens=64, seed=1)
    try:
        asker = threading.Timer(0.5, pool.set_target, args=(2,))
        asker.start()
        groups = pool.generate(prompts, sampling)
        asker.join()
        assert len(groups) == len(prompts)
        assert {c["policy_version"] for g in groups for c in g} == {5}
        # The request was acted on between chunks: the newcomer was placed and started during the
        # step (it takes chunks if it is up before they run out), and works from the next step on.
        acted = pool.size + sum(s.state in ("starting", "placing") for s in pool._slots)
        assert acted == 2, "the mid-step request was not seen before the step ended"
        groups = pool.generate(prompts[:8], sampling)
        assert pool.size == 2 and len({c["worker"] for g in groups for c in g}) == 2
        assert {c["policy_version"] for g in groups for c in g} == {5}, "the newcomer has the current weights"

        # Take every free CPU, then ask for a third worker: said, not hung.
        free = ray_cluster.available_resources().get("CPU", 0)
        hog = placement_group([{"CPU": free}]) if free > 0 else None
        if hog is not None:
            ray_cluster.get(hog.ready(), timeout=30)
        try:
            pool.set_target(3)
            t = time.monotonic()
            groups = pool.generate(prompts[:4], sampling)
            assert time.monotonic() - t < 60
            assert len(groups) == 4 and pool.size == 2
            notes = console("Rollout pool:")
            assert any("cannot place rollout worker" in n for n in notes), notes
            status = ray_cluster.get(pool.control.status.remote())
            assert status["target"] == 3 and status["pool_workers"] == 2 and status["pool_placing"] == 1
        finally:
            if hog is not None:
                remove_placement_group(hog)
        pool.set_target(2)  # the pending request is dropped, its reservation given back
        pool.generate(prompts[:2], sampling)
        assert ray_cluster.get(pool.control.status.remote())["pool_placing"] == 0
    finally:
        pool.shutdown()


def test_scale_command_errors_name_what_is_wrong(ray_cluster, capsys):
    from cluster.roles.scale import control_name, running_runs, scale_command, start_control

    address = _gcs_address(ray_cluster)

    def scale(workers: int, run: str | None) -> tuple[int, str]:
        code = scale_command(argparse.Namespace(workers=workers, run=run, address=address))
        out = capsys.readouterr()
        return code, out.out + out.err

    control = start_control("errors-run", 2, min_workers=1, max_workers=3)
    try:
        assert "errors-run" in running_runs()
        code, text = scale(5, "errors-run")
        assert code == 2 and "at most rollout.max_workers=3" in text
        code, text = scale(0, "errors-run")
        assert code == 2 and "--workers must be >= 1" in text
        code, text = scale(3, "missing")
        assert code == 2 and "no run named 'missing'" in text and "errors-run" in text
        with pytest.raises(ValueError, match="already running"):
            start_control("errors-run", 1)
        code, text = scale(3, "errors-run")
        assert code == 0 and "target set to 3" in text
        assert ray_cluster.get(control.get_target.remote()) == 3
    finally:
        ray_cluster.kill(control)
    deadline = time.monotonic() + 30
    while "errors-run" in running_runs() and time.monotonic() < deadline:
        time.sleep(0.2)
    code, text = scale(2, None)
    assert code == 2 and ("no training run is running" in text or "name one with --run" in text)

    auto = start_control("auto-run", 2, min_workers=1, max_workers=4, autoscale=True)
    try:
        code, text = scale(3, None)
        assert code == 2 and "autoscales (rollout.autoscale=true, between 1 and 4 workers)" in text
    finally:
        ray_cluster.kill(auto)
    assert control_name("x") == "egpo-control-x"


def test_scale_command_without_a_cluster_says_so(tmp_path):
    result = _scale_cli("--workers", "2", "--address", "127.0.0.1:1")
    assert result.returncode == 2
    assert (
        "cannot join the Ray cluster at --address 127.0.0.1:1: nothing answers at 127.0.0.1:1"
        in result.stderr
    )


@pytest.mark.slow
def test_autoscale_grows_when_the_cluster_has_room(ray_cluster, tiny_model_dir):
    """With rollout.autoscale the pool starts with what the cluster can place and grows, up to
    max_workers, at the first step boundary after room appears (a node joining)."""
    from ray.util.placement_group import placement_group, remove_placement_group

    from cluster.roles.rollout_pool import RolloutPool, Sampling

    cfg = _rollout_cfg(autoscale=True, min_workers=1, max_workers=2, placement_timeout_s=5)
    free = ray_cluster.available_resources().get("CPU", 0)
    hog = placement_group([{"CPU": free - cfg.cpus_per_worker}])  # room for one worker only
    ray_cluster.get(hog.ready(), timeout=30)
    pool = None
    try:
        pool = RolloutPool(
            str(tiny_model_dir), _model_cfg(), cfg, name_prefix="el-auto", run_name="elastic-c"
        )
        sampling = Sampling(group_size=2, temperature=1.0, max_new_tokens=8, seed=3)
        assert pool.size == 1 and pool.target == 1
        assert len(pool.generate(PROMPTS, sampling)) == len(PROMPTS) and pool.size == 1

        remove_placement_group(hog)  # room for more appears
        hog = None
        deadline = time.monotonic() + 30  # Ray's view of free resources follows shortly
        while (
            ray_cluster.available_resources().get("CPU", 0) < cfg.cpus_per_worker
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        groups = pool.generate(PROMPTS, sampling)
        assert len(groups) == len(PROMPTS)
        assert pool.size == 2 and pool.target == 2, "grew to max_workers, not to what the cluster could hold"
        assert len({c["worker"] for g in groups for c in g}) == 2
        assert ray_cluster.get(pool.control.status.remote())["target"] == 2
    finally:
        if hog is not None:
            remove_placement_group(hog)
        if pool is not None:
            pool.shutdown()


@pytest.mark.slow
def test_sampled_tokens_do_not_depend_on_how_many_workers_share_the_step(ray_cluster, tiny_model_dir):
    """Seeds follow a prompt's place in the step and its sample index (issue 21): the same step on
    one worker (one chunk) and on three (chunks of 2) samples the same token ids."""
    from cluster.roles.rollout_pool import RolloutPool, Sampling

    prompts = [[5 + i, 17, 29 + i, 41, 3 + i] for i in range(12)]
    sampling = Sampling(group_size=4, temperature=1.0, max_new_tokens=24, seed=11)
    tokens = {}
    for workers, chunk in ((1, 12), (3, 2)):
        pool = RolloutPool(
            str(tiny_model_dir),
            _model_cfg(),
            _rollout_cfg(num_workers=workers, chunk_prompts=chunk),
            name_prefix=f"el-seed{workers}",
            run_name=f"elastic-seed-{workers}",
        )
        try:
            groups = pool.generate(prompts, sampling)
            assert len({c["worker"] for g in groups for c in g}) == workers
            tokens[workers] = [[c["token_ids"] for c in g] for g in groups]
        finally:
            pool.shutdown()
    assert tokens[1] == tokens[3]
    assert len({tuple(t) for g in tokens[1] for t in g}) > len(prompts), "samples of a group differ"
