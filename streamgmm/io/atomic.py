"""Files that are replaced whole or not at all.

Write to a temporary file in the target's folder, flush it to disk, rename it
over the target, then flush the folder entry. A process killed at any moment
leaves either the previous file or the new one, never a torn mix, and after the
function returns the new file survives a power loss too.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_save_npz"]

#: Seconds after which a temporary file of a target is taken as left by a killed writer.
#: A live write takes milliseconds; an hour leaves a very slow one alone with a wide margin.
STALE_TEMPORARY_SECONDS = 3600.0


def _sync_directory(directory: Path) -> None:
    """Flush a folder's entries (the rename) to disk; a no-op where unsupported."""
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


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Replace the file at ``path`` with ``payload`` atomically and durably.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if needed.
    payload : bytes

    Raises
    ------
    OSError
        Of the same type and errno as the filesystem's (full disk, file-size limit,
        read-only mount), with a message naming ``path``; the previous file is untouched
        and the temporary file removed.
    """
    target = Path(path)
    temporary: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            # A full disk, a quota or a read-only mount: errors from write() name no file.
            raise _write_error(exc, target) from exc
        raise
    _sync_directory(target.parent)
    _remove_stale_temporaries(target)


def _remove_stale_temporaries(target: Path) -> None:
    """Delete this target's temporary files left by writers killed mid-write (``kill -9``).

    Without this every killed checkpoint or state write would leave a hidden copy behind
    for good. Only files older than :data:`STALE_TEMPORARY_SECONDS` are touched.
    """
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}-*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                leftover.unlink()
        except OSError:  # gone already, or not ours to delete: harmless
            pass


def _write_error(exc: OSError, target: Path) -> OSError:
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


def atomic_save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` at ``path``, atomically and durably."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
