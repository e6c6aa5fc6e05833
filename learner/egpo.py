"""EGPO's math as pure tensor functions (egpo-spec.md Sec. 3-4; paper arXiv 2508.05118).

Read top to bottom, this is the algorithm:

    A_i  = (r_i - mean(r)) / (std(r) + eps)                        Eq. 1   group_advantages
    H_t  = -sum_v p_t(v) log p_t(v),  p_t = softmax(logits_t / T)           token_entropy
    E_i  = mean of H_t over the CoT tokens of rollout i            Eq. 4   cot_entropy
           (of every model turn of a trajectory; think_span_mask)
    A'_i = A_i + min(lambda * E_i, |A_i| / alpha)                  Eq. 5   egpo_advantages
    L    = token-mean of -min(rho A', clip(rho) A') + beta k3(KL)  Eq. 2   policy_loss, kl_k3

Shapes: ``P`` prompts, ``G`` rollouts per prompt, ``B`` sequences, ``T`` completion tokens, ``V`` vocab.
Nothing here touches a model, a device or a process group.
"""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 1: group-normalised advantages ``(r - mean(r)) / (std(r) + eps)`` per prompt.

    ``rewards`` is ``[P, G]``; std is the unbiased estimate (egpo-spec.md [decision]). A group whose
    rewards are all equal gets exactly zero (not a rounding residue), so it adds no bonus either.
    """
    if rewards.dim() != 2 or rewards.size(1) < 2:
        raise ValueError(f"rewards must be shaped [num_prompts, group_size >= 2], got {tuple(rewards.shape)}")
    rewards = rewards.float()
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True)  # unbiased (N - 1)
    adv = (rewards - mean) / (std + eps)
    all_equal = (rewards == rewards[:, :1]).all(dim=1, keepdim=True)
    return torch.where(all_equal, torch.zeros_like(adv), adv)


def token_entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Full-vocabulary Shannon entropy (nats) of ``softmax(logits / T)`` per position (the H of Eq. 4).

    ``logits`` is ``[..., V]``; returns ``[...]`` in float32.
    """
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def _first_match(ids: torch.Tensor, tag: torch.Tensor, not_before: torch.Tensor) -> torch.Tensor:
    """Start index of the first occurrence of the token sequence ``tag`` in each row of ``ids`` at or
    after ``not_before`` (``[B]``); ``ids.size(1)`` where there is none."""
    B, T = ids.shape
    L = tag.numel()
    if L == 0 or T < L:
        return torch.full((B,), T, dtype=torch.long, device=ids.device)
    windows = ids.unfold(1, L, 1)  # [B, T - L + 1, L]
    hit = (windows == tag).all(dim=-1)
    starts = torch.arange(T - L + 1, device=ids.device)
    hit &= starts.unsqueeze(0) >= not_before.unsqueeze(1)
    return torch.where(hit, starts, T).min(dim=1).values


def _first_true(flags: torch.Tensor, not_before: torch.Tensor) -> torch.Tensor:
    """Index of the first True in each row of ``flags`` at or after ``not_before`` (``[B]``);
    ``flags.size(1)`` where there is none."""
    T = flags.size(1)
    pos = torch.arange(T, device=flags.device).unsqueeze(0)
    hit = flags & (pos >= not_before.unsqueeze(1))
    return torch.where(hit, pos, T).min(dim=1).values


