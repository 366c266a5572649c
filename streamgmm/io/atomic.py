"""Files and folders that are replaced whole or not at all: the one home of write-then-rename.

A file is written to a hidden temporary sibling, flushed to disk, renamed over the
target, then the folder entry is flushed. A folder is built in a hidden temporary
sibling (:func:`staging_directory`), flushed, then renamed into place
(:func:`replace_directory`). An existing target is swapped with the new folder in one
system call where the kernel offers it (Linux ``renameat2(RENAME_EXCHANGE)``), so the
target always names a complete folder; elsewhere it is renamed aside first and, should
the writer die between the two renames, put back by the next writer or reader of that
target (:func:`remove_debris`). A process killed at any moment leaves either the previous
file/folder or the new one, never a torn mix (at worst a hidden ``.NAME.*.tmp``
sibling), and after the functions return the result survives a power loss too.

Temporaries are named ``.NAME.LABEL~HOST~PID~RANDOM.tmp``: the next write of the same
target removes those whose writer on this host has died (:func:`remove_debris`), so a
killed writer's leftovers do not pile up, while a live writer's are never touched.

These rely on what a local POSIX filesystem guarantees: ``rename`` of a folder and
``os.replace`` of a file are atomic and ``O_EXCL`` creation is exclusive. Object
stores offer none of these; callers write locally.
"""

from __future__ import annotations

import ctypes
import errno
import io
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_save_npz",
    "current_version",
    "next_version",
    "swap_in_unflushed",
    "atomic_write_bytes",
    "fsync_directory",
    "fsync_tree",
    "remove_debris",
    "replace_directory",
    "staging_directory",
    "write_new_file",
]


_HOST = socket.gethostname()


def _temporary_name(target: Path, label: str) -> str:
    """``.NAME.LABEL~HOST~PID~RANDOM.tmp``: hidden, and naming the writer that owns it."""
    return f".{target.name}.{label}~{_HOST}~{os.getpid()}~{uuid.uuid4().hex[:12]}.tmp"


