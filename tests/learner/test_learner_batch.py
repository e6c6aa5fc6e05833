"""Learner plumbing without Ray: padding/index layout, micro-batch plans, lr schedule, settings."""

from __future__ import annotations

import math

import pytest
import torch

from learner.batch import (
    collate,
    collate_groups,
    pad_values,
    plan_micro_batches,
    plan_token_micro_batches,
)
from learner.engine import deepspeed_config, lr_at
from learner.settings import LearnerSettings


def test_collate_layout_predicts_each_completion_token_from_the_previous_position():
    mb = collate([[11, 12, 13], [21]], [[31, 32], [41, 42, 43, 44]], pad_id=0)
    assert mb.input_ids.tolist() == [[11, 12, 13, 31, 32], [21, 41, 42, 43, 44]]
    assert mb.targets.tolist() == [[31, 32, 0, 0], [41, 42, 43, 44]]
    assert mb.mask.int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    # row 0: token 31 (index 3) is predicted at index 2, 32 at 3; masked slots stay in range
    assert mb.positions.tolist() == [[2, 3, 4, 4], [0, 1, 2, 3]]
    for b in range(2):
        for j in range(4):
            if mb.mask[b, j]:
                assert mb.input_ids[b, mb.positions[b, j] + 1] == mb.targets[b, j]
    assert mb.num_tokens == 5 + 5


def test_collate_rejects_empty_prompts_and_mismatched_lists():
    with pytest.raises(ValueError, match="at least one token"):
        collate([[]], [[1]])
    with pytest.raises(ValueError, match="as many prompts as completions"):
        collate([[1], [2]], [[1]])


def test_micro_batches_are_length_sorted_and_cover_every_sequence_once():
    lengths = [5, 50, 7, 30, 2, 41, 9]
    plan = plan_micro_batches(lengths, micro_batch_size=3)
    assert [len(p) for p in plan] == [3, 3, 1]
    assert plan[0] == [1, 5, 3]  # the longest three together: little padding
    assert sorted(i for p in plan for i in p) == list(range(7))
    forced = plan_micro_batches(lengths[:2], micro_batch_size=3, num_micro=3)  # a rank with fewer rows
    assert forced == [[1], [0], []]
    with pytest.raises(ValueError, match="need 3 micro-batches"):
        plan_micro_batches(lengths, micro_batch_size=3, num_micro=2)


def test_pad_values():
    assert pad_values([[1.0], [2.0, 3.0]], 3).tolist() == [[1.0, 0.0, 0.0], [2.0, 3.0, 0.0]]


def test_lr_schedules():
    assert [lr_at(s, 1.0, 4, "constant", None) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_at(2, 1.0, 2, "cosine", 12) == pytest.approx(1.0)
    assert lr_at(7, 1.0, 2, "cosine", 12) == pytest.approx(0.5)
    assert lr_at(12, 1.0, 2, "cosine", 12) == pytest.approx(0.0)
    assert lr_at(7, 1.0, 2, "linear", 12) == pytest.approx(0.5)
    assert lr_at(5, 2.0, 0, "cosine", 10) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi / 2)))
    with pytest.raises(ValueError, match="needs total_steps"):
        lr_at(3, 1.0, 0, "linear", None)


def test_deepspeed_config_uses_torch_adamw_and_the_requested_stage():
    cfg = deepspeed_config(
        lr=1e-3,
        weight_decay=0.1,
        grad_clip=1.0,
        micro_batch_size=4,
        zero_stage=2,
        dtype="float32",
        world_size=2,
    )
    assert cfg["optimizer"]["params"]["torch_adam"] is True
    assert cfg["optimizer"]["params"]["betas"] == [0.9, 0.999]  # PyTorch's unless set
    assert deepspeed_config(
        lr=1e-3, weight_decay=0, grad_clip=1, adam_beta2=0.98, micro_batch_size=4, zero_stage=0,
        dtype="float32", world_size=1,
    )["optimizer"]["params"]["betas"] == [0.9, 0.98]  # fmt: skip
    assert cfg["zero_optimization"]["stage"] == 2
    assert cfg["train_batch_size"] == 8 and cfg["bf16"]["enabled"] is False


