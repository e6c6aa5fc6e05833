"""The DeepSpeed learner actor for real: Ray, DeepSpeed (gloo, fp32), a tiny Qwen2 model on CPU."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from common.types import RolloutBatch
from common.weight_group import find_free_port
from tests.support.learners import GROUP, REWARDS, build_rl_batch, grouped, make_learners


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from common.tokenizer import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def rl_batch(tokenizer):
    return build_rl_batch(tokenizer)


def with_sampler(batch: RolloutBatch, rows: list[list[float]], **changes) -> RolloutBatch:
    """``batch`` with the sampler's log-probs ``rows`` (group-major, one row per completion)."""
    return dataclasses.replace(batch, sampler_logprobs=grouped(rows), **changes)


@pytest.fixture(scope="module")
def fresh_learner(ray_cluster, tiny_model_dir):
    """A learner that is never trained (read-only tests)."""
    (actor,) = make_learners(tiny_model_dir, kl_coef=0.0)
    yield actor
    ray_cluster.kill(actor)


@pytest.fixture(scope="module")
def trainer(ray_cluster, tiny_model_dir):
    """A learner that tests train; each test asserts changes relative to the state it found."""
    (actor,) = make_learners(tiny_model_dir, lr=3e-3, kl_coef=0.01)
    yield actor
    ray_cluster.kill(actor)


def hf_logprobs(model, prompt, completion, temperature):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float() / temperature
    logp = torch.log_softmax(logits, dim=-1)
    return [logp[len(prompt) - 1 + j, tok].item() for j, tok in enumerate(completion)]


def test_recomputed_logprobs_equal_an_independent_transformers_forward(
    ray_cluster, fresh_learner, tiny_model_dir, rl_batch
):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    prompts, completions = rl_batch.flat_prompts(), rl_batch.flat_completions()
    for temperature in (1.0, 0.7):
        got = ray_cluster.get(fresh_learner.compute_logprobs.remote(prompts, completions, temperature))
        for p, c, row in zip(prompts, completions, got, strict=True):
            assert len(row) == len(c)
            expected = hf_logprobs(model, p, c, temperature)
            assert max(abs(a - b) for a, b in zip(row, expected, strict=True)) < 1e-5


def test_export_weights_round_trips_to_the_hf_state_dict(ray_cluster, fresh_learner, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from common.flat_weights import unpack

    buffers, index = ray_cluster.get(fresh_learner.export_weights.remote(bucket_bytes=64 << 10))
    assert len(buffers) > 1  # the bucket limit splits the model into several flat buffers
    exported = dict(unpack(buffers, index))
    expected = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    assert set(exported) == set(expected)
    assert "model.layers.0.self_attn.q_proj.weight" in exported and "lm_head.weight" in exported
    for name, tensor in expected.items():
        assert torch.equal(exported[name], tensor), name


def test_bad_batches_are_rejected_with_a_clear_message(ray_cluster, fresh_learner, rl_batch):
    with pytest.raises(ValueError, match="one reward per completion"):  # shapes: when the batch is built
        dataclasses.replace(rl_batch, rewards=[r[:-1] for r in rl_batch.rewards])
    single = dataclasses.replace(
        rl_batch,
        completion_ids=[g[:1] for g in rl_batch.completion_ids],
        rewards=[r[:1] for r in rl_batch.rewards],
    )
    with pytest.raises(Exception, match="group_size must be >= 2"):  # the algorithm's own: in the learner
        ray_cluster.get(fresh_learner.train_step.remote(single))


def completion_logprob_sums(ray_cluster, actor, batch):
    rows = ray_cluster.get(actor.compute_logprobs.remote(batch.flat_prompts(), batch.flat_completions(), 0.7))
    return torch.tensor([sum(r) for r in rows])


def test_updates_raise_the_logprob_of_rewarded_completions(ray_cluster, trainer, rl_batch):
    before = completion_logprob_sums(ray_cluster, trainer, rl_batch)
    sampler = ray_cluster.get(
        trainer.compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions(), 0.7)
    )
    metrics = [ray_cluster.get(trainer.train_step.remote(with_sampler(rl_batch, sampler))) for _ in range(4)]
    after = completion_logprob_sums(ray_cluster, trainer, rl_batch)
    change = after - before
    rewarded = torch.tensor(REWARDS) == 1.0
    assert (change[rewarded] > 0.5).all(), change
    assert change[rewarded].mean() > change[~rewarded].mean() + 1.0

    first, last = metrics[0], metrics[-1]
    expected_keys = {
        "loss", "pg_loss", "kl", "clip_frac", "grad_norm", "entropy/cot", "entropy/token", "adv/mean", "adv/std",
        "adv/bonus_mean", "reward/mean", "frac_zero_std_groups", "logprob_diff/sampler_vs_learner", "lr", "tokens",
        "throughput/tokens_per_s", "time/recompute", "time/update",
    }  # fmt: skip
    assert expected_keys <= set(first)
    assert first["reward/mean"] == pytest.approx(2 / 6)
    assert first["frac_zero_std_groups"] == 0.0
    assert first["logprob_diff/sampler_vs_learner"] < 1e-5  # same weights as the "sampler" here
    assert last["logprob_diff/sampler_vs_learner"] > 1e-3  # the policy moved away from the sampler
    assert first["adv/bonus_mean"] > 0  # rollouts with a think block earn an entropy bonus
    assert first["tokens"] == sum(len(c) for c in rl_batch.flat_completions())
    assert last["kl"] > 0 and first["grad_norm"] > 0


