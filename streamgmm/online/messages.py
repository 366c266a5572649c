"""Message formats of broker streams: bytes <-> rows of numbers.

A broker message carries one or more rows of a stream (float64 ``(n, D)`` once
decoded). Three formats, chosen per source (``source.format``):

- ``json``: a JSON array of rows, each a list of numbers (``[[1, 2], [3, 4]]``);
  a single row ``[1, 2]`` is accepted too. Readable, slow (parsing dominates).
- ``binary``: a 14-byte little-endian header then the values, row-major:
  magic ``b"SGMR"``, a version byte (1), a dtype byte (4 = float32,
  8 = float64), D as uint32, n as uint32, then ``n * D`` values. Decoding is one
  ``np.frombuffer``: the format for throughput.
- ``arrow``: an Arrow IPC *stream* (one or more record batches); the numeric
  columns named by ``columns`` (all numeric columns, in order, when None).

Every problem a message can have raises :class:`MessageDecodeError` with the
reason: a bad header or truncation, the wrong number of features (against what
the stream expects), NaN or infinite values (a message is a unit: the broker
sources dead-letter it whole, see :mod:`streamgmm.online.brokers.common`).
"""

from __future__ import annotations

import json
import struct
from typing import Sequence

import numpy as np

from ..core.errors import StreamGMMError

__all__ = [
    "FORMATS",
    "BINARY_MAGIC",
    "BINARY_HEADER",
    "MessageDecodeError",
    "decode_rows",
    "encode_rows",
]

#: The message formats, as ``source.format`` spells them.
FORMATS = ("json", "binary", "arrow")
BINARY_MAGIC = b"SGMR"
BINARY_VERSION = 1
#: magic, version, dtype byte, D, n: little-endian, no padding (14 bytes).
BINARY_HEADER = struct.Struct("<4sBBII")
_BINARY_DTYPES = {4: np.dtype("<f4"), 8: np.dtype("<f8")}


