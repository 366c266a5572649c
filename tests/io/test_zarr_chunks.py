"""Direct chunk-file reads of local Zarr arrays agree with zarr-python, or are not used.

Every supported layout (format 2 and 3; raw, Zstandard, Blosc, gzip and, for format 2,
any numcodecs compressor) is read both ways over ranges that start, end and straddle
chunk boundaries, including the padded last chunk. Layouts the direct reader does not
handle must fall back to zarr-python, and damaged chunk files must fail loudly.
"""

from __future__ import annotations

from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

from streamgmm.io.sources import DataReadError, ZarrRows, open_rows
from streamgmm.io.zarr_chunks import ChunkFileReader, chunk_file_reader

N_ROWS, N_COLS, CHUNK = 1003, 5, 100  # the last chunk holds 3 rows, padded to 100 on disk
RANGES = [(0, N_ROWS), (0, CHUNK), (CHUNK, 2 * CHUNK), (50, 150), (999, N_ROWS),
          (1000, N_ROWS), (5, 6), (0, 0), (120, 780)]

LAYOUTS = {
    "v3-raw": (3, {"compressors": None}),
    "v3-zstd": (3, {"compressors": [ZstdCodec(level=1)]}),
    "v3-zstd-checksum": (3, {"compressors": [ZstdCodec(level=1, checksum=True)]}),
    "v3-blosc": (3, {"compressors": [BloscCodec(cname="lz4", shuffle="shuffle")]}),
    "v3-gzip": (3, {"compressors": [GzipCodec(level=1)]}),
    "v2-default": (2, {}),
    "v2-raw": (2, {"compressors": None}),
    "v2-blosc": (2, {"compressors": [numcodecs.Blosc(cname="zstd")]}),
    "v2-lz4": (2, {"compressors": [numcodecs.LZ4()]}),
    "v2-zlib": (2, {"compressors": [numcodecs.Zlib()]}),
}


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(N_ROWS, N_COLS)).astype(np.float32)


def write(path: Path, X: np.ndarray, zarr_format: int, **kwargs) -> zarr.Array:
    array = zarr.create_array(str(path), shape=X.shape, chunks=(CHUNK, X.shape[1]),
                              dtype=X.dtype, zarr_format=zarr_format, **kwargs)
    array[:] = X
    return array


def reader_for(path: Path, X: np.ndarray) -> ZarrRows:
    reader = ZarrRows(str(path), "", X.shape, X.dtype)
    reader._open()
    return reader


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_direct_reads_equal_zarr_reads(tmp_path, X, layout):
    zarr_format, kwargs = LAYOUTS[layout]
    array = write(tmp_path / "a.zarr", X, zarr_format, **kwargs)
    direct = chunk_file_reader(array)
    assert isinstance(direct, ChunkFileReader), f"{layout} should be read directly"
    for start, stop in RANGES:
        block = direct.read_rows(start, stop)
        assert block.shape == (stop - start, N_COLS) and block.dtype == X.dtype
        np.testing.assert_array_equal(block, array[start:stop], err_msg=f"rows {start}-{stop}")
        np.testing.assert_array_equal(block, X[start:stop])


@pytest.mark.parametrize("dtype", ["float64", "int16", "uint8"])
def test_other_numeric_dtypes(tmp_path, X, dtype):
    data = (X * 10).astype(dtype)
    direct = chunk_file_reader(write(tmp_path / "a.zarr", data, 3))
    assert direct is not None
    np.testing.assert_array_equal(direct.read_rows(40, 260), data[40:260])


def test_group_member_and_nested_keys(tmp_path, X):
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=2)
    array = group.create_array("inner/X", shape=X.shape, chunks=(CHUNK, N_COLS), dtype=X.dtype,
                               chunk_key_encoding={"name": "v2", "separator": "/"})
    array[:] = X
    assert (tmp_path / "g.zarr" / "inner" / "X" / "3" / "0").is_file()
    direct = chunk_file_reader(array)
    assert direct is not None
    np.testing.assert_array_equal(direct.read_rows(250, 640), X[250:640])


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("width", [1, 2, 4])
def test_features_split_across_chunks(tmp_path, X, zarr_format, width):
    """Column chunks, the last one padded when they do not divide D."""
    array = zarr.create_array(str(tmp_path / "a.zarr"), shape=X.shape, chunks=(CHUNK, width),
                              dtype=X.dtype, zarr_format=zarr_format)
    array[:] = X
    direct = chunk_file_reader(array)
    assert direct is not None
    for start, stop in RANGES:
        np.testing.assert_array_equal(direct.read_rows(start, stop), X[start:stop])