def think_span_mask(
    completion_ids: torch.Tensor,
    open_ids: list[int],
    close_ids: list[int],
    pad_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The chain-of-thought spans of Eq. 4: in each turn of a row, the tokens strictly between its
    first ``<think>`` and the following ``</think>`` (both given as token-id sequences), tags excluded.

    ``completion_ids`` is ``[B, T]``; ``pad_mask`` (True = the model's own token) keeps padding, and in
    a multi-turn trajectory the environment's and the user's tokens, out of the match. A turn is a run
    of the model's tokens between them: a single-turn completion is one turn, so its span is its first
    complete think block; a trajectory has one span per model turn that holds a complete block (a
    block never crosses a masked token). A row without any is all False (egpo-spec.md [decision]:
    E_i = 0 there).
    """
    if not open_ids or not close_ids:
        raise ValueError("think_span_mask needs the token ids of both <think> and </think>")
    ids = completion_ids.long()
    B, T = ids.shape
    own = torch.ones_like(ids, dtype=torch.bool) if pad_mask is None else pad_mask.bool()
    ids = ids.masked_fill(~own, -1)
    open_tag = torch.tensor(open_ids, dtype=torch.long, device=ids.device)
    close_tag = torch.tensor(close_ids, dtype=torch.long, device=ids.device)
    pos = torch.arange(T, device=ids.device).unsqueeze(0)
    spans = torch.zeros_like(own)
    search = torch.zeros(B, dtype=torch.long, device=ids.device)  # where each row's next turn may start
    while True:
        opened = _first_match(ids, open_tag, search)
        if bool((opened >= T).all()):
            return spans
        start = opened + len(open_ids)
        end = _first_match(ids, close_tag, start)
        turn_end = _first_true(~own, start)  # the first token after the turn that opened the block
        complete = (end < turn_end).unsqueeze(1)
        spans |= (pos >= start.unsqueeze(1)) & (pos < end.unsqueeze(1)) & complete
        search = torch.where(opened < T, turn_end, T)  # one block per turn: go on after it


def cot_entropy(token_entropy: torch.Tensor, span_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 4: mean token entropy over each rollout's CoT span(s) (all its turns' think blocks
    together), ``[B, T] -> [B]``; 0 where there is none."""
    mask = span_mask.to(token_entropy.dtype)
    return (token_entropy * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def egpo_advantages(
    rewards: torch.Tensor,
    cot_entropy: torch.Tensor,
    lam: float = 0.4,
    alpha: float = 2.0,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Eq. 1 + Eq. 5: ``A' = A + min(lam * E, |A| / alpha)``, all shaped ``[P, G]``.

    The bonus is one-sided (entropy >= 0) and capped at ``|A| / alpha`` with alpha > 1, so it never
    flips the sign of A; all-equal groups (A = 0) get no bonus; ``lam = 0`` is exactly GRPO.
    """
    if alpha <= 1:
        raise ValueError(f"alpha must be > 1 (the cap |A|/alpha keeps the sign of A), got {alpha}")
    if lam < 0:
        raise ValueError(f"lam (the entropy bonus weight) must be >= 0, got {lam}")
    if cot_entropy.shape != rewards.shape:
        raise ValueError(
            f"cot_entropy shape {tuple(cot_entropy.shape)} must equal rewards shape {tuple(rewards.shape)}"
        )
    adv = group_advantages(rewards, eps)
    if lam == 0:
        return adv
    bonus = torch.minimum(lam * cot_entropy.float().clamp(min=0.0), adv.abs() / alpha)
    return adv + bonus


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    num_tokens: float | torch.Tensor | None = None,
    is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2 (policy part): PPO-clip surrogate with ratio ``rho = exp(logp - old_logp)`` per token.

    ``logp``, ``old_logp``, ``mask`` are ``[B, T]``; ``advantages`` is ``[B]`` (one A' per rollout,
    broadcast to its tokens) or ``[B, T]``. The clip range is ``[1 - clip_eps, 1 + clip_eps_high]``
    (clip-higher when ``clip_eps_high > clip_eps``). The token losses are summed and divided by
    ``num_tokens``, the completion-token count of the *global* batch (default: this mask's count), so
    summing over micro-batches and ranks gives the same loss and gradient however the batch is split.
    ``is_weights`` (``[B, T]``, no grad) multiplies each token's loss: the truncated importance weight
    of asynchronous mode. Returns ``(loss, clip_fraction)``; the fraction is normalised the same way.
    """
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + eps_high) * advantages
    token_loss = -torch.minimum(unclipped, clipped)
    if is_weights is not None:
        token_loss = token_loss * is_weights.detach()
    denom = mask.sum() if num_tokens is None else num_tokens
    loss = (token_loss * mask).sum() / denom
    clip_frac = ((clipped < unclipped).to(logp.dtype) * mask).sum().detach() / denom
    return loss, clip_frac


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, clamp: float = 10.0) -> torch.Tensor:
    """The k3 ("low-variance") estimator of KL(pi || pi_ref) per token (egpo-spec.md Sec. 4 [decision]):
    ``exp(d) - d - 1`` with ``d = ref_logp - logp``; d is clamped to +-20 before the exp and the result
    to ``[0, clamp]``, so one outlier token cannot blow up the loss."""
    d = (ref_logp - logp).clamp(-20.0, 20.0)
    return (torch.exp(d) - d - 1.0).clamp(min=0.0, max=clamp)


def truncated_is_weights(
    learner_logp: torch.Tensor, sampler_logp: torch.Tensor, cap: float = 2.0
) -> torch.Tensor:
    """Truncated importance weights ``min(pi_old / pi_sampler, cap)`` per token, for rollouts sampled by
    an older policy than the learner's (asynchronous mode, egpo-spec.md Sec. 4). No gradient."""
    return torch.exp(learner_logp.detach() - sampler_logp.detach()).clamp(max=cap)


def masked_mean(
    values: torch.Tensor, mask: torch.Tensor, num_tokens: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Token-sum of ``values`` over ``mask`` divided by ``num_tokens`` (default: the mask's count): the
    token-mean aggregation of the global batch when ``num_tokens`` is the global count."""
    mask = mask.to(values.dtype)
    denom = mask.sum().clamp(min=1.0) if num_tokens is None else num_tokens
    return (values * mask).sum() / denom
