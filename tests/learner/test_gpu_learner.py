"""The learner's memory savers on a CUDA GPU in bf16 (skipped, with the reason, where there is none).

The CPU suite proves they change no number in fp32 (test_learner_actor.py); here: on CUDA, in
bf16, gradient checkpointing gives the same loss and gradients within bf16 rounding and a lower
peak. Not yet run: no GPU was at hand when it was written.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu
DEVICE = "cuda"

SHAPE = {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 8, "num_attention_heads": 16,
         "num_key_value_heads": 4, "head_dim": 64, "vocab_size": 8000, "tie_word_embeddings": False}  # fmt: skip


def _policy(checkpointing: bool):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from learner.policy import CompletionHead, enable_checkpointing

    torch.manual_seed(0)
    lm = Qwen2ForCausalLM(Qwen2Config(**SHAPE)).to(DEVICE, torch.bfloat16).eval()
    if checkpointing:
        enable_checkpointing(lm)
    return CompletionHead(lm)


def _step(checkpointing: bool, rows: int = 4, prompt: int = 1024, completion: int = 1024):
    """One forward and backward of a token-mean loss; returns the loss, the gradients and the peak."""
    from learner.policy import token_logprobs

    head = _policy(checkpointing)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, SHAPE["vocab_size"], (rows, prompt + completion), generator=generator).to(DEVICE)
    positions = torch.arange(prompt - 1, prompt + completion - 1, device=DEVICE).expand(rows, -1)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    loss = -token_logprobs(head(ids, positions), ids[:, prompt:]).mean()
    loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    grads = {n: p.grad.float().clone() for n, p in head.named_parameters() if p.grad is not None}
    return loss.item(), grads, peak


def test_checkpointing_on_cuda_bf16_same_loss_lower_peak():
    loss, grads, kept = _step(False)
    loss_ckpt, grads_ckpt, checkpointed = _step(True)
    assert loss_ckpt == pytest.approx(loss, rel=1e-2)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, atol=2e-2, rtol=5e-2, msg=name)
    assert checkpointed < 0.6 * kept, (checkpointed, kept)  # ~0.4 expected: 8 layers kept vs 1 + inputs
