"""Direct reads of whole row chunks from a local, simply-encoded Zarr array.

zarr-python's general read path costs about as much as our whole diag E-step on a
64 MiB chunk: it decodes into a fresh buffer, then copies into another fresh output
array (two rounds of page faults and a copy). For the layout our stores and most
others have -- a local store, bytes in C order, at most one compressor -- a chunk file can instead be read once and decoded
straight into the output rows (or, when the features are split across chunks,
through one scratch chunk). That halves the read time of a pass (measured in
``benchmarks/bench_out_of_core.py``).

Anything else (sharding, filters, a transpose or crc32c codec, big-endian data,
remote stores) keeps zarr-python's path: :func:`chunk_file_reader` returns None.

The file is read with ``readinto`` rather than memory-mapped on purpose: the online
``zarr-append`` source reads stores that a producer is still writing, and a chunk
file truncated under a memory map kills the process with SIGBUS, while a short read
is an ordinary, reportable error.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

__all__ = ["ChunkDecoder", "ChunkFileReader", "chunk_file_reader"]

def _zstd_content_size(raw: np.ndarray) -> int | None:
    """Decompressed size a Zstandard frame header declares, or None when it declares none."""
    if raw.size < 6 or raw[:4].tobytes() != b"\x28\xb5\x2f\xfd":
        return None
    descriptor = int(raw[4])
    single_segment = (descriptor >> 5) & 1
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    if width == 0 or raw.size < start + width:
        return None
    size = int.from_bytes(raw[start : start + width].tobytes(), "little")
    return size + 256 if width == 2 else size


def _blosc_content_size(raw: np.ndarray) -> int | None:
    """Decompressed size in a Blosc header (bytes 4-7, little-endian)."""
    return int.from_bytes(raw[4:8].tobytes(), "little") if raw.size >= 16 else None


class ChunkDecoder:
    """A numcodecs codec plus, where the format states it, how to read the decoded size.

    Decoding straight into the output needs the size checked first: the codecs
    accept a destination larger than the data and leave the rest untouched.
    """

    _SIZE_READERS: dict[str, Callable[[np.ndarray], int | None]] = {
        "zstd": _zstd_content_size, "blosc": _blosc_content_size,
    }

    def __init__(self, codec: Any) -> None:
        self.codec = codec
        self.content_size = self._SIZE_READERS.get(getattr(codec, "codec_id", ""), lambda raw: None)

    def decode_into(self, raw: np.ndarray, target: np.ndarray, where: str) -> None:
        """Decode ``raw`` into the bytes ``target`` (1-D uint8), which it must fill exactly."""
        declared = self.content_size(raw)
        if declared is not None and declared != target.nbytes:
            raise ValueError(f"{where} decodes to {declared} bytes; expected {target.nbytes}")
        if declared is not None:
            self.codec.decode(raw, target)
            return
        decoded = np.frombuffer(memoryview(self.codec.decode(raw)).cast("B"), dtype=np.uint8)
        if decoded.nbytes != target.nbytes:
            raise ValueError(f"{where} decodes to {decoded.nbytes} bytes; expected {target.nbytes}")
        target[...] = decoded


def _v3_decoder(codecs: tuple) -> ChunkDecoder | None | bool:
    """Decoder for a v3 codec chain; None for raw bytes, False if not eligible."""
    import numcodecs
    from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

    if not codecs or not isinstance(codecs[0], BytesCodec):
        return False
    endian = getattr(codecs[0].endian, "value", codecs[0].endian)  # an enum in older zarr 3
    if endian is not None and endian != ("little" if np.little_endian else "big"):
        return False
    rest = codecs[1:]
    if not rest:
        return None
    if len(rest) > 1:
        return False
    by_type = {ZstdCodec: numcodecs.Zstd, BloscCodec: numcodecs.Blosc, GzipCodec: numcodecs.GZip}
    codec_type = by_type.get(type(rest[0]))
    return False if codec_type is None else ChunkDecoder(codec_type())


def _v2_decoder(metadata: Any) -> ChunkDecoder | None | bool:
    """Decoder of a v2 array; None without a compressor, False if not eligible."""
    if metadata.filters or metadata.order != "C":
        return False
    compressor = metadata.compressor
    if compressor is None:
        return None
    return ChunkDecoder(compressor) if callable(getattr(compressor, "decode", None)) else False


def chunk_file_reader(array: Any) -> "ChunkFileReader | None":
    """A direct reader for ``array`` when its layout allows one, else None.

    Parameters
    ----------
    array : zarr.Array of shape (n, D)
        Samples along the first dimension.

    Returns
    -------
    ChunkFileReader or None
        None when the store is not a local folder, the dtype is not a
        native-order number, or the encoding is more than bytes plus one
        compressor.
    """
    try:
        from zarr.storage import LocalStore
    except ImportError:  # pragma: no cover - zarr 2 has no such class
        return None
    if not isinstance(array.store, LocalStore) or array.ndim != 2:
        return None
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "fiu" or not dtype.isnative:
        return None
    metadata = array.metadata
    if metadata.zarr_format == 3:
        if metadata.storage_transformers:
            return None
        decode = _v3_decoder(tuple(metadata.codecs))
    else:
        decode = _v2_decoder(metadata)
    if decode is False:
        return None
    folder = os.path.join(str(array.store.root), *[p for p in array.path.split("/") if p])
    return ChunkFileReader(folder, metadata.encode_chunk_key, decode, dtype,
                           (int(array.shape[0]), int(array.shape[1])),
                           (int(array.chunks[0]), int(array.chunks[1])))


class ChunkFileReader:
    """Reads rows of a local Zarr array chunk file by chunk file.

    Parameters
    ----------
    folder : str
        The array's folder inside the store.
    chunk_key : callable
        ``(chunk_row, chunk_column) -> key`` relative to ``folder`` ("c/3/0", "3.0", ...).
    decode : ChunkDecoder or None
        None when chunks are stored raw (no compressor).
    dtype : numpy.dtype
    shape : (int, int)
        (n, D) of the array.
    chunk_shape : (int, int)
        Rows and columns per stored chunk; every chunk file holds that many, edge
        chunks padded. Chunks spanning all D columns (the usual layout for rows of
        features) are decoded straight into the output; others through a scratch
        chunk.
    """

    def __init__(self, folder: str, chunk_key: Callable[[tuple[int, int]], str],
                 decode: ChunkDecoder | None, dtype: np.dtype, shape: tuple[int, int],
                 chunk_shape: tuple[int, int]) -> None:
        self.folder = folder
        self.chunk_key = chunk_key
        self.decode = decode
        self.dtype = dtype
        self.shape = shape
        self.chunk_shape = chunk_shape

    def chunk_path(self, index: int, column: int = 0) -> str:
        """File of the chunk in row chunk ``index`` and column chunk ``column``."""
        return os.path.join(self.folder, *self.chunk_key((index, column)).split("/"))

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop-1`` as a new (stop - start, D) array.

        Raises
        ------
        FileNotFoundError
            A chunk file is missing (never read as fill values).
        ValueError
            A chunk file is truncated or does not decode to a whole chunk.
        """
        n_cols = self.shape[1]
        out = np.empty((stop - start, n_cols), dtype=self.dtype)
        step, width = self.chunk_shape
        for index in range(start // step, (stop - 1) // step + 1 if stop > start else 0):
            first = index * step
            lo, hi = max(start, first), min(stop, first + step)
            target = out[lo - start : hi - start]
            if lo == first and hi - lo == step and width == n_cols:
                self._read_chunk(self.chunk_path(index), target)  # straight into the rows
                continue
            whole = np.empty((step, width), dtype=self.dtype)
            for column in range(-(-n_cols // width)):
                left, right = column * width, min((column + 1) * width, n_cols)
                self._read_chunk(self.chunk_path(index, column), whole)
                target[:, left:right] = whole[lo - first : hi - first, : right - left]
        return out

    def _read_chunk(self, path: str, out: np.ndarray) -> None:
        """Decode the chunk file ``path`` into ``out`` (C-contiguous, one whole chunk)."""
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if self.decode is None:
                raw = out.reshape(-1).view(np.uint8)
                if size != raw.nbytes:
                    raise ValueError(f"chunk file {path} holds {size} bytes; expected {raw.nbytes}")
            else:
                raw = np.empty(size, dtype=np.uint8)
            got = _read_fully(handle, raw)
        if got != size:
            raise ValueError(f"chunk file {path} was truncated while read ({got} of {size} bytes)")
        if self.decode is None:
            return
        self.decode.decode_into(raw, out.reshape(-1).view(np.uint8), f"chunk file {path}")


def _read_fully(handle: Any, buffer: np.ndarray) -> int:
    """Fill ``buffer`` from ``handle``; the number of bytes read (short only at end of file)."""
    view = memoryview(buffer).cast("B")
    got = 0
    while got < len(view):
        n = handle.readinto(view[got:])
        if not n:
            break
        got += n
    return got
