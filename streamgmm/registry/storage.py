"""Where a registry's bytes live: a local folder (read and write) or an fsspec URL (read).

Writing relies on what a local POSIX filesystem guarantees: ``rename`` of a
folder and ``os.replace`` of a file are atomic, ``O_EXCL`` creation is
exclusive, and ``flock`` is released when its process dies. Object stores offer
none of these in general, so a registry at an ``s3://``/``gs://``/``memory://``
URL is read-only here (load, list, show, diff, verify): publish into a local or
mounted folder and copy it to the store, or point consumers at the store.

Local writes are durable: files are fsync'ed before they are renamed into
place, and the folder that changed is fsync'ed after.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from streamgmm.core.errors import RegistryError

__all__ = [
    "FsspecStore",
    "LocalStore",
    "RegistryWriteError",
    "Store",
    "fsync_directory",
    "open_store",
    "prepare_replacement",
    "replace_file",
    "write_new_file",
]


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


class Store(Protocol):
    """Read access to a registry's files by path parts relative to its root."""

    writable: bool

    def describe(self, *parts: str) -> str:
        """Path or URL of ``parts`` for messages."""
        ...

    def read_bytes(self, *parts: str) -> bytes:
        """The whole file; raises ``FileNotFoundError`` if it does not exist."""
        ...

    def list_dir(self, *parts: str) -> list[str]:
        """Entry names in a folder (empty if the folder does not exist)."""
        ...


class LocalStore:
    """A registry in a local (or mounted) folder; supports writing.

    Parameters
    ----------
    root : Path
        The registry's root folder (it need not exist yet).
    """

    writable = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        """Absolute-or-relative local path of ``parts`` below the root."""
        return self.root.joinpath(*parts)

    def describe(self, *parts: str) -> str:
        return str(self.path(*parts))

    def read_bytes(self, *parts: str) -> bytes:
        return self.path(*parts).read_bytes()

    def list_dir(self, *parts: str) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(self.path(*parts)))
        except (FileNotFoundError, NotADirectoryError):
            return []


class FsspecStore:
    """A registry behind an fsspec URL (``s3://bucket/models``, ``memory://reg``); read-only.

    Parameters
    ----------
    url : str
        Root URL of the registry.
    storage_options : mapping, optional
        Passed to the fsspec filesystem (credentials, endpoint, ...).
    """

    writable = False

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a dependency
            raise ImportError(
                f"Opening the registry {url!r} needs fsspec: pip install fsspec"
            ) from exc
        self.url = url.rstrip("/")
        self.fs, self._root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self._root = self._root.rstrip("/")

    def _path(self, *parts: str) -> str:
        return posixpath.join(self._root, *parts)

    def describe(self, *parts: str) -> str:
        return "/".join((self.url, *parts))

    def read_bytes(self, *parts: str) -> bytes:
        return self.fs.cat_file(self._path(*parts))

    def list_dir(self, *parts: str) -> list[str]:
        path = self._path(*parts)
        # Listings are cached by some filesystems; a consumer polling for new versions
        # must see the store as it is now.
        self.fs.invalidate_cache(path)
        try:
            entries = self.fs.ls(path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(posixpath.basename(str(entry).rstrip("/")) for entry in entries)


def open_store(
    root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> LocalStore | FsspecStore:
    """A store for a local path, a ``file://`` URL (both writable) or another fsspec URL."""
    if isinstance(root, str) and "://" in root:
        protocol, _, rest = root.partition("://")
        if protocol == "file" and not storage_options:
            return LocalStore(Path(rest))
        return FsspecStore(root, storage_options)
    return LocalStore(Path(os.fspath(root)))


# ------------------------------------------------------------------ durable local writes
def fsync_directory(path: Path) -> None:
    """Make a folder's entries (new, renamed, removed files) durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Create ``path`` (it must not exist) with permissions ``mode``, write ``data``, fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        if exc.filename is None:  # write() and fsync() errors (ENOSPC, EFBIG) name no file
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        os.close(fd)


def prepare_replacement(path: Path, data: bytes) -> Path:
    """Write ``data`` (fsync'ed) to a new hidden temporary file beside ``path``; return it.

    ``os.replace(temporary, path)`` then replaces ``path`` atomically and cannot fail for lack
    of space: a writer can do every write first and leave only renames for its commit.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write_new_file(temporary, data)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def replace_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: readers see the old or the new file, whole."""
    temporary = prepare_replacement(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