@pytest.mark.parametrize("why", ["sharded", "big-endian", "memory-store"])
def test_other_layouts_are_left_to_zarr(tmp_path, X, why):
    if why == "sharded":
        array = write(tmp_path / "a.zarr", X, 3, shards=(4 * CHUNK, N_COLS))
    elif why == "big-endian":
        array = write(tmp_path / "a.zarr", X.astype(">f4"), 2)
    else:
        array = zarr.create_array(zarr.storage.MemoryStore(), shape=X.shape,
                                  chunks=(CHUNK, N_COLS), dtype=X.dtype)
        array[:] = X
    assert chunk_file_reader(array) is None
    if why != "memory-store":  # the public reader still reads it, through zarr-python
        np.testing.assert_array_equal(np.asarray(open_rows(str(tmp_path / "a.zarr")).array), X)


def test_feature_major_store_is_read_through_zarr(tmp_path, X):
    group = zarr.open_group(str(tmp_path / "t.zarr"), mode="w")
    array = group.create_array("X", shape=X.T.shape, chunks=(N_COLS, CHUNK), dtype=X.dtype,
                               dimension_names=("feature", "sample"))
    array[:] = X.T
    rows = open_rows(str(tmp_path / "t.zarr"))
    rows.reader._open()
    assert rows.reader._direct is None
    np.testing.assert_array_equal(np.asarray(rows.array), X)


def test_open_rows_uses_direct_reads_for_plain_stores(tmp_path, X):
    write(tmp_path / "a.zarr", X, 3)
    rows = open_rows(str(tmp_path / "a.zarr"))
    np.testing.assert_array_equal(np.asarray(rows.array), X)
    assert rows.reader._direct is not None  # opened lazily by the read above


# ------------------------------------------------------------------------ damaged chunk files
def chunk_path(root: Path, index: int) -> Path:
    return root / "c" / str(index) / "0"


def test_missing_chunk_names_store_and_rows(tmp_path, X):
    write(tmp_path / "a.zarr", X, 3)
    chunk_path(tmp_path / "a.zarr", 2).unlink()
    reader = reader_for(tmp_path / "a.zarr", X)
    with pytest.raises(DataReadError, match=r"rows 150-349 .*a\.zarr.*FileNotFoundError.*c/2/0"):
        reader.read_rows(150, 350)
    np.testing.assert_array_equal(reader.read_rows(300, 450), X[300:450])  # others still read


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_truncated_chunk_fails_without_fill(tmp_path, X, zarr_format):
    write(tmp_path / "a.zarr", X, zarr_format, compressors=None)
    path = (chunk_path(tmp_path / "a.zarr", 4) if zarr_format == 3
            else tmp_path / "a.zarr" / "4.0")
    path.write_bytes(path.read_bytes()[:-8])
    reader = reader_for(tmp_path / "a.zarr", X)
    with pytest.raises(DataReadError, match="rows 400-499.*holds 1992 bytes; expected 2000"):
        reader.read_rows(400, 500)


def test_chunk_of_the_wrong_size_is_refused(tmp_path, X):
    """A valid compressed frame of another size must not be half-decoded into the rows."""
    write(tmp_path / "a.zarr", X, 3, compressors=[ZstdCodec(level=1)])
    short = numcodecs.Zstd(level=1).encode(X[:CHUNK - 1].tobytes())
    chunk_path(tmp_path / "a.zarr", 1).write_bytes(short)
    reader = reader_for(tmp_path / "a.zarr", X)
    with pytest.raises(DataReadError, match="decodes to 1980 bytes; expected 2000"):
        reader.read_rows(0, 300)


def test_garbage_chunk_names_the_file(tmp_path, X):
    write(tmp_path / "a.zarr", X, 3)
    chunk_path(tmp_path / "a.zarr", 0).write_bytes(b"not a compressed chunk" * 4)
    reader = reader_for(tmp_path / "a.zarr", X)
    with pytest.raises(DataReadError, match="rows 0-99"):
        reader.read_rows(0, 100)


@pytest.mark.parametrize("declared", ["zstd", "blosc"])
def test_declared_sizes_match_the_codecs(declared, X):
    """The frame-header sizes read without decoding are the sizes the codecs produce."""
    from streamgmm.io.zarr_chunks import ChunkDecoder

    codec = numcodecs.Zstd(level=3) if declared == "zstd" else numcodecs.Blosc()
    for n_rows in (1, 17, 300, N_ROWS):
        raw = np.frombuffer(codec.encode(X[:n_rows].tobytes()), dtype=np.uint8)
        assert ChunkDecoder(codec).content_size(raw) == X[:n_rows].nbytes
