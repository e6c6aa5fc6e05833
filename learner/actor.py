"""The learner Ray actor: one data-parallel rank of a DeepSpeed engine that trains the policy with EGPO.

One ``train_step`` is the learner half of an RL step (egpo-spec.md Sec. 3-4):

1. recompute the old policy's token log-probs and entropies (no grad, logits / temperature),
   and the frozen reference's log-probs when ``kl_coef > 0``;
2. CoT entropy per rollout (Eq. 4) -> EGPO advantages (Eq. 1 + 5) per group;
3. ``ppo_epochs`` optimizer steps, each accumulating gradients over length-sorted micro-batches of
   the PPO-clip + beta * k3-KL loss, token-mean over the completion tokens of the *global* batch
   (the count is all-reduced over ranks; DeepSpeed averages gradients over ranks, so each rank
   scales its loss by the world size).

A batch with a ``loss_mask`` (multi-turn trajectories) runs every completion token through the
model, but the loss, KL, clip fraction, CoT and token entropies, sampler gap and importance weights
count the model's own tokens only (``mb.loss_mask``); without one, that is every completion token.

Several actors with ``world_size > 1`` are data-parallel ranks; each gets whole groups. Every rank
must call the collective methods (all but ``ping`` and ``reset_optimizer``) the same number of times;
metrics are those of the global batch (sums all-reduced), identical on every rank.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray
import torch
import torch.distributed as dist

from common.types import RolloutBatch
from learner import batch as batching
from learner import checkpoint as ckpt
from learner import lora
from learner.batch import GroupBatch, SequenceBatch
from learner.egpo import (
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
from learner.engine import (
    DTYPES,
    base_optimizer,
    deepspeed_config,
    device_for,
    init_distributed,
    lr_at,
    set_lr,
)
from learner.policy import CompletionHead, enable_checkpointing, full_state_dict, token_logprobs
from learner.settings import LearnerSettings

Batch = SequenceBatch | GroupBatch


@dataclass
class _Stats:
    """Sums gathered while a step's batch is observed (all-reduced into the step's metrics)."""

    entropy_sum: float = 0.0
    gap_sum: float = 0.0  # |sampler log-prob - learner log-prob| over the model's completion tokens
    gap_n: int = 0
    is_sum: float = 0.0
    is_capped: int = 0


@dataclass
class _Step:
    """One RL step's batch on this rank, and what its passes gather (micro-batch k: ``old_logp[k]``,
    ``ref_logp[k]``, ``is_weights[k]``; row i: ``cot[i]``)."""

    micro: list[tuple[list[int], Batch]]
    rewards: torch.Tensor  # [groups, G]
    temperature: float
    sampler: list | None  # vLLM's log-probs of the sampled tokens, per row
    stale: bool  # sampled by an older policy (asynchronous mode): importance weights apply
    single_pass: bool  # one epoch: pi_old comes from the update's own forward pass
    ref_is_policy: bool  # no update since the reference was loaded
    seq_tokens: int  # prompt + completion tokens of this rank's rows
    old_logp: list = field(init=False)
    ref_logp: list = field(init=False)
    is_weights: list = field(init=False)
    cot: torch.Tensor = field(init=False)
    stats: _Stats = field(init=False, default_factory=_Stats)

    def __post_init__(self) -> None:
        k = len(self.micro)
        self.old_logp, self.ref_logp, self.is_weights = [None] * k, [None] * k, [None] * k
        self.cot = torch.zeros(self.rewards.numel())

    def advantages(self, cfg) -> torch.Tensor:
        """A' per row (Eq. 1, 4, 5) from the group rewards and the rows' CoT entropies so far."""
        g = self.rewards.size(1)
        return egpo_advantages(
            self.rewards, self.cot.view(-1, g), cfg.entropy_coef, cfg.alpha, cfg.adv_eps
        ).view(-1)


@ray.remote
class Learner:
    """A DeepSpeed learner rank. ``settings`` use the config's field names (see :class:`LearnerSettings`)."""

    def __init__(
        self,
        model_path: str,
        rank: int = 0,
        world_size: int = 1,
        master_addr: str = "127.0.0.1",
        master_port: int = 29500,
        **settings,
    ):
        import deepspeed
        from transformers import AutoModelForCausalLM

        from common.tokenizer import load_tokenizer

        self.cfg = LearnerSettings.from_kwargs(settings)
        self.model_path = Path(model_path)
        self.rank, self.world_size = rank, world_size
        torch.manual_seed(self.cfg.seed)
        self.device = device_for(self.cfg.backend)
        init_distributed(rank, world_size, master_addr, master_port, self.cfg.backend)

        tokenizer = load_tokenizer(self.model_path)
        self.think_open = tokenizer.encode("<think>", add_special_tokens=False)
        self.think_close = tokenizer.encode("</think>", add_special_tokens=False)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        lm = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
        lm.eval()  # no dropout: the ratio of the first PPO pass must be exactly 1
        if self.cfg.gradient_checkpointing:
            enable_checkpointing(lm)
        self.lora = self.cfg.lora_rank > 0
        if self.lora:
            targets = self.cfg.lora_target_modules
            lora.add_adapters(
                lm,
                self.cfg.lora_rank,
                self.cfg.lora_alpha,
                self.cfg.lora_dropout,
                targets if isinstance(targets, str) else list(targets),
            )
        self.policy = CompletionHead(lm)
        ds_config = deepspeed_config(
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
            adam_beta2=self.cfg.adam_beta2,
            grad_clip=self.cfg.grad_clip,
            micro_batch_size=self.cfg.micro_batch_size,
            zero_stage=self.cfg.zero_stage,
            dtype=self.cfg.dtype,
            world_size=world_size,
        )
        self.engine, *_ = deepspeed.initialize(
            model=self.policy,
            model_parameters=[p for p in self.policy.parameters() if p.requires_grad],
            config=ds_config,
        )
        # The KL reference: a frozen copy, or with LoRA the policy's own base (its adapters off)
        self.kl = self.cfg.kl_coef > 0
        self.reference: CompletionHead | None = None
        self.reference_is_source = True  # False once reset_reference() replaced the source weights
        if self.kl and not self.lora:
            ref = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=DTYPES[self.cfg.dtype])
            self.reference = CompletionHead(ref.eval().requires_grad_(False)).to(self.device)
        self.step = 0  # RL steps done (the lr schedule's clock)
        self._weight_group = None  # joined by init_weight_group (rank 0 only)

    # -- small helpers ---------------------------------------------------------------------------

    def ping(self) -> str:
        return "pong"

    def _all_reduce(self, values: list[float], op=dist.ReduceOp.SUM) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            dist.all_reduce(t, op=op)
        return t.tolist()

    def _all_reduce_named(self, values: dict[str, float]) -> dict[str, float]:
        """Sum each named value over the ranks (one all-reduce; every rank builds the same names)."""
        return dict(zip(values, self._all_reduce([float(v) for v in values.values()]), strict=True))

    def _micro_batches(
        self, prompts, completions, heads: list[list[int]] | None = None, loss_masks=None
    ) -> list[tuple[list[int], Batch]]:
        """Length-sorted micro-batches, the same number on every rank (an empty one is a masked dummy).

        ``prompts`` and ``completions`` are the rows (``loss_masks``, when given, theirs). With
        ``heads``, each group's prompt once (an RL batch: rows group-major,
        ``len(completions) // len(heads)`` per group), a micro-batch holds whole groups
        (``micro_batch_size // G`` of them, at least one) and runs each prompt once
        (:class:`learner.batch.GroupBatch`), unless ``share_prompt`` is off.
        """
        # Hugging Face's checkpointing drops the KV cache the shared-prompt path runs on
        share = self.cfg.share_prompt and not self.cfg.gradient_checkpointing
        grouped = heads is not None and share  # the same on every rank (settings and call alike)
        group_size = len(completions) // len(heads) if grouped else 1  # rows per unit of the plan
        if not grouped:
            lengths = [len(p) + len(c) for p, c in zip(prompts, completions, strict=True)]
            per_micro = self.cfg.micro_batch_size
        else:
            lengths = [
                len(head) + max(len(c) for c in completions[g * group_size : (g + 1) * group_size])
                for g, head in enumerate(heads)
            ]
            per_micro = max(1, self.cfg.micro_batch_size // group_size)
        budget = self.cfg.max_tokens_per_micro_batch
        if budget:
            local = len(batching.plan_token_micro_batches(lengths, budget, group_size))
        else:
            local = math.ceil(len(lengths) / per_micro)
        num = int(self._all_reduce([local], dist.ReduceOp.MAX)[0])
        if budget:
            plan = batching.plan_token_micro_batches(lengths, budget, group_size, num)
        else:
            plan = batching.plan_micro_batches(lengths, per_micro, num)
        out = []
        for units in plan:
            chosen = units or [0]
            if grouped:
                rows = [g * group_size + k for g in chosen for k in range(group_size)]
                mb = batching.collate_groups(
                    [heads[g] for g in chosen],
                    [completions[i] for i in rows],
                    group_size,
                    self.device,
                    self.pad_id,
                    None if loss_masks is None else [loss_masks[i] for i in rows],
                )
                idx = rows if units else []
            else:
                mb = batching.collate(
                    [prompts[i] for i in chosen],
                    [completions[i] for i in chosen],
                    self.device,
                    self.pad_id,
                    None if loss_masks is None else [loss_masks[i] for i in chosen],
                )
                idx = units
            if not units:
                mb.mask.zero_()
                mb.loss_mask.zero_()
            out.append((idx, mb))
        return out

    def _logits(self, head, mb: Batch) -> torch.Tensor:
        return head(**mb.model_inputs())

    def _reference_logits(self, mb: Batch) -> torch.Tensor:
        """The KL reference's logits (call under no_grad)."""
        if self.lora:
            with lora.adapters_off(self.policy.lm):
                return self._logits(self.engine, mb)
        return self._logits(self.reference, mb)

    def _observe(self, logits, mb: Batch, idx, step: _Step, logp=None) -> torch.Tensor:
        """From the policy's logits (no grad): the old log-probs (returned; ``logp``, when the caller
        has them, detached), token entropies, the CoT entropy of each real row (into ``step.cot``) and
        the sampler-vs-learner log-prob gap (into ``step.stats``), all over the model's own tokens."""
        logp = token_logprobs(logits, mb.targets, step.temperature) if logp is None else logp.detach()
        if idx:
            stats, own = step.stats, mb.loss_mask
            ent = token_entropy(logits, step.temperature)
            span = think_span_mask(mb.targets, self.think_open, self.think_close, pad_mask=own)
            step.cot[idx] = cot_entropy(ent, span).cpu()
            stats.entropy_sum += float((ent * own).sum())
            if step.sampler is not None:
                sampled = self._sampled(step.sampler, mb, idx)
                stats.gap_sum += float(((sampled - logp).abs() * own).sum())
                stats.gap_n += int(own.sum())
        return logp

    def _sampled(self, sampler, mb: Batch, idx) -> torch.Tensor:
        """The sampler's (vLLM's) log-probs of the rows ``idx``, shaped like ``mb.targets``; 0 where the
        model did not sample the token (environment and user tokens carry none worth reading)."""
        values = batching.pad_values([sampler[i] for i in idx], mb.targets.size(1)).to(self.device)
        return values.masked_fill(~mb.loss_mask, 0.0)

    def _is_weights(self, old_logp, mb: Batch, idx, step: _Step) -> torch.Tensor | None:
        """Asynchronous mode: the truncated importance weights min(pi_old / pi_sampler, is_cap)."""
        if not idx or step.sampler is None:
            return None
        weights = truncated_is_weights(old_logp, self._sampled(step.sampler, mb, idx), self.cfg.is_cap)
        step.stats.is_sum += float((weights * mb.loss_mask).sum())
        step.stats.is_capped += int(((weights >= self.cfg.is_cap) & mb.loss_mask).sum())
        return weights

    def _optimizer_step(self) -> float:
        """Step the engine after the boundary backward; return the global grad norm (before clipping)."""
        own_norm = None
        if self.cfg.zero_stage == 0 and self.cfg.dtype == "float32":
            grads = [p.grad for p in self.policy.parameters() if p.grad is not None]
            own_norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else (own_norm if own_norm is not None else float("nan"))

    # -- RL ---------------------------------------------------------------------------------------

    def train_step(self, batch: RolloutBatch) -> dict:
        """One EGPO step on this rank's whole groups: recompute -> update -> metrics of the global
        batch (all ranks)."""
        if batch.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (Eq. 1 needs a group), got {batch.group_size}")
        completions = batch.flat_completions()
        t0 = time.perf_counter()
        step = _Step(
            micro=self._micro_batches(
                batch.flat_prompts(), completions, batch.prompt_ids, batch.flat_loss_mask()
            ),
            rewards=torch.tensor(batch.rewards, dtype=torch.float32),  # [P, G]
            temperature=float(batch.temperature),
            sampler=batch.flat_sampler_logprobs(),
            stale=batch.staleness > 0,
            single_pass=self.cfg.single_pass and self.cfg.ppo_epochs == 1,
            ref_is_policy=self.step == 0 and self.reference_is_source,
            # prompt + completion tokens of this rank's rows (a group's prompt counts for each row)
            seq_tokens=batch.group_size * sum(len(p) for p in batch.prompt_ids)
            + sum(len(c) for c in completions),
        )
        self._recompute(step)
        t1 = time.perf_counter()
        sums, grad_norms, lr, global_tokens = self._update(step)
        t2 = time.perf_counter()
        return self._step_metrics(step, sums, grad_norms, lr, global_tokens, t1 - t0, t2 - t1)

    def _recompute(self, step: _Step) -> None:
        """Old log-probs, entropies and reference log-probs (no grad). With one epoch, pi_old is the
        policy about to be updated: its log-probs, entropies and (asynchronous mode) importance
        weights come from the update's own forward pass (detached); only the reference runs here."""
        with torch.no_grad():
            for k, (idx, mb) in enumerate(step.micro):
                if not step.single_pass:
                    logits = self._logits(self.engine, mb)
                    step.old_logp[k] = self._observe(logits, mb, idx, step)
                    del logits
                if self.kl and not step.ref_is_policy:
                    step.ref_logp[k] = token_logprobs(
                        self._reference_logits(mb), mb.targets, step.temperature
                    )
                elif self.kl and not step.single_pass:
                    step.ref_logp[k] = step.old_logp[k]  # no update since the reference was loaded
        if step.stale and not step.single_pass:  # asynchronous mode: the rollouts came from an older policy
            for k, (idx, mb) in enumerate(step.micro):
                step.is_weights[k] = self._is_weights(step.old_logp[k], mb, idx, step)

    def _update(self, step: _Step) -> tuple[dict[str, float], list[float], float, float]:
        """The PPO update(s): one optimizer step per epoch over all micro-batches, with the advantages
        of Eq. 1, 4, 5 per group (in a single pass each micro-batch completes its rows' CoT entropies
        first: A' of a rollout needs only its group's rewards and its own entropy). Returns the loss
        sums, the grad norms, the learning rate and the global number of the model's completion
        tokens (the token-mean's count)."""
        cfg = self.cfg
        global_tokens = self._all_reduce([sum(int(mb.loss_mask.sum()) for _, mb in step.micro)])[0]
        if global_tokens == 0:
            raise ValueError("train_step got no completion tokens to train on (loss_mask 1) on any rank")
        lr = lr_at(self.step, cfg.lr, cfg.lr_warmup_steps, cfg.lr_schedule, cfg.total_steps)
        set_lr(self.engine.optimizer, lr)
        sums = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "clip_frac": 0.0}
        grad_norms = []
        adv = None if step.single_pass else step.advantages(cfg)
        for _ in range(cfg.ppo_epochs):
            for k, (idx, mb) in enumerate(step.micro):
                self.engine.set_gradient_accumulation_boundary(k == len(step.micro) - 1)
                logits = self._logits(self.engine, mb)
                logp = token_logprobs(logits, mb.targets, step.temperature)
                old = step.old_logp[k]
                if step.single_pass:
                    with torch.no_grad():
                        old = self._observe(logits.detach(), mb, idx, step, logp)
                        if step.stale:
                            step.is_weights[k] = self._is_weights(old, mb, idx, step)
                    ref = old if (self.kl and step.ref_is_policy) else step.ref_logp[k]
                    rows = step.advantages(cfg)[idx] if idx else None
                else:
                    ref = step.ref_logp[k]
                    rows = adv[idx] if idx else None
                del logits
                adv_mb = (
                    rows.to(self.device)
                    if rows is not None
                    else torch.zeros(mb.mask.size(0), device=self.device)
                )
                pg, clip = policy_loss(
                    logp,
                    old,
                    adv_mb,
                    mb.loss_mask,
                    cfg.clip_eps,
                    cfg.clip_eps_high,
                    global_tokens,
                    step.is_weights[k],
                )
                loss = pg
                if ref is not None:
                    kl = masked_mean(kl_k3(logp, ref), mb.loss_mask, global_tokens)
                    loss = pg + cfg.kl_coef * kl
                    sums["kl"] += kl.item()
                self.engine.backward(loss * self.world_size)  # DeepSpeed averages over ranks
                sums["loss"] += loss.item()
                sums["pg_loss"] += pg.item()
                sums["clip_frac"] += float(clip)
            grad_norms.append(self._optimizer_step())
        self.step += 1
        return sums, grad_norms, lr, global_tokens

    def _step_metrics(self, step: _Step, sums, grad_norms, lr, global_tokens, t_recompute, t_update) -> dict:
        """The step's metrics over the global batch: every rank's sums all-reduced by name."""
        cfg = self.cfg
        base = group_advantages(step.rewards, cfg.adv_eps)
        adv = step.advantages(cfg)
        real = [mb for idx, mb in step.micro if idx]
        g = self._all_reduce_named(
            {
                **{k: v / cfg.ppo_epochs for k, v in sums.items()},
                "entropy": step.stats.entropy_sum,
                "cot": float(step.cot.sum()),
                "seqs": adv.numel(),
                "adv": float(adv.sum()),
                "adv_sq": float((adv**2).sum()),
                "bonus": float((adv - base.view(-1)).sum()),
                "reward": float(step.rewards.sum()),
                "zero_std_groups": float((base == 0).all(dim=1).sum()),
                "groups": step.rewards.size(0),
                "gap": step.stats.gap_sum,
                "gap_n": step.stats.gap_n,
                "seq_tokens": step.seq_tokens,
                "real_tokens": sum(mb.num_tokens for mb in real),
                "slot_tokens": sum(mb.num_slots for mb in real),
                "is": step.stats.is_sum,
                "is_capped": step.stats.is_capped,
            }
        )
        seqs, adv_mean = g["seqs"], g["adv"] / g["seqs"]
        elapsed = t_recompute + t_update
        metrics = {
            **{k: g[k] for k in sums},
            "grad_norm": sum(grad_norms) / len(grad_norms),
            "entropy/cot": g["cot"] / seqs,
            "entropy/token": g["entropy"] / global_tokens,
            "adv/mean": adv_mean,
            "adv/std": math.sqrt(max(0.0, g["adv_sq"] / seqs - adv_mean**2) * seqs / max(1.0, seqs - 1)),
            "adv/bonus_mean": g["bonus"] / seqs,
            "reward/mean": g["reward"] / seqs,
            "frac_zero_std_groups": g["zero_std_groups"] / g["groups"],
            "lr": lr,
            "tokens": global_tokens,
            # prompt + completion tokens of the global batch per second of learner time (recompute + update)
            "throughput/tokens_per_s": g["seq_tokens"] / elapsed if elapsed > 0 else 0.0,
            # share of the forward passes' token slots that are padding (micro-batches are length-sorted)
            "learner/padding_fraction": 1.0 - g["real_tokens"] / g["slot_tokens"]
            if g["slot_tokens"]
            else 0.0,
            "time/recompute": t_recompute,
            "time/update": t_update,
        }
        if g["gap_n"] > 0:
            metrics["logprob_diff/sampler_vs_learner"] = g["gap"] / g["gap_n"]
            if step.stale:  # the truncated importance-sampling correction was applied
                metrics["is/weight_mean"] = g["is"] / g["gap_n"]
                metrics["is/capped_fraction"] = g["is_capped"] / g["gap_n"]
        return metrics

    # -- supervised warm start --------------------------------------------------------------------

    def sft_step(self, batch: dict) -> dict:
        """One supervised step: token-mean cross-entropy of the completion tokens given the prompts.

        Uses the same engine and optimizer; ``batch["lr"]`` (default: the peak ``lr`` setting) applies
        to this step only, and SFT steps do not advance the RL learning-rate schedule. After a warm
        start call :meth:`reset_reference` (the KL's "initial policy" becomes the warm-started one)
        and :meth:`reset_optimizer` (drop the SFT-sized Adam moments).
        """
        prompts, completions = batch["prompt_ids"], batch["completion_ids"]
        if len(prompts) != len(completions) or not prompts:
            raise ValueError(
                f"sft_step needs as many prompts as completions (> 0): {len(prompts)}, {len(completions)}"
            )
        t0 = time.perf_counter()
        micro = self._micro_batches(prompts, completions)
        global_tokens = self._all_reduce([sum(int(mb.mask.sum()) for _, mb in micro)])[0]
        lr = float(batch.get("lr", self.cfg.lr))
        set_lr(self.engine.optimizer, lr)
        total = 0.0
        for k, (_, mb) in enumerate(micro):
            self.engine.set_gradient_accumulation_boundary(k == len(micro) - 1)
            logp = token_logprobs(self._logits(self.engine, mb), mb.targets)
            loss = -masked_mean(logp, mb.mask, max(global_tokens, 1.0))
            self.engine.backward(loss * self.world_size)
            total += loss.item()
        grad_norm = self._optimizer_step()
        seconds = time.perf_counter() - t0
        loss = self._all_reduce([total])[0]
        return {
            "loss": loss,
            "sft/loss": loss,
            "grad_norm": grad_norm,
            "lr": lr,
            "tokens": global_tokens,
            "time/sft": seconds,
        }

    def reset_reference(self) -> None:
        """Make the current policy the frozen KL reference (call after a warm start). Collective under ZeRO-3.

        With LoRA the adapters are merged into the base, which is the reference, and start again from
        zero (call :meth:`reset_optimizer` too)."""
        if self.lora:
            lora.merge_into_base(self.policy.lm)
            self.reference_is_source = False
            return
        weights = full_state_dict(self.policy.lm, self.cfg.zero_stage)
        if self.reference is not None:
            self.reference.lm.load_state_dict(weights)
            self.reference_is_source = False

    def _weights(self) -> dict[str, torch.Tensor]:
        """The policy's full weights under the model's names (LoRA: merged). Collective under ZeRO-3."""
        if self.lora:
            return lora.merged_state_dict(self.policy.lm)
        return full_state_dict(self.policy.lm, self.cfg.zero_stage)

    def reset_optimizer(self) -> None:
        """Forget the Adam moments (they are re-initialised lazily on the next step)."""
        base_optimizer(self.engine).state.clear()

    # -- diagnostics ------------------------------------------------------------------------------

    def compute_logprobs(
        self, prompt_ids: list[list[int]], completion_ids: list[list[int]], temperature: float = 1.0
    ) -> list[list[float]]:
        """Per-token log-probs of each completion under the current policy at ``temperature`` (no grad)."""
        out: list[list[float]] = [[] for _ in prompt_ids]
        with torch.no_grad():
            for idx, mb in self._micro_batches(prompt_ids, completion_ids):
                logp = token_logprobs(self._logits(self.engine, mb), mb.targets, temperature).cpu()
                for row, i in enumerate(idx):
                    out[i] = logp[row, : len(completion_ids[i])].tolist()
        return out

    # -- weights and checkpoints ------------------------------------------------------------------

    def export_weights(self, bucket_bytes: int = 256 << 20):
        """The policy's tensors (HF state-dict names) as flat buffers + index (``common.flat_weights``).

        Gathers ZeRO-3 shards first (collective: every rank calls it); rank 0 returns the buffers,
        the other ranks return ``([], [])``.
        """
        from common.flat_weights import pack

        weights = self._weights()
        if self.rank != 0:
            return [], []
        return pack(weights.items(), bucket_bytes)

    def weight_index(self, bucket_bytes: int = 256 << 20) -> list:
        """The index (names, shapes, dtypes, offsets) that :meth:`broadcast_weights` will send; it does
        not change during a run, so receivers can allocate their buffers once. Rank 0 answers."""
        return self.export_weights(bucket_bytes)[1]

    def init_weight_group(
        self,
        master_addr: str,
        master_port: int,
        world_size: int,
        backend: str | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        """Join the weight-sync group (``common.weight_group``) as its rank 0, the sender; the rollout
        workers are ranks 1..world_size-1 and must join at the same time. Only learner rank 0 joins."""
        from common.weight_group import create_weight_group

        if self.rank == 0:
            if self._weight_group is not None:
                self._weight_group.close()
                self._weight_group = None
            self._weight_group = create_weight_group(
                master_addr, master_port, 0, world_size, backend or self.cfg.backend, timeout_s
            )

    def broadcast_weights(self, bucket_bytes: int = 256 << 20) -> list:
        """Send the policy's flat buffers to the weight-sync group (receivers call their
        ``receive_weights(index, version)`` at the same time). Every learner rank calls it (ZeRO-3
        gathers); rank 0 broadcasts and returns the index, the others return ``[]``."""
        buffers, index = self.export_weights(bucket_bytes)
        if self.rank != 0:
            return []
        group = self._weight_group
        if group is None:
            raise RuntimeError(
                "broadcast_weights: call init_weight_group first (no weight-sync group joined)"
            )
        group.broadcast([b.to(group.device) for b in buffers], src=0)
        return index

    def save_checkpoint(self, path: str, training_state: bool = True) -> None:
        """HF model + tokenizer + training state at ``path`` (written to a temp dir, then renamed).

        ``training_state=False`` writes only the HF directory (no optimizer/engine state, so it cannot
        be resumed with :meth:`load_checkpoint`; e.g. the warm-start model, which RL loads as a model).
        """
        path = Path(path)
        tmp = ckpt.temp_dir_for(path)
        if self.rank == 0:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self._barrier()
        if training_state:
            self.engine.save_checkpoint(
                str(tmp / ckpt.DEEPSPEED_DIR),
                tag=ckpt.DEEPSPEED_TAG,
                client_state={"rl_step": self.step},
                save_latest=False,
                exclude_frozen_parameters=self.lora,  # LoRA: the base is the model (or reference) file
            )
        weights = self._weights() if not self.lora or self.cfg.lora_save_merged else None
        if self.rank == 0:
            state = {
                "rl_step": self.step,
                "source_model": str(self.model_path),
                "world_size": self.world_size,
                "settings": self.cfg.as_dict(),
            }
            reference = None
            if self.lora and not self.reference_is_source:
                reference = lora.base_state_dict(self.policy.lm)
            elif self.reference is not None and not self.reference_is_source:
                reference = self.reference.lm.state_dict()
            ckpt.write_hf_dir(self.policy.lm, weights, tmp, self.model_path, state, reference)
            if self.lora:
                lora.save_adapter(self.policy.lm, tmp, str(self.model_path))
        self._barrier()
        if self.rank == 0:
            ckpt.publish(tmp, path)
        self._barrier()

    def load_checkpoint(self, path: str) -> int:
        """Resume from :meth:`save_checkpoint`'s directory (same world size and ZeRO stage); returns the RL step."""
        path = Path(path)
        state = ckpt.read_state(path)
        if state.get("world_size") != self.world_size and self.cfg.zero_stage > 0:
            raise ValueError(
                f"checkpoint {path} was written by {state.get('world_size')} learner(s) under ZeRO; "
                f"this run has {self.world_size}"
            )
        loaded, client = self.engine.load_checkpoint(
            str(path / ckpt.DEEPSPEED_DIR),
            tag=ckpt.DEEPSPEED_TAG,
            load_lr_scheduler_states=False,
            load_module_strict=not self.lora,  # LoRA: the engine state holds the adapters only
        )
        if loaded is None:
            raise FileNotFoundError(f"DeepSpeed found no engine state under {path / ckpt.DEEPSPEED_DIR}")
        self.step = int(client.get("rl_step", state["rl_step"]))
        reference = ckpt.read_reference(path)
        if self.lora and reference is not None:
            lora.load_base(self.policy.lm, reference)
            self.reference_is_source = False
        elif self.reference is not None and reference is not None:
            self.reference.lm.load_state_dict(reference)
            self.reference_is_source = False
        return self.step

    def _barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()