def test_zero_variance_groups_and_reset_reference(ray_cluster, trainer, rl_batch):
    flat = dataclasses.replace(rl_batch, rewards=[[1.0] * GROUP] * 2)
    m = ray_cluster.get(trainer.train_step.remote(flat))
    assert m["frac_zero_std_groups"] == 1.0 and m["adv/mean"] == 0.0 and m["adv/bonus_mean"] == 0.0
    assert m["pg_loss"] == 0.0 and m["kl"] > 0  # earlier tests moved the policy away from the reference
    ray_cluster.get(trainer.reset_reference.remote())
    ray_cluster.get(trainer.reset_optimizer.remote())
    m = ray_cluster.get(trainer.train_step.remote(flat))
    assert m["kl"] == pytest.approx(0.0, abs=1e-9)


def test_sft_steps_lower_the_completion_cross_entropy(ray_cluster, trainer, rl_batch, tmp_path):
    batch = {
        "prompt_ids": rl_batch.flat_prompts()[:3],
        "completion_ids": rl_batch.flat_completions()[:3],
        "lr": 3e-3,
    }
    losses = [ray_cluster.get(trainer.sft_step.remote(batch))["loss"] for _ in range(4)]
    assert losses[-1] < losses[0] - 0.5, losses

    # the warm-started model as a plain HF directory (no optimizer state): a model, not a resume point
    ray_cluster.get(trainer.save_checkpoint.remote(str(tmp_path / "sft"), training_state=False))
    assert (tmp_path / "sft" / "model.safetensors").is_file() and not (
        tmp_path / "sft" / "deepspeed"
    ).exists()
    with pytest.raises(Exception, match="is not a learner checkpoint"):
        ray_cluster.get(trainer.load_checkpoint.remote(str(tmp_path / "sft")))


def test_checkpoint_round_trip_restores_weights_optimizer_and_step(ray_cluster, trainer, rl_batch, tmp_path):
    from transformers import AutoModelForCausalLM

    from common.flat_weights import unpack
    from common.tokenizer import load_tokenizer

    def weights():
        return dict(unpack(*ray_cluster.get(trainer.export_weights.remote())))

    ray_cluster.get(trainer.train_step.remote(rl_batch))  # non-empty Adam moments
    path = tmp_path / "ckpt"
    ray_cluster.get(trainer.save_checkpoint.remote(str(path)))
    saved = weights()
    state = json.loads((path / "learner_state.json").read_text())
    assert not list(tmp_path.glob(".*tmp"))  # the temp dir was renamed

    # the HF directory loads with transformers: same weights, tokenizer included
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert all(torch.equal(hf.state_dict()[k], v) for k, v in saved.items())
    assert load_tokenizer(path).encode("<think>") == load_tokenizer(trainer_model_dir(state)).encode(
        "<think>"
    )

    # a step after saving, then load and redo it: identical only if Adam's moments were restored
    ray_cluster.get(trainer.train_step.remote(rl_batch))
    after_first = weights()
    assert not torch.equal(after_first["lm_head.weight"], saved["lm_head.weight"])
    step = ray_cluster.get(trainer.load_checkpoint.remote(str(path)))
    assert step == state["rl_step"]
    assert all(torch.equal(weights()[k], v) for k, v in saved.items())
    ray_cluster.get(trainer.train_step.remote(rl_batch))
    for name, tensor in weights().items():
        torch.testing.assert_close(tensor, after_first[name], rtol=1e-5, atol=1e-6)


