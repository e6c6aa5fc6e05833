"""EGPO's math on hand-computed tables (egpo-spec.md Sec. 3-4): Eq. 1, 4, 5, the PPO-clip loss, k3 KL."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from learner import (
    cot_entropy,
    egpo_advantages,
    group_advantages,
    kl_k3,
    masked_mean,
    policy_loss,
    think_span_mask,
    token_entropy,
    truncated_is_weights,
)

# --- Eq. 1 -------------------------------------------------------------------------------------


def test_group_advantages_hand_table():
    # [1,0,0,0]: mean 0.25, unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5 -> A = [1.5, -0.5, -0.5, -0.5]
    # [1,1,0,0]: mean 0.5, std sqrt(1/3) -> A = +-sqrt(3)/2
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    adv = group_advantages(rewards)
    h = math.sqrt(3) / 2
    expected = torch.tensor([[1.5, -0.5, -0.5, -0.5], [h, h, -h, -h]])
    torch.testing.assert_close(adv, expected, rtol=1e-5, atol=1e-5)


def test_all_equal_group_has_exactly_zero_advantage():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.1, 0.1, 0.1]])
    assert torch.equal(group_advantages(rewards), torch.zeros(3, 3))


def test_group_of_one_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="group_size >= 2"):
        group_advantages(torch.tensor([[1.0], [0.0]]))


# --- Eq. 5 -------------------------------------------------------------------------------------


def test_egpo_bonus_hand_table_and_cap_binds():
    # A = [1.5, -0.5, -0.5, -0.5]; |A|/alpha = [0.75, 0.25, 0.25, 0.25]; lam*E = [0.2, 1.2, 0.04, 0.8]
    # bonus = min(...) = [0.2, 0.25 (cap), 0.04, 0.25 (cap)]  ->  A' = [1.7, -0.25, -0.46, -0.25]
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    entropy = torch.tensor([[0.5, 3.0, 0.1, 2.0]])
    adv = egpo_advantages(rewards, entropy, lam=0.4, alpha=2.0)
    torch.testing.assert_close(adv, torch.tensor([[1.7, -0.25, -0.46, -0.25]]), rtol=1e-5, atol=1e-5)


def test_all_equal_group_gets_no_bonus_whatever_the_entropy():
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    entropy = torch.tensor([[5.0, 0.1, 2.0, 9.0], [3.0, 3.0, 3.0, 3.0]])
    assert torch.equal(egpo_advantages(rewards, entropy), torch.zeros(2, 4))


def test_lambda_zero_is_exactly_grpo():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 2, (16, 8), generator=g).float()
    entropy = torch.rand(16, 8, generator=g) * 3
    assert torch.equal(egpo_advantages(rewards, entropy, lam=0.0), group_advantages(rewards))


@settings(max_examples=200, deadline=None)
@given(
    rewards=st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=8),
    entropies=st.lists(st.floats(0.0, 20.0), min_size=8, max_size=8),
    lam=st.floats(0.0, 5.0),
    alpha=st.floats(1.01, 10.0),
)
def test_bonus_never_flips_a_sign_and_never_lowers_an_advantage(rewards, entropies, lam, alpha):
    r = torch.tensor([rewards])
    e = torch.tensor([entropies[: len(rewards)]])
    base = group_advantages(r)
    adv = egpo_advantages(r, e, lam=lam, alpha=alpha)
    assert torch.equal(torch.sign(adv), torch.sign(base))
    assert (adv >= base).all()
    assert ((adv - base) <= base.abs() / alpha + 1e-6).all()


def test_invalid_alpha_lambda_and_shapes_are_rejected():
    r, e = torch.ones(2, 4), torch.ones(2, 4)
    with pytest.raises(ValueError, match="alpha must be > 1"):
        egpo_advantages(r, e, alpha=1.0)
    with pytest.raises(ValueError, match="lam"):
        egpo_advantages(r, e, lam=-0.1)
    with pytest.raises(ValueError, match="shape"):
        egpo_advantages(r, torch.ones(8))


# --- Eq. 4: entropy and the think span -------------------------------------------------------------


def test_token_entropy_hand_values():
    uniform = torch.zeros(7)
    assert token_entropy(uniform).item() == pytest.approx(math.log(7), abs=1e-6)
    # p = [0.25, 0.75]: H = -(0.25 ln 0.25 + 0.75 ln 0.75) = 0.5623351
    two = torch.tensor([0.0, math.log(3)])
    assert token_entropy(two).item() == pytest.approx(0.5623351, abs=1e-6)
    # the same distribution from logits twice as large at temperature 2
    assert token_entropy(2 * two, temperature=2.0).item() == pytest.approx(0.5623351, abs=1e-6)
    assert token_entropy(torch.tensor([0.0, 50.0])).item() == pytest.approx(0.0, abs=1e-6)
    assert token_entropy(torch.zeros(2, 3, 5)).shape == (2, 3)


OPEN, CLOSE = [5], [6]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([1, 5, 7, 8, 6, 9], [0, 0, 1, 1, 0, 0]),  # a block: only the tokens between the tags
        ([5, 7, 6, 5, 8, 6], [0, 1, 0, 0, 0, 0]),  # only the first block counts
        ([5, 7, 8, 9, 9, 9], [0, 0, 0, 0, 0, 0]),  # no </think>: no span
        ([6, 7, 5, 9, 9, 9], [0, 0, 0, 0, 0, 0]),  # </think> before <think>: no complete block
        ([5, 6, 1, 2, 3, 4], [0, 0, 0, 0, 0, 0]),  # empty block
        ([9, 9, 9, 9, 9, 9], [0, 0, 0, 0, 0, 0]),  # no tags at all
    ],
)
def test_think_span_single_token_tags(ids, expected):
    mask = think_span_mask(torch.tensor([ids]), OPEN, CLOSE)
    assert mask.tolist() == [[bool(x) for x in expected]]


def test_think_span_multi_token_tags_and_padding():
    open_ids, close_ids = [3, 4], [4, 3]
    ids = torch.tensor([[3, 4, 9, 9, 4, 3, 0], [3, 4, 9, 4, 3, 0, 0], [3, 4, 9, 9, 9, 4, 3]])
    pad = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]]).bool()
    mask = think_span_mask(ids, open_ids, close_ids, pad_mask=pad)
    assert mask.int().tolist() == [
        [0, 0, 1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],  # the closing tag lies in the padding: no complete block
    ]


def test_cot_entropy_means_over_the_span_and_is_zero_when_empty():
    h = torch.tensor([[1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 9.0, 9.0]])
    span = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0]]).bool()
    assert cot_entropy(h, span).tolist() == [2.5, 0.0]


SINGLE_TURN = [
    [1, 5, 7, 8, 6, 9],
    [5, 7, 6, 5, 8, 6],
    [5, 7, 8, 9, 9, 9],
    [6, 7, 5, 9, 9, 9],
    [5, 6, 1, 2, 3, 4],
]


def test_a_single_turn_is_one_turn_whether_or_not_it_has_a_loss_mask():
    ids = torch.tensor(SINGLE_TURN)
    plain = think_span_mask(ids, OPEN, CLOSE)
    assert torch.equal(think_span_mask(ids, OPEN, CLOSE, pad_mask=torch.ones_like(ids).bool()), plain)


@pytest.mark.parametrize(
    ("ids", "own", "expected"),
    [
        # two model turns with an observation (mask 0) between them: both blocks
        ([5, 7, 8, 6, 1, 90, 91, 5, 9, 6, 2], [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0]),
        # tags inside an observation are not the model's: they open and close nothing
        ([5, 7, 6, 1, 5, 8, 6, 9, 5, 3, 6], [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
        # a block cut by an observation is no block; the next turn's counts
        ([5, 7, 8, 90, 9, 6, 5, 3, 6, 2, 2], [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        # two blocks in one turn: the first, as in a single turn
        ([5, 7, 6, 5, 8, 6, 90, 5, 3, 6, 2], [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        # three turns, the middle one without a block
        ([5, 7, 6, 90, 1, 2, 90, 5, 3, 4, 6], [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
    ],
    ids=["two turns", "tags in an observation", "cut block", "two blocks in a turn", "three turns"],
)  # fmt: skip
def test_think_spans_of_a_trajectory_one_per_model_turn(ids, own, expected):
    mask = think_span_mask(torch.tensor([ids]), OPEN, CLOSE, pad_mask=torch.tensor([own]).bool())
    assert mask.int().tolist() == [expected]


def test_cot_entropy_of_a_trajectory_is_the_mean_over_all_its_think_blocks():
    """Eq. 4 on a trajectory: one mean over the think tokens of every model turn (2 + 1 tokens here),
    not a mean of per-turn means; the observation's tokens between them (entropy 100) count for nothing."""
    ids = torch.tensor([[5, 7, 8, 6, 1, 90, 91, 5, 9, 6, 2]])
    own = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]]).bool()
    h = torch.tensor([[0.0, 1.0, 2.0, 0.0, 0.0, 100.0, 100.0, 0.0, 6.0, 0.0, 0.0]])
    span = think_span_mask(ids, OPEN, CLOSE, pad_mask=own)
    assert cot_entropy(h, span).tolist() == [3.0]  # (1 + 2 + 6) / 3; per-turn means would give 3.75


