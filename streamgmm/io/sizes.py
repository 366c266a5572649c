"""Sizes in bytes as people write and read them: ``"8GB"``, ``"2GiB"``, ``"1.5 MB"``.

The one home of parsing a size (``--size``) and of printing one (progress lines,
log messages).
"""

from __future__ import annotations

import re

from ..core.errors import InvalidParameterError

__all__ = ["format_bytes", "parse_size"]

_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)\s*([a-z]*)\s*$", re.I)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
    "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_DECIMAL_UNITS = ("B", "KB", "MB", "GB", "TB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def parse_size(text: str) -> int:
    """Bytes in a human size: ``"8GB"`` (8 * 10**9), ``"500MB"``, ``"2GiB"`` (2 * 2**30), ``"1e9"``.

    Parameters
    ----------
    text : str
        A number with an optional unit: B, K/KB, M/MB, G/GB, T/TB (powers of 1000) or
        KiB, MiB, GiB, TiB (powers of 1024); case does not matter.

    Returns
    -------
    int
        Number of bytes (rounded down), at least 1.

    Raises
    ------
    InvalidParameterError
        If ``text`` is not a size, or is less than one byte.
    """
    match = _SIZE_PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise InvalidParameterError(
            f"size {text!r} is not understood; write e.g. 200MB, 8GB or 2GiB "
            "(units B, KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)"
        )
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise InvalidParameterError(f"size {text!r} is less than one byte")
    return size


def format_bytes(n_bytes: float, *, binary: bool = False) -> str:
    """A size for people: ``"512 B"``, ``"1.5 MB"`` (powers of 1000) or ``"1.5 MiB"`` (``binary``).

    Parameters
    ----------
    n_bytes : float
    binary : bool
        Powers of 1024 (KiB, MiB, GiB, TiB), as memory is counted, instead of 1000.
    """
    base, units = (1024, _BINARY_UNITS) if binary else (1000, _DECIMAL_UNITS)
    value = float(n_bytes)
    for unit in units[:-1]:
        if abs(value) < base:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= base
    return f"{value:.1f} {units[-1]}"