def test_settings_reject_unknown_names_and_bad_values():
    with pytest.raises(TypeError, match="unknown learner setting"):
        LearnerSettings.from_kwargs({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="alpha"):
        LearnerSettings.from_kwargs({"alpha": 1.0})
    with pytest.raises(ValueError, match="float32 on CPU"):
        LearnerSettings.from_kwargs({"dtype": "bfloat16", "backend": "gloo"})
    with pytest.raises(ValueError, match="adam_beta2"):
        LearnerSettings.from_kwargs({"adam_beta2": 1.0})
    assert LearnerSettings.from_kwargs({"lr": 0.5}).lr == 0.5


def test_a_loss_mask_keeps_every_token_in_the_sequence_and_marks_the_models():
    """A trajectory's observation tokens (loss mask 0) stay in the input and in ``mask`` (the model
    attends to them); ``loss_mask`` keeps the model's own tokens, and padding is never among them."""
    mb = collate([[11, 12], [21]], [[31, 90, 91, 32], [41, 42]], loss_masks=[[1, 0, 0, 1], [1, 1]])
    assert mb.input_ids.tolist() == [[11, 12, 31, 90, 91, 32], [21, 41, 42, 0, 0, 0]]
    assert mb.mask.int().tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert mb.loss_mask.int().tolist() == [[1, 0, 0, 1], [1, 1, 0, 0]]
    groups = collate_groups([[11], [21]], [[31, 90], [32], [41], [42, 90, 43]], 2,
                            loss_masks=[[1, 0], [1], [1], [1, 0, 1]])  # fmt: skip
    assert groups.mask.int().tolist() == [[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 1, 1]]
    assert groups.loss_mask.int().tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 1]]
    assert groups.model_inputs()["completion_mask"] is groups.mask  # attention covers every token
    assert torch.equal(collate([[1]], [[2, 3]]).loss_mask, collate([[1]], [[2, 3]]).mask)  # no mask: all
    with pytest.raises(ValueError, match="one loss-mask entry per completion token"):
        collate([[1]], [[2, 3]], loss_masks=[[1]])


def test_masked_dummy_batch_shape():
    mb = collate([[1, 2]], [[3]])
    assert mb.mask.dtype == torch.bool and mb.targets.shape == (1, 1)


def test_group_batches_hold_each_prompt_once():
    mb = collate_groups([[11, 12, 13], [21]], [[31], [32, 33], [41, 42, 43], []], group_size=2)
    assert mb.prompt_ids.tolist() == [[11, 12, 13], [21, 0, 0]]
    assert mb.prompt_lengths.tolist() == [3, 1]
    assert mb.targets.tolist() == [[31, 0, 0], [32, 33, 0], [41, 42, 43], [0, 0, 0]]
    assert mb.mask.int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]]
    assert mb.num_tokens == 4 + 6 and mb.num_slots == 6 + 12
    with pytest.raises(ValueError, match="2 completions for each of 2 prompts"):
        collate_groups([[1], [2]], [[3]], group_size=2)


