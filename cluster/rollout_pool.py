"""The rollout pool: rollout workers (one vLLM engine each) behind one ``generate`` call.

Prompts of a step are split over the workers, generated in parallel and returned in request
order; new weights go to every worker with their policy version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from cluster.config import ModelConfig, RolloutConfig
from cluster.ray_setup import actor_options


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one ``generate`` call."""

    group_size: int
    temperature: float
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None

    @classmethod
    def from_config(cls, cfg: RolloutConfig, seed: int | None) -> Sampling:
        return cls(cfg.group_size, cfg.temperature, cfg.top_p, cfg.max_new_tokens, seed)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous [start, end) ranges covering range(n) as evenly as possible."""
    size, extra = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        bounds.append((start, end))
        start = end
    return [b for b in bounds if b[1] > b[0]]


class RolloutPool:
    """``num_workers`` RolloutWorker actors named ``rollout-<i>``."""

    def __init__(
        self, model_dir: str, model: ModelConfig, rollout: RolloutConfig, name_prefix: str = "rollout"
    ):
        from actors.rollout import RolloutWorker

        self.version = 0
        self._engine_kwargs = dict(
            dtype=model.dtype,
            max_model_len=model.max_model_len,
            gpu_memory_utilization=rollout.gpu_memory_utilization,
            tensor_parallel_size=rollout.tensor_parallel_size,
            enable_prefix_caching=rollout.enable_prefix_caching,
            seed=rollout.seed,
        )
        self.workers = [
            RolloutWorker.options(
                **actor_options(f"{name_prefix}-{i}", rollout.cpus_per_worker, rollout.gpus_per_worker)
            ).remote(str(model_dir), **self._engine_kwargs)
            for i in range(rollout.num_workers)
        ]
        ray.get([w.ping.remote() for w in self.workers])  # engine start errors surface here

    @property
    def size(self) -> int:
        return len(self.workers)

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[list[dict[str, Any]]]:
        """G completions per prompt (request order), spread over the workers."""
        ranges = _split(len(prompts), len(self.workers))
        futures = []
        for worker, (start, end) in zip(self.workers, ranges, strict=False):
            seed = None if sampling.seed is None else sampling.seed * 1_000_003 + start
            futures.append(
                worker.generate.remote(
                    prompts[start:end],
                    sampling.group_size,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_new_tokens=sampling.max_new_tokens,
                    seed=seed,
                )
            )
        groups: list[list[dict[str, Any]]] = []
        for part in ray.get(futures):
            groups.extend(part)
        return groups

    def update_weights(self, buffers: list, index: list, version: int) -> None:
        """Send one set of flat buffers to every worker (one object-store put, shared)."""
        buffers_ref = ray.put(buffers)
        ray.get([w.update_weights.remote(buffers_ref, index, version) for w in self.workers])
        self.version = version

    def shutdown(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
