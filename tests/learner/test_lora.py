"""LoRA (learner.lora): the adapters on a tiny model, in the DeepSpeed learner actor, and end to end."""

from __future__ import annotations

import json

import pytest
import torch

from learner import lora
from tests.support.learners import build_rl_batch, make_learners
from tests.support.runs import FAST, train


def _load(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _logits(lm, ids) -> torch.Tensor:
    with torch.no_grad():
        return lm(input_ids=ids).logits


@pytest.fixture
def adapted(tiny_tied_model_dir):
    """The tiny tied model with rank-4 adapters on every linear layer, B made non-zero."""
    lm = lora.add_adapters(_load(tiny_tied_model_dir), 4, 8.0, 0.0, "all-linear")
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in lora.layers(lm):
            layer.lora_B[lora.ADAPTER].weight.normal_(std=0.05)
    return lm


@pytest.fixture(scope="module")
def rl_batch(tiny_model_dir):
    from common.tokenizer import load_tokenizer

    return build_rl_batch(load_tokenizer(tiny_model_dir))


IDS = torch.tensor([[5, 17, 42, 9, 88, 3, 61]])


def test_only_the_adapters_train_and_they_start_as_a_no_op(tiny_tied_model_dir):
    base = _load(tiny_tied_model_dir)
    lm = lora.add_adapters(_load(tiny_tied_model_dir), 4, 8.0, 0.0, "all-linear")
    trainable = [name for name, p in lm.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name for name in trainable)
    assert len(lora.layers(lm)) == 7 * base.config.num_hidden_layers  # q k v o gate up down; not the head
    assert torch.equal(_logits(lm, IDS), _logits(base, IDS))  # B = 0
    with pytest.raises(ValueError, match="learner.lora.target_modules"):
        lora.add_adapters(_load(tiny_tied_model_dir), 4, 8.0, 0.0, ["no_such_proj"])


def test_merged_weights_are_the_adapted_model_and_off_is_the_base(adapted, tiny_tied_model_dir):
    base = _load(tiny_tied_model_dir)
    assert not torch.allclose(_logits(adapted, IDS), _logits(base, IDS), atol=1e-4)
    plain = _load(tiny_tied_model_dir)
    merged = lora.merged_state_dict(adapted)
    assert set(merged) == set(plain.state_dict())  # the base model's own names: what vLLM loads
    plain.load_state_dict(merged)
    torch.testing.assert_close(_logits(plain, IDS), _logits(adapted, IDS), atol=1e-5, rtol=1e-5)
    with lora.adapters_off(adapted):
        torch.testing.assert_close(_logits(adapted, IDS), _logits(base, IDS), atol=0, rtol=0)
    assert all(p.requires_grad for n, p in adapted.named_parameters() if ".lora_" in n)  # back on


def test_merge_into_base_keeps_the_outputs_and_zeroes_the_adapters(adapted):
    before = _logits(adapted, IDS)
    lora.merge_into_base(adapted)
    torch.testing.assert_close(_logits(adapted, IDS), before, atol=1e-5, rtol=1e-5)
    assert all(not layer.lora_B[lora.ADAPTER].weight.any() for layer in lora.layers(adapted))
    with lora.adapters_off(adapted):  # the base now is the merged model: the new KL reference
        torch.testing.assert_close(_logits(adapted, IDS), before, atol=1e-5, rtol=1e-5)


def test_the_saved_adapter_loads_in_peft(adapted, tiny_tied_model_dir, tmp_path):
    from peft import PeftModel

    folder = lora.save_adapter(adapted, tmp_path, str(tiny_tied_model_dir))
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["base_model_name_or_path"] == str(tiny_tied_model_dir)
    loaded = PeftModel.from_pretrained(_load(tiny_tied_model_dir), str(folder)).eval()
    torch.testing.assert_close(_logits(loaded, IDS), _logits(adapted, IDS), atol=1e-5, rtol=1e-5)


def test_load_base_rejects_weights_of_another_model(adapted):
    weights = lora.base_state_dict(adapted)
    lora.load_base(adapted, weights)
    with pytest.raises(ValueError, match="do not fit"):
        lora.load_base(adapted, {**weights, "extra.weight": torch.zeros(1)})


# -- the learner actor ----------------------------------------------------------------------------

LORA = {"lr": 3e-3, "kl_coef": 0.01, "lora_rank": 4, "lora_alpha": 8.0}


def _resumes_to(ray_cluster, model_dir, ckpt, step: int, rl_batch, want) -> None:
    """A fresh LoRA learner loads ``ckpt``: it is at ``step`` and gives the log-probs ``want``."""
    (again,) = make_learners(model_dir, **LORA)
    assert ray_cluster.get(again.load_checkpoint.remote(str(ckpt))) == step
    got = ray_cluster.get(
        again.compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions(), 0.7)
    )
    torch.testing.assert_close(torch.tensor(got[0]), torch.tensor(want[0]), atol=1e-6, rtol=0)
    ray_cluster.kill(again)


