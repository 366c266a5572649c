"""The model registry's errors (all are :class:`streamgmm.StreamGMMError`)."""

from __future__ import annotations

from streamgmm.core.errors import StreamGMMError

__all__ = [
    "RegistryError",
    "ModelNotFoundError",
    "ArtifactIntegrityError",
    "UnsupportedSchemaVersionError",
    "ReadOnlyRegistryError",
    "RegistryLockTimeoutError",
]


class RegistryError(StreamGMMError):
    """A model registry operation failed; base of the registry's own errors."""


class ModelNotFoundError(RegistryError, LookupError):
    """A model name, version number or alias does not exist in the registry."""


class ArtifactIntegrityError(RegistryError, ValueError):
    """A stored model file is missing, altered or malformed (checksum or content check failed)."""


class UnsupportedSchemaVersionError(RegistryError, ValueError):
    """A stored document declares a ``schema_version`` this streamgmm cannot read."""


class ReadOnlyRegistryError(RegistryError):
    """A write (publish, promote, gc) was asked of a registry that can only be read here."""


class RegistryLockTimeoutError(RegistryError, TimeoutError):
    """The registry's per-model lock stayed held by another process for too long."""
