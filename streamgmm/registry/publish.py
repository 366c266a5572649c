"""Publishing a version: stage it whole, then make it visible in one rename.

The steps, and what a crash at each one leaves behind:

1. Write the parameter file into ``.staging/<id>/`` and fsync it. A crash
   leaves an invisible staging folder (gc removes it later).
2. Take the model's lock; allocate the next version number; write
   ``metadata.json`` (it records the number and the checksum of every other
   file) into the staging folder, and the new ``aliases.json`` (``latest`` and
   any aliases asked for pointing at ``<n>``) to a hidden temporary file. A
   crash or a failed write (full disk, quota): same as 1, and the kernel frees
   the lock. Every byte is written by now, so the steps below cannot fail for
   lack of space.
3. ``rename(.staging/<id>, <n>)``: the version appears complete, or not at all.
   Two publishers never get the same ``<n>`` because both allocate and rename
   under the lock.
4. ``os.replace`` the prepared ``aliases.json``; release the lock. A crash
   between 3 and 4 leaves ``<n>`` visible and complete, with ``latest`` still
   on the previous (valid) version until the next publish.

A failed write raises :class:`.errors.RegistryWriteError` (an ``OSError``
naming the file) saying whether anything was published.

Only steps 2-4 hold the lock, and they write a few hundred bytes, so concurrent
publishers wait for each other for milliseconds, not for a whole model write.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..io.atomic import fsync_directory, prepare_replacement, replace_directory, write_new_file
from .aliases import ALIASES_FILENAME, AliasRecord, encode_aliases
from .layout import (
    LOCK_FILENAME,
    MODELS_DIRNAME,
    STAGING_DIRNAME,
    list_versions,
    next_version,
    read_aliases,
)
from .locking import model_lock
from .metadata import METADATA_FILENAME, ModelMetadata, encode_metadata
from .names import LATEST, version_dirname
from .errors import RegistryError, write_error
from .storage import LocalStore

__all__ = ["publish_version"]

#: Test hook, ``hook(event, path)``, called after each step: ``"file-written"``
#: (a staged file), ``"staged"`` (all files staged, lock held, before the rename),
#: ``"committed"`` (renamed into place, before the aliases are updated). Tests set
#: it in a child process to pause or kill a publisher at a chosen step.
_hook: Callable[[str, Path], None] | None = None

# Published files are read-only: versions are immutable, and this stops an
# accidental in-place edit (the checksums would catch it, but later).
_READ_ONLY = 0o444


def _notify(event: str, path: Path) -> None:
    if _hook is not None:
        _hook(event, path)


def publish_version(
    store: LocalStore,
    draft: ModelMetadata,
    payloads: Mapping[str, bytes],
    *,
    aliases: Sequence[str] = (),
    lock_timeout: float,
) -> ModelMetadata:
    """Write a new version of ``draft.name`` and make it visible atomically.

    Parameters
    ----------
    store : LocalStore
        The registry's folder.
    draft : ModelMetadata
        Complete metadata except ``version`` and ``created_at``, which are set
        here; its ``files`` must describe ``payloads``.
    payloads : mapping of str to bytes
        File name -> contents, besides ``metadata.json``.
    aliases : sequence of str
        Validated user aliases to point at the new version, besides ``latest``.
    lock_timeout : float
        Seconds to wait for the model's lock.

    Returns
    -------
    ModelMetadata
        The metadata as published, with its version number.
    """
    model_dir = store.path(MODELS_DIRNAME, draft.name)
    staging = model_dir / STAGING_DIRNAME / f"{os.getpid()}-{uuid.uuid4().hex}"
    committed = False
    pending_aliases: Path | None = None
    version: int | None = None
    try:
        staging.mkdir(parents=True)
        for filename, data in payloads.items():
            write_new_file(staging / filename, data, mode=_READ_ONLY)
            _notify("file-written", staging / filename)
        with model_lock(model_dir / LOCK_FILENAME, timeout=lock_timeout):
            current_aliases = read_aliases(store, draft.name)
            version = next_version(list_versions(store, draft.name), current_aliases)
            now = datetime.now(UTC)
            metadata = dataclasses.replace(draft, version=version, created_at=now)
            write_new_file(staging / METADATA_FILENAME, encode_metadata(metadata), mode=_READ_ONLY)
            fsync_directory(staging)
            updated = dict(current_aliases)
            for alias in (LATEST, *aliases):
                updated[alias] = AliasRecord(version=version, updated_at=now)
            # The new aliases.json is written before the commit, so only renames remain after
            # it: a full disk or a quota cannot strike between the version appearing and
            # `latest` naming it (it would leave a published version from a failed publish).
            pending_aliases = prepare_replacement(
                model_dir / ALIASES_FILENAME, encode_aliases(draft.name, updated)
            )
            _notify("staged", staging)
            target = model_dir / version_dirname(version)
            replace_directory(staging, target, overwrite=False)  # the commit point
            committed = True
            _notify("committed", target)
            os.replace(pending_aliases, model_dir / ALIASES_FILENAME)
            pending_aliases = None
            fsync_directory(model_dir)  # makes both renames durable
    except OSError as exc:
        if isinstance(exc, RegistryError):
            raise
        where = Path(exc.filename) if exc.filename else model_dir
        if committed:
            outcome = (
                f"Version {version} of {draft.name!r} is published and complete, but 'latest' "
                "and the requested aliases were not moved to it; point them with `promote`."
            )
        else:
            outcome = (
                f"Nothing was published: the registry at {store.describe()} is as it was. Free "
                "space, raise the file-size limit or make the folder writable, then publish again."
            )
        raise write_error(exc, where, outcome) from exc
    finally:
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
        if pending_aliases is not None:
            pending_aliases.unlink(missing_ok=True)
    return metadata