# --- Eq. 2: PPO-clip, k3 KL, token-mean -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "adv", "eps_high", "loss", "clipped"),
    [
        (1.0, 1.0, None, -1.0, 0.0),
        (1.5, 1.0, None, -1.2, 1.0),  # above 1 + eps with A > 0: clipped, no gradient
        (0.5, 1.0, None, -0.5, 0.0),  # below 1 - eps with A > 0: min keeps the unclipped term
        (0.5, -1.0, None, 0.8, 1.0),  # below 1 - eps with A < 0: clipped
        (1.5, -1.0, None, 1.5, 0.0),  # above 1 + eps with A < 0: unclipped (pessimistic bound)
        (1.25, 1.0, 0.28, -1.25, 0.0),  # clip-higher lets this one through
        (1.25, 1.0, None, -1.2, 1.0),
    ],
)
def test_policy_loss_hand_table(ratio, adv, eps_high, loss, clipped):
    logp = torch.tensor([[math.log(ratio)]])
    old = torch.zeros(1, 1)
    out, frac = policy_loss(logp, old, torch.tensor([adv]), torch.ones(1, 1), 0.2, eps_high)
    assert out.item() == pytest.approx(loss, abs=1e-6)
    assert frac.item() == pytest.approx(clipped)


def test_policy_loss_gradient_vanishes_where_clipped():
    logp = torch.tensor([[math.log(1.5), math.log(1.1)]], requires_grad=True)
    loss, _ = policy_loss(logp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    loss.backward()
    assert logp.grad[0, 0].item() == 0.0
    assert logp.grad[0, 1].item() == pytest.approx(-1.1 / 2, abs=1e-6)  # d/dlogp of -rho*A / 2 tokens


def test_kl_k3_hand_values():
    assert kl_k3(torch.zeros(3), torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    # d = ref - logp = ln 2: 2 - ln 2 - 1 = 0.3068528
    assert kl_k3(torch.tensor([0.0]), torch.tensor([math.log(2)])).item() == pytest.approx(
        0.3068528, abs=1e-6
    )
    assert kl_k3(torch.tensor([-50.0]), torch.tensor([0.0])).item() == 10.0  # clamped


def test_truncated_is_weights_cap():
    w = truncated_is_weights(torch.tensor([0.0, math.log(3), -1.0]), torch.zeros(3), cap=2.0)
    torch.testing.assert_close(w, torch.tensor([1.0, 2.0, math.exp(-1.0)]))


def _loss(logp, old, ref, adv, mask, num_tokens):
    pg, _ = policy_loss(logp, old, adv, mask, 0.2, 0.28, num_tokens=num_tokens)
    return pg + 0.1 * masked_mean(kl_k3(logp, ref), mask, num_tokens)


def test_loss_and_gradient_do_not_depend_on_the_micro_batch_split():
    g = torch.Generator().manual_seed(1)
    B, T = 7, 9
    lengths = torch.tensor([9, 2, 5, 1, 7, 3, 8])
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).float()
    old = -torch.rand(B, T, generator=g) * 3
    ref = -torch.rand(B, T, generator=g) * 3
    adv = torch.randn(B, generator=g)
    start = old + 0.3 * torch.randn(B, T, generator=g)  # ratios away from 1, some clipped
    n = mask.sum()

    def run(splits):
        logp = start.clone().requires_grad_(True)
        total = torch.zeros(())
        for lo, hi in splits:
            part = _loss(logp[lo:hi], old[lo:hi], ref[lo:hi], adv[lo:hi], mask[lo:hi], n)
            part.backward()
            total = total + part.detach()
        return total, logp.grad

    whole, whole_grad = run([(0, B)])
    for splits in ([(0, 3), (3, 7)], [(0, 1), (1, 2), (2, 6), (6, 7)]):
        loss, grad = run(splits)
        torch.testing.assert_close(loss, whole, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, whole_grad, rtol=1e-6, atol=1e-7)
    # the naive per-micro-batch mean (what this guards against) would differ
    naive = sum(
        _loss(start[lo:hi], old[lo:hi], ref[lo:hi], adv[lo:hi], mask[lo:hi], None)
        for lo, hi in [(0, 3), (3, 7)]
    )
    assert abs(naive.item() / 2 - whole.item()) > 1e-3
