"""Job configs: YAML files validated into frozen config objects.

>>> from streamgmm.config import load_config               # doctest: +SKIP
>>> config = load_config("configs/batch_fit.yaml")          # doctest: +SKIP
>>> config.model.covariance_type                            # doctest: +SKIP
'full'
>>> load_config("configs/select_k.yaml", kind="select_k")  # doctest: +SKIP

Unknown keys are rejected, and every error (a :class:`ConfigError`) names the
file, the key path, the value and what is allowed. Paths may use ``${VAR}``,
``${VAR:-default}`` and ``~``; relative paths are relative to the config file.
"""

from .errors import ConfigError
from .loader import CONFIG_KINDS, load_config, parse_config, save_config
from .schema import (
    SCHEDULER_NAMES,
    BatchFitConfig,
    CheckpointConfig,
    ComputeConfig,
    DataConfig,
    ModelConfig,
    OutputsConfig,
    RegistryConfig,
    SingleModelConfig,
)
from .score import AnomalyConfig, ScoreConfig, ScoreOutputsConfig, ScoreRegistryConfig
from .select_k import CRITERIA, SelectionConfig, SelectKConfig, SelectKModelConfig

__all__ = [
    "CONFIG_KINDS",
    "CRITERIA",
    "SCHEDULER_NAMES",
    "AnomalyConfig",
    "BatchFitConfig",
    "CheckpointConfig",
    "ComputeConfig",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OutputsConfig",
    "RegistryConfig",
    "ScoreConfig",
    "ScoreOutputsConfig",
    "ScoreRegistryConfig",
    "SelectKConfig",
    "SelectKModelConfig",
    "SelectionConfig",
    "SingleModelConfig",
    "load_config",
    "parse_config",
    "save_config",
]