def trainer_model_dir(state: dict) -> str:
    return state["source_model"]


def test_zero_stage_1_ppo_epochs_and_truncated_importance_weights(ray_cluster, tiny_model_dir, rl_batch):
    """Async mode: with staleness > 0 each token's loss is weighted by min(pi_old / pi_sampler, is_cap).
    At a negligible lr the policy stays put, so a sampler that gave every token twice the learner's
    probability halves the first-epoch policy loss, and one that gave a quarter is capped at 2x."""
    import math

    (actor,) = make_learners(tiny_model_dir, zero_stage=1, lr=1e-9, ppo_epochs=2, is_cap=2.0, kl_coef=0.0)
    try:
        lp = ray_cluster.get(
            actor.compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions(), 0.7)
        )

        def step(shift, staleness):
            sampler = [[x + shift for x in row] for row in lp]
            batch = with_sampler(rl_batch, sampler, staleness=staleness)
            return ray_cluster.get(actor.train_step.remote(batch))

        plain = step(0.0, 0)
        assert plain["grad_norm"] > 0 and plain["pg_loss"] < 0  # positive-advantage rows carry more tokens
        halved = step(math.log(2), 1)
        assert halved["pg_loss"] == pytest.approx(0.5 * plain["pg_loss"], rel=1e-3)
        assert halved["logprob_diff/sampler_vs_learner"] == pytest.approx(math.log(2), rel=1e-4)
        assert halved["is/weight_mean"] == pytest.approx(0.5, rel=1e-4)
        assert halved["is/capped_fraction"] == 0.0
        capped = step(-math.log(4), 1)
        assert capped["pg_loss"] == pytest.approx(2.0 * plain["pg_loss"], rel=1e-3)
        assert capped["is/weight_mean"] == pytest.approx(2.0) and capped["is/capped_fraction"] == 1.0
        not_stale = step(math.log(2), 0)  # synchronous mode: the gap is only logged
        assert not_stale["pg_loss"] == pytest.approx(plain["pg_loss"], rel=1e-3)
        assert "is/weight_mean" not in not_stale and "is/weight_mean" not in plain
    finally:
        ray_cluster.kill(actor)


def test_broadcast_weights_over_the_weight_sync_group(ray_cluster, fresh_learner):
    """The learner (rank 0) sends its flat buffers to a receiver (this process, rank 1) over gloo."""
    from common.flat_weights import empty_buffers, unpack
    from common.weight_group import create_weight_group

    buffers, index = ray_cluster.get(fresh_learner.export_weights.remote())
    assert ray_cluster.get(fresh_learner.weight_index.remote()) == index
    port = find_free_port()
    joined = fresh_learner.init_weight_group.remote("127.0.0.1", port, 2, "gloo", 60.0)
    group = create_weight_group("127.0.0.1", port, 1, 2, "gloo", timeout_s=60)
    try:
        ray_cluster.get(joined)
        sent = fresh_learner.broadcast_weights.remote()
        received = empty_buffers(index)
        group.broadcast(received, src=0)
        assert ray_cluster.get(sent) == index
        expected = dict(unpack(buffers, index))
        for name, tensor in unpack(received, index):
            assert torch.equal(tensor, expected[name]), name
    finally:
        group.close()


