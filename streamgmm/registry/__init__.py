"""Versioned model artifacts: an immutable, verifiable model registry with lineage.

A model version is a folder ``<root>/models/<name>/<version>/`` holding the
parameters (``parameters.npz``, never pickled) and ``metadata.json`` (lineage,
training config, data source, metrics, library versions, sha256 of every file).
Publishing is atomic and race-free, aliases (``latest``, ``production``) move
atomically, and loading verifies checksums and schema.

The checksums detect corruption and accidental edits, not deliberate
tampering: whoever can write the folder can rewrite a file and its checksum.
Restrict write access to the registry (or sign its folders) for that.

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
from .sklearn_interop import from_sklearn, from_sklearn_bayesian, to_sklearn, to_sklearn_bayesian
from .version import ModelVersion

__all__ = [
    "LATEST",
    "SCHEMA_VERSION",
    "ComponentMatch",
    "FileRecord",
    "GcReport",
    "ModelMetadata",
    "ModelRef",
    "ModelRegistry",
    "ModelVersion",
    "ParameterDiff",
    "TrainingMetrics",
    "diff_parameters",
    "from_sklearn",
    "from_sklearn_bayesian",
    "match_components",
    "to_sklearn",
    "to_sklearn_bayesian",
]
