"""Rollout actors: vLLM engines that sample groups of completions and take new weights in place.

``actors`` is the only package that imports vLLM, and only inside an engine's process.
"""

from actors.rollout import RolloutWorker

__all__ = ["RolloutWorker"]
