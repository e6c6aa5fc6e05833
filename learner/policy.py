"""The policy as the learner sees it: a causal LM whose output head runs on completion tokens only.

Prompts (system prompt + tool docs) are long and completions short, so the vocabulary projection
runs only at the positions that predict completion tokens: the decoder runs on the full
(right-padded) sequence, its hidden states are gathered at those positions, and only they go
through the LM head. With right padding and causal attention, padding never influences a real
token, so no attention mask is needed. Groups of completions sharing a prompt run the prompt once
(:meth:`CompletionHead._groups`). This assumes a plain linear head (Qwen2/3, Llama, SmolLM2);
models that post-process logits (e.g. Gemma's soft-capping) are rejected.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn


class CompletionHead(nn.Module):
    """Wraps a Hugging Face causal LM; ``forward`` returns logits only where they are needed.

    DeepSpeed wraps this module (so ZeRO-3's hooks see one top-level forward); ``self.lm`` is the
    untouched HF model whose ``state_dict`` names are what checkpoints and vLLM expect.
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        softcap = getattr(lm.config, "final_logit_softcapping", None)
        if softcap or getattr(lm.config, "logit_scale", None):
            raise ValueError(
                f"{type(lm).__name__} post-processes its logits; the learner supports plain heads"
            )
        self.lm = lm

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        prompt_lengths: torch.Tensor | None = None,
        completion_ids: torch.Tensor | None = None,
        completion_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of the tokens that predict each completion token, ``[B, C, V]``.

        Sequences (:class:`learner.batch.SequenceBatch`): ``input_ids`` ``[B, L]`` prompt +
        completion, right-padded, and ``positions`` ``[B, C]``. Groups
        (:class:`learner.batch.GroupBatch`): ``input_ids`` ``[N, P]`` holds each prompt once, with
        ``prompt_lengths``, and ``completion_ids`` / ``completion_mask`` ``[N * G, C]`` its G
        completions; see :meth:`_groups`.
        """
        if completion_ids is not None:
            return self._groups(input_ids, prompt_lengths, completion_ids, completion_mask)
        hidden = self.lm.get_decoder()(input_ids=input_ids, use_cache=False).last_hidden_state
        picked = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
        return self.lm.get_output_embeddings()(picked)

    def _groups(self, prompt_ids, prompt_lengths, completion_ids, completion_mask) -> torch.Tensor:
        """Each prompt runs once; its keys and values (still in the autograd graph) are repeated for
        its G completions, which run on top of them at positions ``len(prompt) + j``. Completion
        token 0 is predicted by the prompt's last hidden state, token j by completion token j - 1.
        Same logits and gradients as running every prompt + completion in full (tested), with the
        prompt's share of the work divided by G."""
        decoder = self.lm.get_decoder()
        num_prompts, width = prompt_ids.shape
        group = completion_ids.size(0) // num_prompts
        out = decoder(input_ids=prompt_ids, use_cache=True)
        cache = out.past_key_values
        cache.batch_repeat_interleave(group)
        rows = torch.arange(num_prompts, device=prompt_ids.device).repeat_interleave(group)
        last = out.last_hidden_state[torch.arange(num_prompts, device=prompt_ids.device), prompt_lengths - 1]
        prompt_mask = torch.arange(width, device=prompt_ids.device).unsqueeze(0) < prompt_lengths.unsqueeze(1)
        length = completion_ids.size(1)
        hidden = decoder(
            input_ids=completion_ids,
            past_key_values=cache,
            position_ids=prompt_lengths[rows].unsqueeze(1) + torch.arange(length, device=prompt_ids.device),
            attention_mask=torch.cat([prompt_mask[rows], completion_mask.bool()], dim=1).long(),
            use_cache=True,
        ).last_hidden_state
        picked = torch.cat([last[rows].unsqueeze(1), hidden[:, : length - 1]], dim=1)
        return self.lm.get_output_embeddings()(picked)


def enable_checkpointing(lm) -> None:
    """Recompute each decoder layer in the backward pass instead of keeping its activations.

    Hugging Face checkpoints a layer only in training mode, so the decoder layers are put in it;
    every dropout is set to 0 first, so training mode changes no number (the learner runs without
    dropout: the first PPO pass's ratio must be exactly 1)."""
    for module in lm.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    for layer in lm.get_decoder().layers:
        layer.train()


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probability of each target token under ``softmax(logits / T)``: ``[B, C, V] -> [B, C]`` (float32)."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def full_state_dict(lm: nn.Module, zero_stage: int) -> dict[str, torch.Tensor]:
    """The model's full state dict (HF names) as CPU tensors, gathering ZeRO-3 shards first.

    Under ZeRO-3 this is a collective: every rank must call it.
    """
    gather = nullcontext()
    if zero_stage == 3:
        import deepspeed

        gather = deepspeed.zero.GatheredParameters(list(lm.parameters()), modifier_rank=None)
    with gather, torch.no_grad():
        return {name: t.detach().to("cpu", copy=True) for name, t in lm.state_dict().items()}
