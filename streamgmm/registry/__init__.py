"""Versioned model artifacts: an immutable, verifiable model registry with lineage.

A model version is a folder ``<root>/models/<name>/<version>/`` holding the
parameters (``parameters.npz``, never pickled) and ``metadata.json`` (lineage,
training config, data source, metrics, library versions, sha256 of every file).
Publishing is atomic and race-free, aliases (``latest``, ``production``) move
atomically, and loading verifies checksums and schema.

>>> from streamgmm.registry import ModelRegistry, from_sklearn   # doctest: +SKIP
>>> registry = ModelRegistry("registry")                        # doctest: +SKIP
>>> registry.publish("speech", from_sklearn(gm), metrics={"n_iter": gm.n_iter_})  # doctest: +SKIP
>>> registry.load("speech", "latest").to_sklearn().predict(X)   # doctest: +SKIP
"""

from .diff import ComponentMatch, ParameterDiff, diff_parameters, match_components
from .maintenance import GcReport
from .metadata import (
    SCHEMA_VERSION,
    FileRecord,
    ModelMetadata,
    ModelRef,
    TrainingMetrics,
)
from .names import LATEST
from .registry import ModelRegistry
from .sklearn_interop import from_sklearn, to_sklearn
from .version import ModelVersion

__all__ = [
    "ModelRegistry",
    "ModelVersion",
    "ModelMetadata",
    "ModelRef",
    "TrainingMetrics",
    "FileRecord",
    "GcReport",
    "ParameterDiff",
    "ComponentMatch",
    "diff_parameters",
    "match_components",
    "to_sklearn",
    "from_sklearn",
    "LATEST",
    "SCHEMA_VERSION",
]
