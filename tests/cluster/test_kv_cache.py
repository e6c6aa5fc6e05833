"""The CPU rollout engine's KV cache is sized from the run, not from the machine's memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cluster.config import load_config
from cluster.roles.kv_cache import GIB, bytes_per_token, check_fits, plan_kv_cache, weight_bytes
from tests.support.runs import REPO_ROOT

# SmolLM2-135M's shape (config.json of HuggingFaceTB/SmolLM2-135M-Instruct)
SMOLLM2 = {
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "hidden_size": 576,
}


def test_bytes_per_token_counts_keys_and_values_of_every_layer(tmp_path, tiny_model_dir):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    assert bytes_per_token(tmp_path, "float32") == 2 * 30 * 3 * 64 * 4 == 46_080
    assert bytes_per_token(tmp_path, "bfloat16") == 23_040
    tiny = json.loads((tiny_model_dir / "config.json").read_text())
    head_dim = tiny["hidden_size"] // tiny["num_attention_heads"]
    expected = 2 * tiny["num_hidden_layers"] * tiny["num_key_value_heads"] * head_dim * 4
    assert bytes_per_token(tiny_model_dir, "float32") == expected


def test_the_plan_follows_the_run_not_the_machine(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    cfg = load_config("smollm2-cpu", [])  # 8 prompts x G=4, 96 new tokens, max_model_len 2048
    plan = plan_kv_cache(tmp_path, cfg, longest_prompt=300)
    assert (plan.sequences, plan.tokens_per_sequence) == (32, 512)  # 300 + 96, in blocks of 128
    assert plan.bytes == (32 * 512 + 128) * 46_080  # 0.71 GiB, where 0.1 of a 15 GiB node gave -0.25
    two = plan_kv_cache(
        tmp_path, load_config("smollm2-cpu", ["rollout.num_workers=2", "cluster.num_cpus=4"]), 300
    )
    assert two.sequences == 16  # a step's completions are shared among the workers
    short = plan_kv_cache(tmp_path, load_config("smollm2-cpu", ["train.prompts_per_step=1"]), 20)
    assert short.bytes == (2048 + 128) * 46_080  # never less than one max_model_len sequence
    by_hand = plan_kv_cache(tmp_path, load_config("smollm2-cpu", ["rollout.kv_cache_gib=0.5"]), 300)
    assert by_hand.by_hand and by_hand.bytes == GIB // 2


def test_a_cache_that_cannot_fit_names_the_field_to_change(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    small = plan_kv_cache(tmp_path, load_config("smollm2-cpu", ["rollout.kv_cache_gib=0.01"]), 300)
    with pytest.raises(ValueError, match=r"rollout.kv_cache_gib=0.01.*max_model_len \(2048\)"):
        check_fits(small, 2048, workers=1, weight_bytes=0, available=64 * GIB)
    plan = plan_kv_cache(tmp_path, load_config("smollm2-cpu", []), 300)
    check_fits(plan, 2048, workers=1, weight_bytes=GIB, available=2 * GIB)
    with pytest.raises(ValueError, match=r"2 worker\(s\).*train.prompts_per_step.*rollout.kv_cache_gib"):
        check_fits(plan, 2048, workers=2, weight_bytes=GIB, available=2 * GIB)


def test_weight_bytes_counts_the_checkpoint_parameters(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)  # untied: all stored
    assert weight_bytes(tiny_model_dir, "float32") == 4 * sum(p.numel() for p in model.parameters())


def test_train_stops_before_the_warm_start_when_the_cache_cannot_fit(tmp_path):
    result = subprocess.run(
        [sys.executable, "launch.py", "train", "rollout.kv_cache_gib=1e-6", f"logging.runs_dir={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "rollout.kv_cache_gib" in result.stderr and "max_model_len" in result.stderr
    assert "Warm start" not in result.stdout + result.stderr
    assert not list(tmp_path.iterdir())  # no run folder left behind


def test_a_cpu_worker_uses_the_planned_cache_whatever_the_memory_fraction(ray_cluster, tiny_model_dir):
    """gpu_memory_utilization=1e-7 fails to start on CPU (tests/actors/test_rollout_worker.py); with the cache
    sized by bytes it is not used there, and the engine samples."""
    from actors.rollout import RolloutWorker

    # One sequence of max_model_len, the least the plan gives (the case a Ray job test failed on
    # before the block vLLM keeps back was counted).
    one = [
        "model.max_model_len=512",
        "train.prompts_per_step=1",
        "rollout.group_size=2",
        "learner.micro_batch_size=2",
    ]
    cfg = load_config("tiny", one)
    plan = plan_kv_cache(tiny_model_dir, cfg, longest_prompt=3)
    assert plan.bytes == (512 + 128) * bytes_per_token(tiny_model_dir, "float32")
    worker = RolloutWorker.options(num_cpus=0.5, name="rollout-test-kv-bytes").remote(
        str(tiny_model_dir), max_model_len=512, gpu_memory_utilization=1e-7, kv_cache_memory_bytes=plan.bytes
    )
    try:
        groups = ray_cluster.get(worker.generate.remote([[1, 2, 3]], group_size=2, max_new_tokens=8, seed=0))
        assert len(groups) == 1 and len(groups[0]) == 2
    finally:
        ray_cluster.kill(worker)
