"""Changing what a model's aliases point to, and removing old versions.

Both run under the model's lock, so ``gc`` can never delete a version that a
concurrent ``promote`` is pointing an alias at, and two alias updates never
lose each other. ``gc`` first renames a doomed version into ``.trash/`` (one
atomic step that makes it invisible) and only then deletes its files, so a gc
killed halfway leaves no half-deleted version in sight.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from dataclasses import dataclass
from datetime import UTC, datetime

from streamgmm.core.errors import InvalidParameterError
from streamgmm.io.atomic import atomic_write_bytes, fsync_directory
from streamgmm.registry.errors import ModelNotFoundError, RegistryError, write_error

from .aliases import ALIASES_FILENAME, AliasRecord, encode_aliases
from .layout import (
    LOCK_FILENAME,
    MODELS_DIRNAME,
    STAGING_DIRNAME,
    TRASH_DIRNAME,
    list_versions,
    read_aliases,
)
from .locking import model_lock
from .names import version_dirname
from .storage import LocalStore

__all__ = ["GcReport", "collect_garbage", "remove_alias", "set_aliases"]


@dataclass(frozen=True, kw_only=True)
class GcReport:
    """What a garbage collection removed (or would remove, on a dry run).

    Parameters
    ----------
    removed : tuple of int
        Versions deleted (or to be deleted).
    kept : tuple of int
        Versions left: the newest ``keep_last`` and every aliased one.
    stale_staging : int
        Abandoned staging folders (from killed publishers) deleted; their prepared
        ``aliases.json`` files are deleted too.
    dry_run : bool
    """

    removed: tuple[int, ...]
    kept: tuple[int, ...]
    stale_staging: int
    dry_run: bool


@contextlib.contextmanager
def _writing(model_dir: Path, outcome: str) -> Iterator[None]:
    """Turn a filesystem refusal (read-only mount, full disk, quota) into a RegistryWriteError.

    ``outcome`` says what the failure left behind and the way out.
    """
    try:
        yield
    except OSError as exc:
        if isinstance(exc, RegistryError):
            raise
        raise write_error(exc, Path(exc.filename) if exc.filename else model_dir, outcome) from exc


_UNCHANGED = (
    "The aliases are unchanged. Make the registry folder writable (or free space), then retry."
)


def set_aliases(
    store: LocalStore, name: str, targets: Mapping[str, int], *, lock_timeout: float
) -> None:
    """Point each alias in ``targets`` at its version, in one atomic update.

    Raises
    ------
    ModelNotFoundError
        If a target version no longer exists when the lock is held.
    """
    model_dir = store.path(MODELS_DIRNAME, name)
    with _writing(model_dir, _UNCHANGED), model_lock(model_dir / LOCK_FILENAME, timeout=lock_timeout):
        versions = set(list_versions(store, name))
        missing = sorted(set(targets.values()) - versions)
        if missing:
            raise ModelNotFoundError(
                f"Model {name!r} has no version {missing[0]} in {store.describe()} (it may "
                "just have been garbage-collected); choose one of `list`."
            )
        aliases = read_aliases(store, name)
        now = datetime.now(UTC)
        for alias, version in targets.items():
            aliases[alias] = AliasRecord(version=version, updated_at=now)
        atomic_write_bytes(model_dir / ALIASES_FILENAME, encode_aliases(name, aliases))


def remove_alias(store: LocalStore, name: str, alias: str, *, lock_timeout: float) -> int:
    """Delete an alias; returns the version it pointed at.

    Raises
    ------
    ModelNotFoundError
        If the model has no such alias.
    """
    model_dir = store.path(MODELS_DIRNAME, name)
    with _writing(model_dir, _UNCHANGED), model_lock(model_dir / LOCK_FILENAME, timeout=lock_timeout):
        aliases = read_aliases(store, name)
        if alias not in aliases:
            raise ModelNotFoundError(
                f"Model {name!r} has no alias {alias!r}; its aliases are {sorted(aliases)}."
            )
        record = aliases.pop(alias)
        atomic_write_bytes(model_dir / ALIASES_FILENAME, encode_aliases(name, aliases))
        return record.version


def collect_garbage(
    store: LocalStore,
    name: str,
    *,
    keep_last: int,
    dry_run: bool,
    staging_grace: float,
    lock_timeout: float,
) -> GcReport:
    """Delete all but the newest ``keep_last`` versions, sparing every aliased version.

    Parameters
    ----------
    store : LocalStore
    name : str
    keep_last : int
        How many of the newest versions to keep; at least 1, so the newest
        version (and with it the version-number high-water mark) always stays.
    dry_run : bool
        Report without deleting anything.
    staging_grace : float
        Staging folders untouched for this many seconds are taken as abandoned
        by a killed publisher and deleted. Publishing takes milliseconds, so
        the default hour leaves a live publisher alone with a wide margin.
    lock_timeout : float

    Returns
    -------
    GcReport
    """
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise InvalidParameterError(
            "keep_last must be an integer >= 1 (the newest version is always kept); "
            f"got {keep_last!r}."
        )
    model_dir = store.path(MODELS_DIRNAME, name)
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"No model named {name!r} in {store.describe()}.")
    outcome = (
        "Every version still listed is complete; versions already moved to .trash are "
        "invisible and are deleted by the next gc. Make the registry folder writable, then "
        "run gc again."
    )
    with _writing(model_dir, outcome), model_lock(model_dir / LOCK_FILENAME, timeout=lock_timeout):
        versions = list_versions(store, name)
        protected = set(versions[-keep_last:]) | {
            r.version for r in read_aliases(store, name).values()
        }
        removed = tuple(v for v in versions if v not in protected)
        kept = tuple(v for v in versions if v in protected)
        if dry_run:
            return GcReport(removed=removed, kept=kept, stale_staging=0, dry_run=True)
        trash = model_dir / TRASH_DIRNAME
        trash.mkdir(exist_ok=True)
        for version in removed:
            os.rename(model_dir / version_dirname(version), trash / f"{version}.{uuid.uuid4().hex}")
        fsync_directory(model_dir)
        # Everything in the trash is invisible; this also finishes a gc killed earlier.
        for entry in os.scandir(trash):
            shutil.rmtree(entry.path, ignore_errors=True)
        stale = 0
        now = time.time()
        for entry in _scandir(model_dir / STAGING_DIRNAME):
            if now - entry.stat().st_mtime > staging_grace:
                shutil.rmtree(entry.path, ignore_errors=True)
                stale += 1
        # A publisher or alias update killed before its rename leaves a prepared aliases.json
        # (a few hundred bytes; not counted in stale_staging, which counts versions' folders).
        for entry in _scandir(model_dir):
            if entry.name.startswith(f".{ALIASES_FILENAME}.") and entry.name.endswith(".tmp"):
                if now - entry.stat().st_mtime > staging_grace:
                    os.unlink(entry.path)
    return GcReport(removed=removed, kept=kept, stale_staging=stale, dry_run=False)


def _scandir(path: os.PathLike[str] | str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except FileNotFoundError:
        return []