def test_lora_learner_trains_adapters_and_keeps_the_base_as_reference(
    ray_cluster, tiny_model_dir, rl_batch, tmp_path
):
    from safetensors.torch import load_file

    (actor,) = make_learners(tiny_model_dir, **LORA)
    source = _load(tiny_model_dir).state_dict()
    prompts, completions = rl_batch.flat_prompts(), rl_batch.flat_completions()
    before = ray_cluster.get(actor.compute_logprobs.remote(prompts, completions, 0.7))
    first = ray_cluster.get(actor.train_step.remote(rl_batch))
    assert first["kl"] == pytest.approx(0.0, abs=1e-9)  # B = 0: the policy is its reference
    second = ray_cluster.get(actor.train_step.remote(rl_batch))
    assert second["kl"] > 0  # the reference stayed the base
    after = ray_cluster.get(actor.compute_logprobs.remote(prompts, completions, 0.7))
    assert sum(after[0]) > sum(before[0])  # the rewarded completion became likelier

    # Checkpoint: the merged model (what the rollout workers get) and the adapter.
    ray_cluster.get(actor.save_checkpoint.remote(str(tmp_path / "ckpt")))
    ckpt = tmp_path / "ckpt"
    assert (ckpt / "adapter" / "adapter_model.safetensors").is_file()
    merged = load_file(str(ckpt / "model.safetensors"))
    changed = {name for name, t in merged.items() if not torch.equal(t, source[name])}
    assert changed and all(name.endswith("proj.weight") for name in changed)  # only adapted layers
    (plain,) = make_learners(ckpt, kl_coef=0.0)  # the merged model, loaded as a plain one
    served = ray_cluster.get(plain.compute_logprobs.remote(prompts, completions, 0.7))
    torch.testing.assert_close(torch.tensor(served[0]), torch.tensor(after[0]), atol=1e-5, rtol=0)
    ray_cluster.kill(plain)

    # Resume: the engine state holds the adapters; the step and the policy come back.
    _resumes_to(ray_cluster, tiny_model_dir, ckpt, 2, rl_batch, after)
    ray_cluster.kill(actor)


def test_adapter_only_checkpoints_and_the_merged_reference(ray_cluster, tiny_model_dir, rl_batch, tmp_path):
    (actor,) = make_learners(tiny_model_dir, **LORA, lora_save_merged=False)
    prompts, completions = rl_batch.flat_prompts(), rl_batch.flat_completions()
    ray_cluster.get(actor.sft_step.remote({"prompt_ids": prompts, "completion_ids": completions}))
    ray_cluster.get(actor.reset_reference.remote())  # after a warm start: merged into the base
    ray_cluster.get(actor.reset_optimizer.remote())
    assert ray_cluster.get(actor.train_step.remote(rl_batch))["kl"] == pytest.approx(0.0, abs=1e-9)
    ray_cluster.get(actor.save_checkpoint.remote(str(tmp_path / "small")))
    small = tmp_path / "small"
    assert not (small / "model.safetensors").exists()  # adapter + state + the merged base only
    assert (small / "adapter" / "adapter_config.json").is_file() and (
        small / "reference.safetensors"
    ).is_file()
    want = ray_cluster.get(actor.compute_logprobs.remote(prompts, completions, 0.7))
    _resumes_to(ray_cluster, tiny_model_dir, small, 1, rl_batch, want)
    ray_cluster.kill(actor)


# -- end to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_lora_run_end_to_end(tmp_path):
    """Warm start and RL with adapters, vLLM fed the merged weights, the report and the checkpoint."""
    runs = tmp_path / "runs"
    train(
        *FAST, "learner.lora.rank=8", "learner.lr=1e-3", f"logging.runs_dir={runs}", "logging.run_name=lora"
    )
    run_dir = runs / "lora"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert all("kl" in r and "reward/mean" in r for r in records[1:])  # (the KL itself: the actor test)
    report = json.loads((run_dir / "report.json").read_text())
    assert "eval_after_detail" in report
    final = run_dir / "checkpoints" / "step-000002"
    assert (final / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((final / "adapter" / "adapter_config.json").read_text())["r"] == 8
    assert _load(final) is not None
