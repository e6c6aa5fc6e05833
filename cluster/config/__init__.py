"""The run config: one typed pydantic tree, loaded from a YAML preset plus ``key.sub=value`` overrides.

Every field says what it is, its unit, its default and where that default comes from. Bad
input fails before any work starts with a :class:`ConfigError` that names the field path,
the value given and what was expected (an unknown key names the closest valid one).

The package, by job: ``base`` (errors, the section base, paths), ``inputs`` (model, data),
``roles`` (rollout, reward, learner, cluster), ``algorithm``, ``run`` (the whole tree and its
cross-section checks), ``load`` (presets, overrides, validation, saving).
"""

from cluster.config.algorithm import AlgorithmConfig
from cluster.config.base import CONFIGS_DIR, DEFAULT_PRESET, REPO_ROOT, ConfigError, Section
from cluster.config.inputs import DataConfig, ModelConfig
from cluster.config.load import apply_override, load_config, parse_value, preset_path, save_config, validate
from cluster.config.roles import ClusterConfig, LearnerConfig, LoraConfig, RewardConfig, RolloutConfig
from cluster.config.run import LoggingConfig, RunConfig, TrainConfig

__all__ = [
    "CONFIGS_DIR",
    "DEFAULT_PRESET",
    "REPO_ROOT",
    "AlgorithmConfig",
    "ClusterConfig",
    "ConfigError",
    "DataConfig",
    "LearnerConfig",
    "LoggingConfig",
    "LoraConfig",
    "ModelConfig",
    "RewardConfig",
    "RolloutConfig",
    "RunConfig",
    "Section",
    "TrainConfig",
    "apply_override",
    "load_config",
    "parse_value",
    "preset_path",
    "save_config",
    "validate",
]
