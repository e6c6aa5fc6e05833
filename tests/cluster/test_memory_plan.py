"""The memory plan checked before any work: the numbers it adds up, and the configs it refuses."""

from __future__ import annotations

import pytest

import launch
from cluster.config import load_config
from cluster.roles.memory_plan import GIB, Architecture, architecture, memory_plan

SMOLLM2 = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152, "tie_word_embeddings": True}  # fmt: skip


def test_parameter_count_and_sharding_follow_the_model_and_the_zero_stage():
    arch = Architecture.from_config(SMOLLM2)
    assert arch.parameters == 134_515_008  # SmolLM2-135M's published count
    paper, _ = architecture(load_config("qwen3-4b-paper", []))  # the shipped card: no weights needed
    assert 4.0e9 < paper.parameters < 4.05e9

    def states(stage):
        cfg = load_config("qwen3-4b-paper", [f"learner.zero_stage={stage}", "algorithm.kl_coef=0"])
        rows = dict(memory_plan(cfg).roles[0].rows)
        return [v for k, v in rows.items() if k.startswith(("parameters", "gradients", "AdamW"))]

    psi, n = paper.parameters, 16
    assert states(0) == [2 * psi, 2 * psi, 12 * psi]  # bf16 weights and grads, fp32 master + Adam
    assert states(1) == [2 * psi, 2 * psi, 12 * psi / n]
    assert states(2) == [2 * psi, 2 * psi / n, 12 * psi / n]
    assert states(3) == [2 * psi / n, 2 * psi / n, 12 * psi / n]


def test_lora_plans_states_for_the_adapters_and_no_reference_copy():
    arch = Architecture.from_config(SMOLLM2)
    # rank x (in + out) of q k v o gate up down, 30 layers: what peft adds to SmolLM2-135M at rank 8
    per_layer = (576 + 576) + 2 * (576 + 192) + (576 + 576) + 3 * (576 + 1536)
    assert arch.lora_parameters(8, "all-linear") == 30 * 8 * per_layer
    assert arch.lora_parameters(8, ["q_proj", "v_proj"]) == 30 * 8 * (576 + 576 + 576 + 192)

    full = dict(memory_plan(load_config("qwen3-4b-paper", ["learner.zero_stage=2"])).roles[0].rows)
    cfg = load_config("qwen3-4b-paper", ["learner.zero_stage=2", "learner.lora.rank=16"])
    rows = dict(memory_plan(cfg).roles[0].rows)
    trained = architecture(cfg)[0].lora_parameters(16, "all-linear")
    assert next(v for k, v in rows.items() if k.startswith("AdamW")) == 12 * trained / 16
    assert any(k.startswith("reference") for k in full) and not any(k.startswith("reference") for k in rows)
    assert sum(rows.values()) < sum(full.values()) - 10 * GIB


def test_the_paper_preset_fits_its_h200_cluster_and_not_without_checkpointing(capsys):
    assert launch.main(["plan", "--config", "qwen3-4b-paper"]) == 0
    out = capsys.readouterr().out
    assert "learner (16 processes, each)" in out and "rollout worker (16 processes, each)" in out
    assert "DOES NOT FIT" not in out

    assert launch.main(["plan", "--config", "qwen3-4b-paper", "learner.gradient_checkpointing=false"]) == 2
    out = capsys.readouterr().out
    assert "DOES NOT FIT: learner:" in out and "set learner.gradient_checkpointing=true" in out

    assert launch.main(["plan", "--config", "qwen3-4b-paper", "rollout.gpu_memory_utilization=0.06"]) == 2
    assert "raise rollout.gpu_memory_utilization" in capsys.readouterr().out


def test_checkpointing_and_a_token_budget_lower_the_activation_estimate():
    def activations(*overrides):
        rows = memory_plan(load_config("qwen3-4b-paper", list(overrides))).roles[0].rows
        return next(v for k, v in rows if k.startswith("activations"))

    kept = activations("learner.gradient_checkpointing=false", "learner.max_tokens_per_micro_batch=32768")
    saved = activations("learner.max_tokens_per_micro_batch=32768")
    assert saved < kept / 10
    assert activations("learner.max_tokens_per_micro_batch=16384") == pytest.approx(saved / 2)


def test_a_cpu_run_is_checked_against_this_machines_memory():
    cfg = load_config("smollm2-cpu", [])
    fits = memory_plan(cfg, longest_prompt=400, host_available=64 * GIB)
    assert not fits.problems and "this machine: all roles together" in fits.table()
    tight = memory_plan(cfg, longest_prompt=400, host_available=2 * GIB)
    assert tight.problems and "learner.micro_batch_size" in tight.problems[0]


def test_a_model_without_a_shape_to_read_is_named(capsys):
    assert launch.main(["plan", "--config", "tiny", "model.path=/no/such/model"]) == 2
    assert "model.path='/no/such/model'" in capsys.readouterr().out


def test_train_refuses_a_config_that_cannot_fit_before_any_work(tmp_path, capsys):
    status = launch.main(
        ["train", "--config", "tiny", "learner.max_tokens_per_micro_batch=1000000000", "data.train_limit=200",
         f"logging.runs_dir={tmp_path}", "logging.run_name=too-big"]
    )  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "does not fit in memory" in err and "learner.max_tokens_per_micro_batch" in err
    assert not (tmp_path / "too-big").exists()
