"""A state file: numeric arrays and a versioned JSON header in one ``.npz``, replaced whole.

The one home of the format shared by fit checkpoints
(:mod:`streamgmm.drivers.checkpoint`) and the stream runner's committed state
(:mod:`streamgmm.online.state`). The file is an uncompressed ``.npz`` written by
:func:`streamgmm.io.atomic.atomic_save_npz` (a crash leaves the previous file or
the new one), read with ``allow_pickle=False``; everything that is not an array
is a JSON document in the ``header`` entry (``uint8`` bytes), which carries the
``schema_version`` of its writer. NaN and infinities are refused in the header
(they are not JSON); arrays hold them as they are.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .atomic import atomic_save_npz, current_version, next_version, swap_in_unflushed

__all__ = ["HEADER_ENTRY", "load_state_file", "save_state_file"]

#: The ``.npz`` entry holding the JSON header.
HEADER_ENTRY = "header"

T = TypeVar("T")


def save_state_file(
    path: str | os.PathLike[str],
    header: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    schema_version: int,
    durable: bool = True,
) -> None:
    """Replace the state file at ``path`` atomically and durably.

    Parameters
    ----------
    path : path-like
    header : mapping
        JSON-serialisable values (no NaN or infinity); ``schema_version`` is added.
    arrays : mapping of str to ndarray
        Numeric arrays, any shapes; the name ``header`` is reserved.
    schema_version : int
        Version of the writer's layout, checked by :func:`load_state_file`.
    durable : bool, default True
        fsync before and after the rename (see :func:`streamgmm.io.atomic.atomic_write_bytes`).
        ``False``: safe against a killed process only, and much cheaper (no flush at
        all, :func:`streamgmm.io.atomic.swap_in_unflushed`).
    """
    if HEADER_ENTRY in arrays:
        raise ValueError(f"the array name {HEADER_ENTRY!r} is reserved for the header")
    document = json.dumps({"schema_version": schema_version, **header}, allow_nan=False)
    entries = dict(arrays)
    entries[HEADER_ENTRY] = np.frombuffer(document.encode(), dtype=np.uint8)
    if durable:
        # An unflushed next version (of a run with durable=False) would shadow this one.
        next_version(path).unlink(missing_ok=True)
        atomic_save_npz(path, entries)
        return
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    swap_in_unflushed(path, buffer.getvalue(), zipfile.is_zipfile)


def load_state_file(
    path: str | os.PathLike[str],
    parse: Callable[[dict[str, Any], Mapping[str, np.ndarray]], T],
    *,
    readable: Collection[int],
    what: str,
    error: type[Exception],
    outdated: str,
    unreadable: str,
) -> T | None:
    """Read the state file at ``path`` and turn it into the caller's value.

    Parameters
    ----------
    path : path-like
    parse : callable
        ``parse(header, arrays)`` builds the value; it runs while the file is open,
        and may raise ``error`` itself (e.g. for a file of another fit or stream).
        A ``KeyError`` or ``ValueError`` from it means a damaged file.
    readable : collection of int
        The schema versions this streamgmm reads.
    what : str
        What the file is, to start messages (e.g. ``"Checkpoint"``).
    error : type of Exception
        Raised for every problem, with ``path`` named.
    outdated, unreadable : str
        The way out for a file of another schema version, and for a damaged one.

    Returns
    -------
    The parsed value, or None if there is no file at ``path``.
    """
    found = current_version(path, zipfile.is_zipfile)  # an unflushed next version first
    if found is None:
        return None
    path = found
    try:
        with np.load(path, allow_pickle=False) as arrays:
            header = json.loads(bytes(arrays[HEADER_ENTRY]).decode())
            version = header.get("schema_version")
            if version not in readable:
                raise error(
                    f"{what} '{path}' has schema_version {version!r}; this streamgmm reads "
                    f"{' and '.join(map(str, sorted(readable)))}. {outdated}"
                )
            return parse(header, arrays)
    except error:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise error(
            f"{what} '{path}' cannot be read ({type(exc).__name__}: {exc}). {unreadable}"
        ) from exc