@pytest.mark.parametrize(
    "fast, plain",
    [
        ({"share_prompt": True}, {"share_prompt": False}),  # each group's prompt run once
        ({"single_pass": True}, {"single_pass": False}),  # pi_old from the update's own forward
        ({"gradient_checkpointing": True}, {"gradient_checkpointing": False}),  # layers recomputed
        # one sequence per micro-batch instead of two: the same token mean
        ({"max_tokens_per_micro_batch": 30, "share_prompt": False}, {"share_prompt": False}),
    ],
    ids=["share_prompt", "single_pass", "gradient_checkpointing", "token_budget"],
)
def test_the_learners_shortcuts_change_no_number(ray_cluster, tiny_model_dir, rl_batch, fast, plain):
    """Two steps (the second with a reference that differs from the policy) give the same losses,
    gradients, metrics and weights with and without the shortcut."""
    learners = []
    try:
        learners = [make_learners(tiny_model_dir, lr=1e-2, kl_coef=0.1, **s)[0] for s in (fast, plain)]
        sampler = ray_cluster.get(
            learners[0].compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions(), 0.7)
        )
        batch = with_sampler(rl_batch, [[x - 0.1 for x in row] for row in sampler], temperature=0.7)
        for staleness in (0, 1):  # the second step also applies the importance weights (async mode)
            a, b = ray_cluster.get(
                [
                    learner.train_step.remote(dataclasses.replace(batch, staleness=staleness))
                    for learner in learners
                ]
            )
            keys = ["loss", "pg_loss", "kl", "grad_norm", "entropy/cot", "entropy/token", "adv/mean"]
            keys += ["adv/bonus_mean", "logprob_diff/sampler_vs_learner"]
            keys += ["is/weight_mean", "is/capped_fraction"] if staleness else []
            for key in keys:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
            assert a["tokens"] == b["tokens"]
        assert a["kl"] > 0
        after = ray_cluster.get(
            [
                learner.compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions())
                for learner in learners
            ]
        )
        for x, y in zip(*after, strict=True):
            assert x == pytest.approx(y, abs=1e-4)
    finally:
        for learner in learners:
            ray_cluster.kill(learner)


def observation_after_think(completion: list[int], tokenizer) -> list[int]:
    """A loss mask that takes up to three tokens after ``</think>`` (not the last token) for an
    observation (0); the rest is the model's (1)."""
    close = tokenizer.encode("</think>")[-1]
    start = completion.index(close) + 1 if close in completion else len(completion)
    end = min(start + 3, len(completion) - 1)
    return [int(not start <= j < end) for j in range(len(completion))]


def test_a_trajectory_batch_trains_on_the_models_tokens_only(
    ray_cluster, tiny_model_dir, tokenizer, rl_batch
):
    """Two learners, the same steps. A loss mask of ones (a trajectory of one model turn) gives the
    single-turn path's numbers, to the bit. Then a few tokens after each think block are marked as
    an observation (loss mask 0): only the model's tokens are counted, and the sampler log-probs at the
    observation's tokens are not read (one learner gets NaN there, the other the true values)."""
    learners = []
    try:
        learners = [make_learners(tiny_model_dir, lr=1e-2, kl_coef=0.1)[0] for _ in range(2)]
        sampler = ray_cluster.get(
            learners[0].compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions(), 0.7)
        )
        batch = with_sampler(rl_batch, [[x - 0.1 for x in row] for row in sampler])
        ones = grouped([[1] * len(c) for c in rl_batch.flat_completions()])
        observed = [observation_after_think(c, tokenizer) for c in rl_batch.flat_completions()]
        nan_there = [
            [x if keep else float("nan") for x, keep in zip(row, mask, strict=True)]
            for row, mask in zip(batch.flat_sampler_logprobs(), observed, strict=True)
        ]
        steps = [
            (dataclasses.replace(batch, staleness=s), dataclasses.replace(batch, staleness=s, loss_mask=ones))
            for s in (0, 1)
        ]
        steps.append(
            (
                dataclasses.replace(batch, staleness=1, loss_mask=grouped(observed)),
                with_sampler(batch, nan_there, staleness=1, loss_mask=grouped(observed)),
            )
        )
        keys = ["loss", "pg_loss", "kl", "clip_frac", "grad_norm", "entropy/cot", "entropy/token"]
        keys += ["adv/mean", "adv/bonus_mean", "logprob_diff/sampler_vs_learner", "tokens"]
        for plain, masked in steps:
            a, b = ray_cluster.get(
                [learners[0].train_step.remote(plain), learners[1].train_step.remote(masked)]
            )
            weights = ["is/weight_mean", "is/capped_fraction"] if plain.staleness else []
            for key in keys + weights:
                assert a[key] == b[key] and math.isfinite(a[key]), (key, a[key], b[key])
        assert a["tokens"] == sum(map(sum, observed)) < sum(len(c) for c in rl_batch.flat_completions())
        after = ray_cluster.get(
            [
                learner.compute_logprobs.remote(rl_batch.flat_prompts(), rl_batch.flat_completions())
                for learner in learners
            ]
        )
        assert after[0] == after[1]
    finally:
        for learner in learners:
            ray_cluster.kill(learner)