def test_a_shared_prompt_gives_the_same_logits_and_gradients_as_full_sequences(tiny_model_dir):
    """CompletionHead runs a group's prompt once and its completions on the cached keys and values:
    same log-probs and gradients as the prompt + completion rows run in full."""
    from transformers import AutoModelForCausalLM

    from learner.policy import CompletionHead, token_logprobs

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    head = CompletionHead(lm)
    vocab = lm.config.vocab_size
    prompts = [torch.randint(10, vocab, (n,)).tolist() for n in (37, 21)]
    completions = [torch.randint(10, vocab, (n,)).tolist() for n in (5, 9, 1, 12, 7, 3)]
    rows = [prompts[i // 3] for i in range(6)]

    def logp_and_grads(mb):
        lm.zero_grad()
        logp = token_logprobs(head(**mb.model_inputs()), mb.targets, temperature=0.7)
        (logp * mb.mask).sum().backward()
        return logp * mb.mask, [p.grad.clone() for p in lm.parameters()]

    full, full_grads = logp_and_grads(collate(rows, completions))
    shared, shared_grads = logp_and_grads(collate_groups(prompts, completions, group_size=3))
    width = min(full.size(1), shared.size(1))
    assert torch.allclose(full[:, :width], shared[:, :width], atol=1e-5)
    for a, b in zip(full_grads, shared_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_token_budget_micro_batches_pack_longest_first_within_the_budget():
    lengths = [10, 50, 20, 40, 30, 5]
    plan = plan_token_micro_batches(lengths, max_tokens=100)
    assert sorted(i for mb in plan for i in mb) == list(range(6))
    for mb in plan:  # padded size: rows x the longest (first) length
        assert len(mb) == 1 or len(mb) * lengths[mb[0]] <= 100
        assert [lengths[i] for i in mb] == sorted((lengths[i] for i in mb), reverse=True)
    assert plan == [[1, 3], [4, 2, 0], [5]]
    assert plan_token_micro_batches([500, 3], max_tokens=100) == [[0], [1]]  # too long: alone
    assert plan_token_micro_batches(lengths, 100, rows_per_unit=2) == [[1], [3], [4], [2, 0], [5]]
    assert plan_token_micro_batches(lengths, 100, num_micro=5)[-2:] == [[], []]
    with pytest.raises(ValueError, match="need 3 micro-batches"):
        plan_token_micro_batches(lengths, 100, num_micro=2)


def test_gradient_checkpointing_recomputes_layers_and_changes_no_gradient(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from learner.policy import CompletionHead, enable_checkpointing, token_logprobs

    torch.manual_seed(0)
    vocab = AutoModelForCausalLM.from_pretrained(tiny_model_dir).config.vocab_size
    mb = collate(
        [torch.randint(10, vocab, (n,)).tolist() for n in (30, 12)],
        [torch.randint(10, vocab, (n,)).tolist() for n in (6, 9)],
    )

    def run(checkpointing):
        lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
        if checkpointing:
            enable_checkpointing(lm)
        calls, mlp = [], lm.get_decoder().layers[0].mlp
        forward = mlp.forward  # (forward hooks do not run again in a recomputation; the forward does)
        mlp.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
        logp = token_logprobs(CompletionHead(lm)(**mb.model_inputs()), mb.targets, temperature=0.7)
        (logp * mb.mask).sum().backward()
        return logp.detach(), [p.grad for p in lm.parameters()], len(calls)

    plain, plain_grads, plain_calls = run(False)
    saved, saved_grads, saved_calls = run(True)
    assert (plain_calls, saved_calls) == (1, 2)  # the layer ran again in the backward pass
    assert torch.allclose(plain, saved, atol=1e-6)
    for a, b in zip(plain_grads, saved_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_learner_settings_defaults_are_the_configs_and_every_one_comes_from_it():
    """The learner's own defaults (used where it runs without the driver) equal the config's; the
    driver builds every setting from the config by name, so a new field cannot be left behind."""
    from dataclasses import asdict

    from cluster.config import RunConfig, load_config
    from cluster.roles.learner_group import learner_settings

    built = learner_settings(RunConfig())
    defaults = asdict(LearnerSettings())
    assert built.keys() == defaults.keys()
    assert built.pop("total_steps") == RunConfig().train.steps and defaults.pop("total_steps") is None
    assert built == defaults
    changed = learner_settings(
        load_config("tiny", ["learner.lora.rank=4", "learner.lora.target_modules=[q_proj,v_proj]",
                             "algorithm.is_cap=3.0", "train.seed=7"])
    )  # fmt: skip
    assert changed["lora_rank"] == 4 and changed["lora_target_modules"] == ("q_proj", "v_proj")
    assert changed["is_cap"] == 3.0 and changed["seed"] == 7
    LearnerSettings.from_kwargs(changed)  # the learner takes them as they are
