"""Real faults for the fault-injection suite: file-size limits, full and read-only filesystems,
SIGKILL at a chosen system call, and the checks that nothing written earlier was lost.

How each fault is made (no mocks: the kernel does the failing):

- **File-size limit** (:func:`run_child` with ``fsize``): the child process gets
  ``RLIMIT_FSIZE`` set before ``exec`` and ``SIGXFSZ`` ignored, so a ``write`` that would grow
  a file past the limit fails with ``EFBIG`` ("File too large"), exactly as on a disk quota.
  Portable: needs neither root nor mounts.
- **Full disk / read-only filesystem** (:func:`mounted_tmpfs`): a real ``tmpfs`` of a few
  hundred KiB mounted under the test's folder (``ENOSPC`` when it fills), or remounted
  read-only (``EROFS``). Tests run as root, so ``chmod`` would not stop a write; a read-only
  mount does. Skipped where ``mount`` is not permitted.
- **kill -9 at an exact step** (:func:`kill_at_syscall`): the child runs under ``strace``,
  which delivers ``SIGKILL`` on entry to the N-th ``rename`` (or ``fsync``, ...) of its main thread:
  a real kill, landing deterministically in each window of a write protocol (random delays
  miss the sub-millisecond windows on a loaded machine). Enumerating N = 1, 2, ... until the
  child completes visits every such point. Skipped where ``strace`` or ``ptrace`` is missing.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from streamgmm.registry import ModelRegistry

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
#: A child importing numpy, dask and zarr takes 1-2 s; a loaded CI machine several times that.
CHILD_TIMEOUT = 240.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this checkout first on the path, no bytecode writes.

    ``PYTHONDONTWRITEBYTECODE`` keeps ``__pycache__`` writes out of the file-size budget.
    """
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _limit_file_size(limit: int):
    def apply() -> None:
        # Ignored SIGXFSZ turns "killed by the signal" into the EFBIG error a quota would give.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_child(
    args: Sequence[str], *, fsize: int | None = None, cwd: Path | None = None, timeout: float = CHILD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` to completion, optionally with files limited to ``fsize`` bytes.

    Returns the completed process (stdout and stderr as text); never raises on a failure exit.
    """
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=cwd,
        timeout=timeout,
        preexec_fn=None if fsize is None else _limit_file_size(fsize),
    )


def python_child(*args: str | os.PathLike[str]) -> list[str]:
    """Command line running ``python ARGS``."""
    return [PYTHON, *map(str, args)]


# ---------------------------------------------------------------------------------- strace
def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "-e", "trace=getpid", "-e",
         "inject=getpid:signal=KILL:when=1", PYTHON, "-c", "import os; os.getpid()"],
        capture_output=True, timeout=60,
    )
    return probe.returncode == -signal.SIGKILL


STRACE_OK = _strace_works()
needs_strace = pytest.mark.skipif(
    not STRACE_OK, reason="needs strace with ptrace permitted, to SIGKILL at an exact system call"
)


def kill_at_syscall(
    args: Sequence[str], syscall: str, nth: int, *, timeout: float = CHILD_TIMEOUT,
    refuse: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` and SIGKILL it on entry to the ``nth`` ``syscall`` of its main thread.

    Only the main thread is traced (no ``-f``): the commit steps of every writer here run
    in it, while Dask's and zarr's threads make their own renames in an unpredictable order.
    Each syscall in ``refuse`` fails with EINVAL instead of running, as on a kernel or
    filesystem without it (e.g. ``renameat2``: the atomic exchange of two folders).
    Returns the completed process: ``returncode == -9`` when the kill happened, the child's
    own status when it finished before making that many calls.
    """
    command = [
        "strace", "-qq", "-o", "/dev/null", "-e", f"trace={','.join([syscall, *refuse])}",
        "-e", f"inject={syscall}:signal=KILL:when={nth}",
        *[option for name in refuse for option in ("-e", f"inject={name}:error=EINVAL")],
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=timeout)


def killed(process: subprocess.CompletedProcess[str]) -> bool:
    """Whether the child died of SIGKILL."""
    return process.returncode == -signal.SIGKILL


# ---------------------------------------------------------------------------------- mounts
def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=60)


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"streamgmm-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        if _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)).returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], capture_output=True, timeout=60)
        return True
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


MOUNT_OK = _can_mount()
needs_mount = pytest.mark.skipif(
    not MOUNT_OK, reason="needs root and permission to mount a tmpfs (a real full/read-only disk)"
)


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (e.g. ``"256k"``) mounted at ``where``; unmounted on exit."""
    where.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    assert done.returncode == 0, done.stderr
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=60)


def remount(where: Path, mode: str) -> None:
    """Remount the tmpfs at ``where`` ``"ro"`` (read-only) or ``"rw"``."""
    done = _mount("-o", f"remount,{mode}", str(where))
    assert done.returncode == 0, done.stderr


def free_bytes(where: Path) -> int:
    """Bytes still free on the filesystem holding ``where``."""
    stats = os.statvfs(where)
    return stats.f_bavail * stats.f_frsize


def fill_until_free(where: Path, free: int) -> Path:
    """Write a filler file so that only ``free`` bytes stay available on ``where``'s filesystem."""
    filler = where / "filler.bin"
    size = free_bytes(where) - free
    assert size >= 0, f"only {free_bytes(where)} bytes free, cannot leave {free}"
    with open(filler, "wb") as stream:
        stream.write(b"\0" * size)
    assert free_bytes(where) == free, (free_bytes(where), free)
    return filler


# ---------------------------------------------------------------------------------- checks
def verified_versions(root: Path, name: str) -> list[int]:
    """The visible versions of ``name``, each loaded through the registry's own checksum checks.

    Also asserts that ``latest`` resolves to a loadable version and that nothing besides
    version folders, ``aliases.json``, the lock and the hidden ``.staging``/``.trash``
    folders (and hidden temporary files) is visible in the model's folder.
    """
    registry = ModelRegistry(root)
    versions = registry.list_versions(name)
    for version in versions:
        registry.load(name, version)  # raises ArtifactIntegrityError on any damage
    if versions:
        registry.load(name, "latest")
    model_dir = root / "models" / name
    if model_dir.exists():
        visible = {e for e in os.listdir(model_dir) if not e.startswith(".")}
        assert visible <= {*map(str, versions), "aliases.json"}, sorted(visible)
    return versions
