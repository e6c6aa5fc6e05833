"""Trajectories as training samples: the environment's and the user's tokens between the model's turns
stay in the sequence but take no loss. The learner's loss (``Learner._update``: PPO-clip with truncated
importance weights plus beta * k3 KL, token-mean over ``loss_mask``) from ``learner.egpo`` on
micro-batches collated as the learner collates them (``learner.batch``)."""

from __future__ import annotations

import torch

from learner import kl_k3, masked_mean, policy_loss, truncated_is_weights
from learner.batch import GroupBatch, collate_groups
from learner.policy import token_logprobs

VOCAB, TEMPERATURE = 100, 0.7
PROMPTS = [[11, 12, 13], [21, 22]]
# two groups of two; 90-93 stand for an observation's tokens between two model turns
COMPLETIONS = [
    [5, 30, 6, 31, 90, 91, 92, 5, 32, 6, 33],
    [5, 34, 6, 35],
    [5, 36, 37, 6, 38, 90, 93, 39],
    [40, 41],
]
LOSS_MASKS = [
    [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1],
    [1, 1, 1, 1],
    [1, 1, 1, 1, 1, 0, 0, 1],
    [1, 1],
]


def learner_loss(logits, mb: GroupBatch, old_logits, ref_logits, sampler, advantages) -> torch.Tensor:
    """One micro-batch's loss as the learner builds it; the old and reference log-probs are the
    learner's own forward passes (here: fixed logits) at the same targets."""
    logp = token_logprobs(logits, mb.targets, TEMPERATURE)
    old = token_logprobs(old_logits, mb.targets, TEMPERATURE)
    ref = token_logprobs(ref_logits, mb.targets, TEMPERATURE)
    tokens = mb.loss_mask.sum()
    weights = truncated_is_weights(old, sampler, cap=2.0)
    pg, _ = policy_loss(logp, old, advantages, mb.loss_mask, 0.2, 0.28, tokens, weights)
    return pg + 0.1 * masked_mean(kl_k3(logp, ref), mb.loss_mask, tokens)


def inputs(mb: GroupBatch, seed: int = 0):
    """Policy logits (a leaf to differentiate), old and reference logits near them, the sampler's
    log-probs and one advantage per row."""
    g = torch.Generator().manual_seed(seed)
    shape = (*mb.targets.shape, VOCAB)
    logits = torch.randn(shape, generator=g).requires_grad_(True)
    old = logits.detach() + 0.05 * torch.randn(shape, generator=g)  # ratios near 1: nothing clipped
    ref = logits.detach() + 0.3 * torch.randn(shape, generator=g)
    sampler = -torch.rand(mb.targets.shape, generator=g) * 4
    advantages = torch.tensor([1.2, -0.8, 0.5, -0.9])
    return logits, old, ref, sampler, advantages


def test_no_gradient_reaches_the_logits_of_observation_tokens():
    mb = collate_groups(PROMPTS, COMPLETIONS, 2, loss_masks=LOSS_MASKS)
    logits, old, ref, sampler, adv = inputs(mb)
    learner_loss(logits, mb, old, ref, sampler, adv).backward()
    per_token = logits.grad.abs().sum(dim=-1)
    observation = mb.mask & ~mb.loss_mask
    assert int(observation.sum()) == 5
    assert (per_token[observation] == 0).all()  # exactly zero, not small
    assert (per_token[~mb.mask] == 0).all()  # padding, as before
    assert (per_token[mb.loss_mask] > 0).all()  # every model token is trained on


def test_the_observation_tokens_targets_and_sampler_logprobs_do_not_change_the_loss():
    """Other ids at the observation positions (the learner's old and reference log-probs follow them)
    and garbage sampler log-probs there give the very same loss."""
    mb = collate_groups(PROMPTS, COMPLETIONS, 2, loss_masks=LOSS_MASKS)
    logits, old, ref, sampler, adv = inputs(mb)
    loss = learner_loss(logits, mb, old, ref, sampler, adv)
    observation = ~mb.loss_mask
    other_targets = torch.where(observation, (mb.targets + 17) % VOCAB, mb.targets)
    other = GroupBatch(mb.prompt_ids, mb.prompt_lengths, other_targets, mb.mask, mb.loss_mask)
    garbage = sampler.masked_fill(observation, 50.0)
    assert not torch.equal(other.targets, mb.targets)
    assert torch.equal(learner_loss(logits, other, old, ref, garbage, adv), loss)
    # the same change at a model token does change it (the comparison can fail)
    moved = mb.targets.clone()
    moved[0, 1] = (moved[0, 1] + 1) % VOCAB
    changed = GroupBatch(mb.prompt_ids, mb.prompt_lengths, moved, mb.mask, mb.loss_mask)
    assert not torch.equal(learner_loss(logits, changed, old, ref, sampler, adv), loss)


def test_a_one_turn_trajectory_has_the_single_turn_loss_and_gradients():
    """A loss mask of ones (a trajectory of one model turn) is the single-turn path, to the bit."""
    ones = [[1] * len(c) for c in COMPLETIONS]
    single = collate_groups(PROMPTS, COMPLETIONS, 2)
    one_turn = collate_groups(PROMPTS, COMPLETIONS, 2, loss_masks=ones)
    assert torch.equal(one_turn.loss_mask, single.loss_mask)
    results = []
    for mb in (single, one_turn):
        logits, old, ref, sampler, adv = inputs(mb)
        loss = learner_loss(logits, mb, old, ref, sampler, adv)
        loss.backward()
        results.append((loss.detach(), logits.grad))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert torch.equal(loss_a, loss_b) and torch.equal(grad_a, grad_b)
