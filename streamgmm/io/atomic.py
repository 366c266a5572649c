"""Files and folders that are replaced whole or not at all: the one home of write-then-rename.

A file is written to a hidden temporary sibling, flushed to disk, renamed over the
target, then the folder entry is flushed. A folder is built in a hidden temporary
sibling (:func:`staging_directory`), flushed, then renamed into place
(:func:`replace_directory`); an existing target is first renamed aside and removed
only once the new folder stands in its place. A process killed at any moment leaves
either the previous file/folder or the new one, never a torn mix (at worst a hidden
``.NAME.*.tmp`` sibling), and after the functions return the result survives a
power loss too.

These rely on what a local POSIX filesystem guarantees: ``rename`` of a folder and
``os.replace`` of a file are atomic and ``O_EXCL`` creation is exclusive. Object
stores offer none of these; callers write locally.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_save_npz",
    "atomic_write_bytes",
    "fsync_directory",
    "fsync_tree",
    "replace_directory",
    "staging_directory",
    "write_new_file",
]


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename or creation in it) to disk; a no-op where unsupported."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """Flush every file and folder below ``root`` (and ``root`` itself) to disk.

    Folders are flushed after their contents, so a folder renamed into place after
    this call is complete on disk too.
    """
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            handle = os.open(path, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        fsync_directory(folder)


def write_new_file(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Create ``path`` (it must not exist) with permissions ``mode``, write ``data``, fsync it.

    Raises
    ------
    FileExistsError
        If ``path`` exists (creation is ``O_EXCL``).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes, *, mode: int = 0o644) -> None:
    """Replace the file at ``path`` with ``payload`` atomically and durably.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if needed.
    payload : bytes
    mode : int
        Permissions of the new file (before the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write_new_file(temporary, payload, mode=mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def atomic_save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` at ``path``, atomically and durably."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def staging_directory(target: str | os.PathLike[str], label: str = "partial") -> Path:
    """Create an empty hidden sibling of ``target`` to build it in: ``.NAME.LABEL-XXXX.tmp``.

    A sibling, so that the final rename stays on one filesystem (and is atomic);
    hidden, so that listings and stream sources ignore it while it is incomplete.
    The caller removes it if building fails (:func:`replace_directory` does on success).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{label}-", suffix=".tmp"))


def replace_directory(
    built: str | os.PathLike[str], target: str | os.PathLike[str], *, overwrite: bool = True
) -> None:
    """Move the finished folder ``built`` to ``target``, atomically and durably.

    ``built`` is flushed to disk, then renamed to ``target``. An existing target is
    renamed aside first and removed only once ``built`` stands in its place; if that
    rename fails the old target is put back. On any failure ``built`` is removed and
    ``target`` is as before.

    Parameters
    ----------
    built : path-like
        The complete new folder (e.g. from :func:`staging_directory`), on the same
        filesystem as ``target``.
    target : path-like
        Where it goes.
    overwrite : bool
        Replace an existing ``target`` (folder, file or link); if False, an existing
        or concurrently created ``target`` raises instead.

    Raises
    ------
    FileExistsError
        If ``target`` exists (or appears meanwhile) and ``overwrite`` is False.
    """
    built, target = Path(built), Path(target)
    try:
        fsync_tree(built)
        if overwrite and (target.exists() or target.is_symlink()):
            retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}.tmp")
            os.rename(target, retired)
            try:
                os.rename(built, target)
            except BaseException:
                os.rename(retired, target)  # roll back: the old target stays in place
                raise
            fsync_directory(target.parent)
            if retired.is_dir() and not retired.is_symlink():
                shutil.rmtree(retired, ignore_errors=True)
            else:
                retired.unlink(missing_ok=True)
            return
        way_out = "replace it with overwrite=True, or choose another path"
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"'{target}' already exists; {way_out}")
        try:
            os.rename(built, target)
        except OSError as exc:
            if target.exists():
                raise FileExistsError(
                    f"'{target}' appeared while it was being built; {way_out}"
                ) from exc
            raise
        fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
