"""The rollout batch: one step's groups as they travel from the driver to the learner ranks.

The driver builds it from the scored rollouts (``cluster/step.py``), the learner group cuts it into
whole groups per rank (:meth:`RolloutBatch.shard`), and each learner reads the groups as they are:
every prompt once, its ``G`` completions beside it. Nothing is repeated and re-discovered on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class RolloutBatch:
    """``P`` groups of ``G`` rollouts each: one prompt per group, ``[P][G]`` everything else.

    Rows flatten group-major (row ``p * G + g`` is completion ``g`` of prompt ``p``), the order the
    learner's micro-batches and per-row values use. The dataclass is frozen, its lists are not
    copied: do not change them after building a batch. It pickles as it is (Ray actor calls).

    A completion may be a multi-turn trajectory: the model's turns with the environment's and the
    user's tokens between them. ``loss_mask[p][g]`` then holds one 0/1 per completion token (1 = the
    model sampled it): every token stays in the sequence the learner runs, but only the model's take
    loss, KL and the CoT entropy of Eq. 4. None (the default) means every completion token is the
    model's own, as in single-turn batches.
    """

    prompt_ids: list[list[int]]  # [P]: each group's prompt, once
    completion_ids: list[list[list[int]]]  # [P][G] sampled token ids
    # [P][G] the sampler's (vLLM's) log-prob of each sampled token, one per completion token;
    # None when not known (the learner then logs no sampler gap and applies no importance weights)
    sampler_logprobs: list[list[list[float]]] | None
    # [P][G] 1 where the model sampled the completion token, 0 on environment and user tokens (no
    # loss; their sampler log-probs are not read); None: every completion token is the model's
    loss_mask: list[list[list[int]]] | None = None
    rewards: list[list[float]]  # [P][G]
    temperature: float  # the sampling temperature (the learner's log-probs use logits / T)
    staleness: int  # policy versions between the sampler and the policy being updated (0: on-policy)

    def __post_init__(self) -> None:
        num = len(self.prompt_ids)
        if num == 0:
            raise ValueError("a rollout batch needs at least one group (got 0 prompts)")
        if len(self.completion_ids) != num or len(self.rewards) != num:
            raise ValueError(
                "a rollout batch needs one group of completions and one of rewards per prompt: "
                f"{num} prompt_ids, {len(self.completion_ids)} completion groups, "
                f"{len(self.rewards)} reward groups"
            )
        size = len(self.completion_ids[0])
        if size == 0:
            raise ValueError("a rollout batch's groups need at least one completion (group 0 is empty)")
        uneven = [p for p, group in enumerate(self.completion_ids) if len(group) != size]
        if uneven:
            raise ValueError(
                f"every group needs G = {size} completions (as group 0 has); groups differing: {uneven[:5]}"
            )
        short = [p for p, group in enumerate(self.rewards) if len(group) != size]
        if short:
            raise ValueError(
                f"every group needs one reward per completion (G = {size}); groups differing: {short[:5]}"
            )
        self._check_per_token("sampler_logprobs", self.sampler_logprobs)
        self._check_per_token("loss_mask", self.loss_mask)
        if self.loss_mask is not None:
            odd = [
                (p, g)
                for p, group in enumerate(self.loss_mask)
                for g, row in enumerate(group)
                if not set(row) <= {0, 1}
            ]
            if odd:
                raise ValueError(
                    "loss_mask must hold only 0 (environment or user token) or 1 (model token); "
                    f"(group, completion) with other values: {odd[:5]}"
                )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.staleness < 0:
            raise ValueError(f"staleness must be >= 0, got {self.staleness}")

    def _check_per_token(self, name: str, values: list | None) -> None:
        """``values`` (None, or ``[P][G]`` lists) must hold one entry per completion token."""
        if values is None:
            return
        num, size = len(self.prompt_ids), len(self.completion_ids[0])
        bad = [
            (p, g)
            for p in range(min(num, len(values)))
            for g in range(size)
            if len(values[p]) != size or len(values[p][g]) != len(self.completion_ids[p][g])
        ]
        if len(values) != num or bad:
            raise ValueError(
                f"{name} must match completion_ids token for token ([P][G] per-token lists); "
                f"{len(values)} groups for {num} prompts, (group, completion) differing: {bad[:5]}"
            )

    @property
    def num_groups(self) -> int:
        """P, the number of prompts (groups)."""
        return len(self.prompt_ids)

    @property
    def group_size(self) -> int:
        """G, the completions per prompt."""
        return len(self.completion_ids[0])

    @property
    def num_rollouts(self) -> int:
        """P * G, the rows."""
        return self.num_groups * self.group_size

    def flat_prompts(self) -> list[list[int]]:
        """Each row's prompt, group-major (each group's prompt G times; the lists are shared)."""
        return [prompt for prompt in self.prompt_ids for _ in range(self.group_size)]

    def flat_completions(self) -> list[list[int]]:
        """Each row's completion ids, group-major."""
        return [c for group in self.completion_ids for c in group]

    def flat_sampler_logprobs(self) -> list[list[float]] | None:
        """Each row's sampler log-probs, group-major (None when the batch carries none)."""
        if self.sampler_logprobs is None:
            return None
        return [row for group in self.sampler_logprobs for row in group]

    def flat_loss_mask(self) -> list[list[int]] | None:
        """Each row's loss mask, group-major (None when every completion token is the model's)."""
        if self.loss_mask is None:
            return None
        return [row for group in self.loss_mask for row in group]

    def shard(self, n: int) -> list[RolloutBatch]:
        """``n`` batches of whole, consecutive groups, one per data-parallel rank (the advantage of
        Eq. 1 needs the whole group). The groups must divide evenly (the config asks that
        ``train.prompts_per_step`` be a multiple of ``learner.num_learners``)."""
        if n < 1:
            raise ValueError(f"cannot shard a rollout batch into {n} parts")
        if n == 1:
            return [self]
        if self.num_groups % n:
            raise ValueError(
                f"{self.num_groups} groups do not split evenly over {n} learner ranks "
                "(each takes whole groups)"
            )
        per = self.num_groups // n

        def part(values, rank):
            return None if values is None else values[rank * per : (rank + 1) * per]

        return [
            replace(
                self,
                prompt_ids=part(self.prompt_ids, rank),
                completion_ids=part(self.completion_ids, rank),
                sampler_logprobs=part(self.sampler_logprobs, rank),
                loss_mask=part(self.loss_mask, rank),
                rewards=part(self.rewards, rank),
            )
            for rank in range(n)
        ]
