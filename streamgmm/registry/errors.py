"""The model registry's errors (all are :class:`streamgmm.StreamGMMError`)."""

from __future__ import annotations

from pathlib import Path

from streamgmm.core.errors import StreamGMMError

__all__ = [
    "RegistryError",
    "ModelNotFoundError",
    "ArtifactIntegrityError",
    "UnsupportedSchemaVersionError",
    "ReadOnlyRegistryError",
    "RegistryLockTimeoutError",
    "RegistryWriteError",
    "write_error",
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


class RegistryWriteError(RegistryError, OSError):
    """The filesystem refused a registry write (full disk, quota, read-only mount, permissions).

    Still an ``OSError`` (same ``errno``; the message names the file or folder that failed),
    and a ``RegistryError``, so the command line reports it as a one-line error.
    """


def write_error(exc: OSError, path: Path, context: str) -> RegistryWriteError:
    """``exc`` as a :class:`RegistryWriteError` naming ``path`` and saying what it means.

    Parameters
    ----------
    exc : OSError
        What the filesystem raised; ``write()`` errors such as ENOSPC name no file.
    path : Path
        The file or folder being written.
    context : str
        What the failure means for the registry and the way out, appended to the message.
    """
    reason = exc.strerror or str(exc)
    # No filename argument: OSError would append it to the message a second time.
    return RegistryWriteError(exc.errno, f"{reason} while writing {path}. {context}")