class MessageDecodeError(StreamGMMError, ValueError):
    """A message is not rows of the stream (see the module docstring for the reasons).

    Attributes
    ----------
    reason : str
        What is wrong, in one sentence (recorded with the dead letter).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checked(rows: np.ndarray, n_features: int | None) -> np.ndarray:
    """``rows`` as float64 (n, D), with D and finiteness checked."""
    if rows.ndim != 2:
        raise MessageDecodeError(f"holds a {rows.ndim}-dimensional array; expected rows x features")
    if n_features is not None and rows.shape[1] != n_features:
        raise MessageDecodeError(f"has {rows.shape[1]} features per row; the stream has {n_features}")
    rows = rows.astype(np.float64, copy=False)
    finite = np.isfinite(rows)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise MessageDecodeError(
            f"has NaN or infinite values in {bad.size} row(s), the first at row {int(bad[0])} of the message"
        )
    return rows


# ------------------------------------------------------------------------------ binary
def _decode_binary(payload: bytes, n_features: int | None) -> np.ndarray:
    size = BINARY_HEADER.size
    if len(payload) < size:
        raise MessageDecodeError(f"is {len(payload)} bytes, shorter than the {size}-byte binary header")
    magic, version, dtype_code, d, n = BINARY_HEADER.unpack_from(payload)
    if magic != BINARY_MAGIC:
        raise MessageDecodeError(f"does not start with the binary magic {BINARY_MAGIC!r} (found {magic!r})")
    if version != BINARY_VERSION:
        raise MessageDecodeError(f"has binary format version {version}; this streamgmm reads {BINARY_VERSION}")
    dtype = _BINARY_DTYPES.get(dtype_code)
    if dtype is None:
        raise MessageDecodeError(f"has dtype byte {dtype_code}; expected 4 (float32) or 8 (float64)")
    expected = size + n * d * dtype.itemsize
    if len(payload) != expected:
        raise MessageDecodeError(
            f"is {len(payload)} bytes; its header announces {n} rows x {d} features of "
            f"{dtype.itemsize}-byte values, {expected} bytes (truncated or corrupted)"
        )
    values = np.frombuffer(payload, dtype=dtype, count=n * d, offset=size).reshape(n, d)
    return _checked(values, n_features)


def _encode_binary(rows: np.ndarray) -> bytes:
    dtype = np.dtype("<f4") if rows.dtype == np.float32 else np.dtype("<f8")
    values = np.ascontiguousarray(rows, dtype=dtype)
    header = BINARY_HEADER.pack(BINARY_MAGIC, BINARY_VERSION, dtype.itemsize, rows.shape[1], rows.shape[0])
    return header + values.tobytes()


# -------------------------------------------------------------------------------- json
def _decode_json(payload: bytes, n_features: int | None) -> np.ndarray:
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageDecodeError(f"is not JSON ({exc})") from None
    if not isinstance(value, list):
        raise MessageDecodeError(f"is a JSON {type(value).__name__}; expected an array of rows")
    if value and not isinstance(value[0], list):
        value = [value]  # a single row
    try:
        rows = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MessageDecodeError(f"is not an array of rows of numbers of one length ({exc})") from None
    if rows.size == 0:
        rows = rows.reshape(0, n_features or 0)
    return _checked(rows, n_features)


def _encode_json(rows: np.ndarray) -> bytes:
    return json.dumps(np.asarray(rows, dtype=np.float64).tolist()).encode()


# ------------------------------------------------------------------------------- arrow
def _decode_arrow(payload: bytes, n_features: int | None, columns: Sequence[str] | None) -> np.ndarray:
    import pyarrow as pa  # on use: a heavy import only the arrow format needs

    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise MessageDecodeError(f"is not an Arrow IPC stream ({exc})") from None
    if columns is None:
        names = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    else:
        missing = [name for name in columns if name not in table.column_names]
        if missing:
            raise MessageDecodeError(
                f"has no column(s) {missing}; its columns are {table.column_names}"
            )
        names = list(columns)
        wrong = [n for n in names if not (pa.types.is_integer(table.schema.field(n).type)
                                          or pa.types.is_floating(table.schema.field(n).type))]
        if wrong:
            raise MessageDecodeError(f"has non-numeric column(s) {wrong}")
    if not names:
        raise MessageDecodeError(f"has no numeric column (columns: {table.column_names})")
    if any(table.column(name).null_count for name in names):
        raise MessageDecodeError("has null values in its feature columns")
    rows = np.empty((table.num_rows, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        rows[:, j] = table.column(name).to_numpy()
    return _checked(rows, n_features)


def _encode_arrow(rows: np.ndarray, columns: Sequence[str] | None) -> bytes:
    import pyarrow as pa  # on use, as above

    names = list(columns) if columns is not None else [f"x{j}" for j in range(rows.shape[1])]
    if len(names) != rows.shape[1]:
        raise ValueError(f"{len(names)} column names for {rows.shape[1]} features")
    table = pa.table({name: np.ascontiguousarray(rows[:, j]) for j, name in enumerate(names)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


# ------------------------------------------------------------------------------ public
def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"message format {fmt!r}: choose one of {', '.join(FORMATS)}")


def decode_rows(
    payload: bytes, fmt: str, *, n_features: int | None, columns: Sequence[str] | None = None
) -> np.ndarray:
    """The rows a message carries.

    Parameters
    ----------
    payload : bytes
        The message body.
    fmt : {"json", "binary", "arrow"}
    n_features : int or None
        The stream's number of features D (None: not known yet, any D is taken).
    columns : list of str, optional
        Arrow feature columns (default: all numeric columns, in order).

    Returns
    -------
    ndarray of shape (n, D), float64
        Finite values (a binary float64 message is returned without a copy, read-only).

    Raises
    ------
    MessageDecodeError
        With the reason: bad header, truncation, wrong D, NaN/inf, not the format.
    """
    _check_format(fmt)
    if fmt == "binary":
        return _decode_binary(payload, n_features)
    if fmt == "json":
        return _decode_json(payload, n_features)
    return _decode_arrow(payload, n_features, columns)


def encode_rows(rows: np.ndarray, fmt: str, *, columns: Sequence[str] | None = None) -> bytes:
    """One message carrying ``rows`` (for producers and tests).

    Parameters
    ----------
    rows : array-like of shape (n, D)
        float32 rows stay float32 in the binary format; anything else is float64.
    fmt : {"json", "binary", "arrow"}
    columns : list of str, optional
        Arrow column names (default ``x0, x1, ...``).
    """
    _check_format(fmt)
    rows = np.asarray(rows)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2:
        raise ValueError(f"rows must be 2-dimensional (n, D); got shape {rows.shape}")
    if fmt == "binary":
        return _encode_binary(rows)
    if fmt == "json":
        return _encode_json(rows)
    return _encode_arrow(rows, columns)
