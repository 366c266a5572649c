"""Checks shared by the example tests."""

from __future__ import annotations

from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Pictures are committed: each stays small.
MAX_PICTURE_BYTES = 300_000


def assert_small_png(path: Path) -> None:
    """``path`` is a PNG file no larger than a committed picture may be."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    assert path.stat().st_size < MAX_PICTURE_BYTES, (path, path.stat().st_size)
