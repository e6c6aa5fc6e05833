"""The rollout worker: one vLLM engine as a Ray actor (architecture.md, ``actors/``).

Create with::

    RolloutWorker.options(num_cpus=0.5, num_gpus=0, name="rollout-0").remote(
        model_path, dtype="float32", max_model_len=2048, gpu_memory_utilization=0.1,
        tensor_parallel_size=1, enable_prefix_caching=True, seed=0)

Methods (all through ``.remote``): ``generate``, ``update_weights``, ``ping``, ``version``
(see :class:`actors.engine.RolloutEngine`). The actor imports vLLM in its own process only; this
module does not. A failed engine start kills the actor with an error naming the model and the
settings: the first ``ray.get`` on it raises instead of hanging.
"""

from __future__ import annotations

import ray

from actors.engine import RolloutEngine


@ray.remote
class RolloutWorker(RolloutEngine):
    """A :class:`RolloutEngine` living in its own Ray actor process."""
