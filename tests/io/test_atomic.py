"""The one atomic writer: files and folders replaced whole, rollback, no debris."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamgmm.io.atomic import (
    atomic_save_npz,
    atomic_write_bytes,
    replace_directory,
    staging_directory,
    write_new_file,
)


def _build(target: Path, marker: str) -> Path:
    built = staging_directory(target)
    (built / "sub").mkdir()
    (built / "sub" / "marker").write_text(marker)
    return built


def test_file_replaced_whole_without_debris_and_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["state.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644 & ~umask  # not mkstemp's 0o600


def test_npz_round_trip(tmp_path: Path) -> None:
    atomic_save_npz(tmp_path / "a.npz", {"x": np.arange(3.0)})
    with np.load(tmp_path / "a.npz") as arrays:
        assert np.array_equal(arrays["x"], np.arange(3.0))


def test_write_new_file_refuses_an_existing_file(tmp_path: Path) -> None:
    write_new_file(tmp_path / "f", b"1")
    with pytest.raises(FileExistsError):
        write_new_file(tmp_path / "f", b"2")
    assert (tmp_path / "f").read_bytes() == b"1"


def test_staging_folder_is_a_hidden_sibling(tmp_path: Path) -> None:
    built = staging_directory(tmp_path / "out", "datagen")
    assert built.parent == tmp_path and built.is_dir() and not any(built.iterdir())
    assert built.name.startswith(".out.datagen~") and built.name.endswith(".tmp")


@pytest.mark.parametrize("old", ["folder", "file", "symlink"])
def test_existing_target_swapped_then_removed(tmp_path: Path, old: str) -> None:
    target = tmp_path / "out"
    if old == "folder":
        target.mkdir()
        (target / "stale").write_text("x")
    elif old == "file":
        target.write_text("x")
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    replace_directory(_build(target, "new"), target)
    assert (target / "sub" / "marker").read_text() == "new"
    assert not target.is_symlink() and not (target / "stale").exists()
    assert sorted(os.listdir(tmp_path)) == (["elsewhere", "out"] if old == "symlink" else ["out"])


def test_new_target_and_no_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out"
    replace_directory(_build(target, "first"), target, overwrite=False)
    built = _build(target, "second")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        replace_directory(built, target, overwrite=False)
    assert (target / "sub" / "marker").read_text() == "first"
    assert os.listdir(tmp_path) == ["out"]  # the refused build was removed


def test_failed_swap_rolls_back_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "out"
    replace_directory(_build(target, "old"), target)
    vanished = tmp_path / ".out.partial~gone.tmp"  # the rename of a missing folder fails for real
    with pytest.raises(FileNotFoundError):
        replace_directory(vanished, target)
    assert (target / "sub" / "marker").read_text() == "old"
    assert os.listdir(tmp_path) == ["out"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    return child.pid


def test_debris_of_dead_writers_is_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "state.npz"
    host = socket.gethostname()
    dead = tmp_path / f".state.npz.write~{host}~{_dead_pid()}~abc.tmp"
    dead.write_bytes(b"torn")
    dead_folder = tmp_path / f".state.npz.partial~{host}~{_dead_pid()}~def.tmp"
    dead_folder.mkdir()
    (dead_folder / "chunk").write_bytes(b"x")
    alive = tmp_path / f".state.npz.write~{host}~{os.getppid()}~ghi.tmp"
    alive.write_bytes(b"in flight")
    elsewhere = tmp_path / f".state.npz.write~{host}-other~{_dead_pid()}~jkl.tmp"
    elsewhere.write_bytes(b"another machine's")
    other_target = tmp_path / f".other.npz.write~{host}~{_dead_pid()}~mno.tmp"
    other_target.write_bytes(b"not ours")
    atomic_write_bytes(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, elsewhere.name, other_target.name, "state.npz"]
    )