def _writer_is_gone(name: str) -> bool:
    """Whether the temporary ``name`` belongs to a writer process on this host that has died."""
    parts = name[: -len(".tmp")].split("~")
    if len(parts) != 4 or parts[1] != _HOST:
        return False  # another machine's (a shared folder) or not ours: leave it
    try:
        pid = int(parts[2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # this process: another thread may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by another user
    return False


def remove_debris(target: str | os.PathLike[str]) -> int:
    """Remove the hidden temporaries of ``target`` left by dead writers on this host.

    A writer killed with ``kill -9`` (or a power loss) leaves its temporary file or
    folder behind; the next atomic write of the same target calls this. A temporary
    whose writer is alive, or runs on another host, is left alone. A retired target
    (``.NAME.old~...``) whose writer died before the new one took its place is put
    back at ``target`` instead of removed: it is the user's previous output.

    Returns
    -------
    int
        The number of files and folders removed.
    """
    target = Path(target)
    prefix = f".{target.name}."
    removed = 0
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        if not _writer_is_gone(entry.name):
            continue
        if entry.name.startswith(f"{prefix}old~") and not os.path.lexists(target):
            os.rename(entry.path, target)  # killed between its two renames: restore
            fsync_directory(target.parent)
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed += 1
    return removed


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


def write_new_file(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Create ``path`` (it must not exist) with permissions ``mode``, write ``data``, fsync it.

    ``durable=False`` skips the fsync (see :func:`atomic_write_bytes`).

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
        if durable:
            os.fsync(fd)
    except OSError as exc:
        if exc.filename is None:  # write() and fsync() errors (ENOSPC, EFBIG) name no file
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: str | os.PathLike[str], payload: bytes, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Replace the file at ``path`` with ``payload`` atomically and durably.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if needed.
    payload : bytes
    mode : int
        Permissions of the new file (before the umask).
    durable : bool, default True
        fsync the file before the rename and the folder after it, so that the new
        file survives a power loss or an OS crash. ``False`` keeps the atomic
        rename (a killed process still leaves the old file or the new one: the
        kernel holds what was written) and saves the two fsyncs, which dominate
        the cost of small frequent commits; after an OS crash the file may be the
        previous one (or, on filesystems that do not order data before renames,
        damaged).

    Raises
    ------
    OSError
        Of the same type and errno as the filesystem's (full disk, file-size limit,
        read-only mount), with a message naming ``path``; the previous file is untouched
        and the temporary file removed.
    """
    target = Path(path)
    temporary = target.with_name(_temporary_name(target, "write"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_debris(target)
        write_new_file(temporary, payload, mode=mode, durable=durable)
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            # A full disk, a quota or a read-only mount: errors from write() name no file.
            raise named_write_error(exc, target) from exc
        raise
    if durable:
        fsync_directory(target.parent)


#: Suffix of the complete next version of a file swapped in by :func:`swap_in_unflushed`.
NEXT_SUFFIX = ".next"


def next_version(path: str | os.PathLike[str]) -> Path:
    """Where :func:`swap_in_unflushed` writes the next version of ``path``."""
    target = Path(path)
    return target.with_name(target.name + NEXT_SUFFIX)


def swap_in_unflushed(path: str | os.PathLike[str], payload: bytes, complete: Callable[[Path], bool]) -> None:
    """Replace ``path`` with ``payload``, safe against a killed process, without flushing anything.

    For small files replaced very often where a power loss may cost the last
    versions (the stream runner's commits with ``fsync: false``). ext4 flushes a
    file's data to disk when it is renamed over an existing file, which costs as
    much as an fsync; this protocol never renames over an existing file:

    1. a complete ``path.next`` left by a killed writer is the newest version:
       it is renamed over ``path`` first (a torn one is removed);
    2. the payload is written to ``path.next`` (a new file);
    3. ``path`` is unlinked and ``path.next`` renamed to it.

    At every moment a complete version exists: ``path``, or ``path.next`` once it
    is complete (after step 2, and alone between the unlink and the rename).
    Readers take :func:`current_version`.

    Parameters
    ----------
    path : path-like
    payload : bytes
    complete : callable
        ``complete(file) -> bool``: whether a file holds a whole payload (e.g. a zip's
        end record), to tell a complete ``path.next`` from a torn one.
    """
    target = Path(path)
    upcoming = next_version(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if upcoming.exists():
            if complete(upcoming):
                os.replace(upcoming, target)  # once, after a crash: the newest version
            else:
                upcoming.unlink()
        write_new_file(upcoming, payload, durable=False)
        target.unlink(missing_ok=True)
        os.rename(upcoming, target)
    except OSError as exc:
        raise named_write_error(exc, target) from exc


def current_version(path: str | os.PathLike[str], complete: Callable[[Path], bool]) -> Path | None:
    """The file holding the newest complete version of ``path`` (see :func:`swap_in_unflushed`)."""
    target = Path(path)
    upcoming = next_version(target)
    if upcoming.exists() and complete(upcoming):
        return upcoming
    return target if target.exists() else None


def named_write_error(exc: OSError, target: Path) -> OSError:
    """``exc`` again (same type and errno), with a message naming ``target`` and the way out."""
    reason = exc.strerror or str(exc)
    message = (
        f"Could not write {target}: {reason}. The previous file there (if any) is unchanged; "
        "free space, raise the file-size limit or choose a writable location, then run again."
    )
    # No filename argument: OSError would append it to the message a second time.
    try:
        return type(exc)(exc.errno, message)
    except TypeError:  # an OSError subclass with another constructor
        return OSError(exc.errno, message)


def prepare_replacement(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` (fsync'ed) to a new hidden temporary file beside ``path``; return it.

    ``os.replace(temporary, path)`` then replaces ``path`` atomically and cannot fail for
    lack of space: a writer can do every write first and leave only renames for its commit
    (the registry's publish does). The caller removes the temporary if it does not use it.
    """
    target = Path(path)
    temporary = target.with_name(_temporary_name(target, "write"))
    try:
        write_new_file(temporary, data)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def atomic_save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], *, durable: bool = True) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` at ``path``, atomically (and durably: see
    :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue(), durable=durable)


def staging_directory(target: str | os.PathLike[str], label: str = "partial") -> Path:
    """Create an empty hidden sibling of ``target`` to build it in: ``.NAME.LABEL~HOST~PID~XXXX.tmp``.

    A sibling, so that the final rename stays on one filesystem (and is atomic);
    hidden, so that listings and stream sources ignore it while it is incomplete.
    Debris of dead earlier builds of ``target`` is removed first (:func:`remove_debris`).
    The caller removes it if building fails (:func:`replace_directory` does on success).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_debris(target)
    prefix = f".{target.name}.{label}~{_HOST}~{os.getpid()}~"
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=".tmp"))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_LIBC = ctypes.CDLL(None, use_errno=True)
_RENAMEAT2 = getattr(_LIBC, "renameat2", None)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot.

    Linux ``renameat2(..., RENAME_EXCHANGE)`` (glibc >= 2.28; most local filesystems).
    No moment exists at which either name is missing.
    """
    if _RENAMEAT2 is None:
        return False
    result = _RENAMEAT2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # this filesystem or kernel has no exchange: rename aside instead
    raise OSError(code, os.strerror(code), str(second))


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_directory(
    built: str | os.PathLike[str], target: str | os.PathLike[str], *, overwrite: bool = True
) -> None:
    """Move the finished folder ``built`` to ``target``, atomically and durably.

    ``built`` is flushed to disk, then renamed to ``target``. An existing target is
    swapped with ``built`` atomically where the system can (then removed), or else
    renamed aside first and removed only once ``built`` stands in its place; if that
    rename fails the old target is put back, and if the process dies between the two
    renames the next writer puts it back (:func:`remove_debris`). On any failure
    ``built`` is removed and ``target`` is as before.

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
            if _exchange(built, target):
                fsync_directory(target.parent)
                _remove_path(built)  # now the previous target
                return
            retired = target.with_name(_temporary_name(target, "old"))
            os.rename(target, retired)
            try:
                os.rename(built, target)
            except BaseException:
                os.rename(retired, target)  # roll back: the old target stays in place
                raise
            fsync_directory(target.parent)
            _remove_path(retired)
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
