"""A per-model exclusive lock between processes, released even if its holder is killed.

It guards the few short steps that read-then-write shared state: allocating a
version number and renaming the staged version into place, updating
``aliases.json``, and garbage collection. Parameter files are written before it
is taken, so it is held for milliseconds.

``flock`` locks belong to the open file: when a process dies, even by SIGKILL,
the kernel drops them, so a crashed publisher can never leave the model locked
(unlike an ``O_EXCL`` lock file, which would need stale-lock guessing).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamgmm.registry.errors import RegistryError, RegistryLockTimeoutError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "model_lock"]

#: Seconds to wait for another process to release a model's lock.
DEFAULT_LOCK_TIMEOUT = 60.0
_MAX_POLL_INTERVAL = 0.005


@contextmanager
def model_lock(lock_path: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing) for the ``with`` body.

    Parameters
    ----------
    lock_path : Path
        The lock file; it is never deleted, so every process locks the same inode.
    timeout : float
        Seconds to wait before giving up.

    Raises
    ------
    RegistryLockTimeoutError
        If the lock is still held by another process after ``timeout`` seconds;
        the message names the file and the holder's process id.
    """
    try:
        import fcntl
    except ImportError as exc:  # pragma: no cover - Windows
        raise RegistryError(
            "Writing to a model registry needs POSIX file locks (Linux, macOS); this platform "
            "has none. Publish from Linux or macOS, or open the registry read-only."
        ) from exc
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        interval = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Polling instead of a blocking flock keeps the timeout (a stopped holder
                # must not hang every publisher forever).
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    raise RegistryLockTimeoutError(
                        f"Could not lock {lock_path} within {timeout:g} s: process {holder} holds "
                        "it. Wait for that process to finish, or stop it if it is stuck; the lock "
                        "is released as soon as it exits."
                    ) from None
                time.sleep(interval)
                interval = min(interval * 2, _MAX_POLL_INTERVAL)
        # Record the holder for the timeout message of whoever waits next.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
