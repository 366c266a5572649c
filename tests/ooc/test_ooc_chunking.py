"""Different chunkings of the same rows give the same model to rounding (~1e-10 relative).

The same rows are stored as Zarr with several chunk lengths, as Parquet with other row-group
layouts (several files, unequal row groups), and as Dask arrays with irregular chunks. The
initialisation sample is chosen the same way whatever the chunking, so only the floating-point
order of the reductions differs.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr
from ooc_helpers import N_SAMPLES, assert_models_close, assert_same_model, estimator

import streamgmm
from streamgmm.io.sources import RowData

RTOL = 1e-10


def _write_zarr(path, X, chunk):
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array(
        "X", shape=X.shape, chunks=(chunk, X.shape[1]), dtype=X.dtype,
        dimension_names=("sample", "feature"),
    )
    array[:] = X
    return str(path)


def _write_parquet(folder, X, file_rows, row_group_size):
    """Files of ``file_rows`` rows each, written with ``row_group_size`` rows per group."""
    folder.mkdir()
    start = 0
    for index, n in enumerate(file_rows):
        part = X[start:start + n]
        table = pa.table({"a": part[:, 0], "b": part[:, 1], "c": part[:, 2], "tag": np.arange(n)})
        pq.write_table(table, folder / f"part-{index}.parquet", row_group_size=row_group_size)
        start += n
    assert start == len(X)
    return streamgmm.open_rows(str(folder), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def chunkings(tmp_path_factory, zarr3_path, X):
    """name -> out-of-core source of the same rows, each with another row chunking."""
    root = tmp_path_factory.mktemp("chunkings")
    sources = {
        "zarr-400 (datagen)": str(zarr3_path),
        "zarr-700": _write_zarr(root / "c700.zarr", X, 700),
        "zarr-1000": _write_zarr(root / "c1000.zarr", X, 1000),
        "zarr-single-chunk": _write_zarr(root / "c-all.zarr", X, N_SAMPLES),
        "parquet-2-files-groups-of-500": _write_parquet(root / "pq500", X, [1200, 1100], 500),
        "parquet-3-files-groups-of-333": _write_parquet(root / "pq333", X, [1000, 1000, 300], 333),
        "dask-irregular": da.from_array(X, chunks=((100, 900, 250, 1, 1049), (3,))),
    }
    for source in sources.values():
        rows = source if isinstance(source, RowData) else streamgmm.open_rows(source)
        assert rows.shape == X.shape
    return sources


@pytest.mark.parametrize("covariance_type, init_sample_size", [("full", 1000), ("diag", 100_000)])
def test_chunkings_agree_to_rounding(chunkings, covariance_type, init_sample_size):
    models = {
        name: estimator(covariance_type=covariance_type, init_sample_size=init_sample_size).fit(source)
        for name, source in chunkings.items()
    }
    reference = models["zarr-400 (datagen)"]
    for name, model in models.items():
        assert_models_close(model, reference, RTOL, f"{covariance_type}: {name} vs zarr-400")
        assert model.n_iter_ == reference.n_iter_


def test_in_memory_chunk_size_matching_a_store_is_bitwise(chunkings, X):
    expected = estimator(chunk_size=1000).fit(X)
    got = estimator(chunk_size=1000).fit(chunkings["zarr-1000"])
    assert_same_model(got, expected, "chunk_size=1000 vs Zarr chunks of 1000")
    # ... and the estimator's chunk_size does not re-chunk out-of-core data: the storage chunks rule
    got_other = estimator(chunk_size=123).fit(chunkings["zarr-1000"])
    assert_same_model(got_other, expected, "chunk_size is ignored for stored chunks")
