"""Bad out-of-core input: clear errors that name the store or file, the chunk rows and the name.

Missing and corrupted Zarr chunks, unreadable Parquet files, wrong variable, column and dimension
names, non-numeric columns, a wrong number of features at prediction, and NaN/inf rows under
``nan_policy="raise"`` and ``"drop"``.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr
from ooc_helpers import (
    CHUNK,
    N_FEATURES,
    assert_models_close,
    assert_same_model,
    copy_dataset,
    estimator,
    given_init,
    zarr_chunk_file,
)

import streamgmm
from streamgmm import InvalidInputError, write_predictions
from streamgmm.io.sources import DataReadError


@pytest.fixture(scope="module")
def fitted(X):
    return estimator(max_iter=3).fit(X)


# ------------------------------------------------------------------------ damaged Zarr chunks
@pytest.mark.parametrize("store_fixture", ["zarr3_path", "zarr2_path"])
@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_damaged_zarr_chunk_names_store_and_rows(request, tmp_path, store_fixture, damage):
    store = copy_dataset(request.getfixturevalue(store_fixture), tmp_path / "damaged.zarr")
    chunk = zarr_chunk_file(store, "X", 2)  # rows 800-1199
    if damage == "missing":
        chunk.unlink()
    else:
        chunk.write_bytes(b"this is not a compressed chunk" * 3)

    with pytest.raises(DataReadError) as error:
        estimator(max_iter=2, scheduler="synchronous").fit(str(store))
    message = str(error.value)
    assert str(store) in message, message
    assert "rows 800-1199" in message, message
    assert "'X'" in message, message


def test_missing_chunk_found_during_em_pass_and_prediction(tmp_path, zarr3_path, X, fitted):
    """With given initial parameters the first read is an EM pass; predictions fail the same way."""
    store = copy_dataset(zarr3_path, tmp_path / "damaged.zarr")
    zarr_chunk_file(store, "X", 5).unlink()  # the last, short chunk: rows 2000-2299
    with pytest.raises(DataReadError, match="rows 2000-2299"):
        estimator(max_iter=2, scheduler="threads", **given_init(X, "diag"),
                  covariance_type="diag").fit(str(store))
    labels = fitted.predict(str(store))  # lazy: the error comes when the chunk is read
    with pytest.raises(DataReadError, match="rows 2000-2299"):
        labels.compute(scheduler="synchronous")


def test_unreadable_parquet_file_is_named(tmp_path, parquet_path):
    folder = copy_dataset(parquet_path, tmp_path / "damaged-parquet")
    broken = folder / "part-00001.parquet"
    broken.write_bytes(b"PAR1 but not really a parquet file")
    with pytest.raises(DataReadError) as error:
        estimator(max_iter=1).fit(streamgmm.open_rows(str(folder), columns=["x0", "x1", "x2"]))
    assert str(broken) in str(error.value)


# ------------------------------------------------------------------------ wrong names
def test_wrong_zarr_variable_lists_the_arrays(zarr3_path):
    with pytest.raises(InvalidInputError) as error:
        streamgmm.open_rows(str(zarr3_path), variable="features")
    message = str(error.value)
    assert "'features'" in message and str(zarr3_path) in message, message
    for name in ("X", "labels", "sample", "feature"):
        assert name in message, f"available array {name!r} not listed: {message}"


def test_wrong_dataset_variable_lists_the_variables(zarr3_path):
    dataset = xr.open_zarr(str(zarr3_path))
    with pytest.raises(InvalidInputError) as error:
        streamgmm.open_rows(dataset, variable="Y")
    assert "'Y'" in str(error.value) and "X" in str(error.value) and "labels" in str(error.value)


def test_ambiguous_zarr_group_asks_for_a_variable(tmp_path, X):
    group = zarr.open_group(str(tmp_path / "two.zarr"), mode="w", zarr_format=3)
    for name in ("left", "right"):
        group.create_array(name, shape=X.shape, chunks=(CHUNK, N_FEATURES), dtype=X.dtype)[:] = X
    with pytest.raises(InvalidInputError, match=r"left, right.*variable="):
        estimator().fit(str(tmp_path / "two.zarr"))
    model = estimator(max_iter=1).fit(streamgmm.open_rows(str(tmp_path / "two.zarr"), variable="right"))
    assert model.n_features_in_ == N_FEATURES


def test_dimension_names_are_configurable_and_wrong_ones_are_named(X):
    array = xr.DataArray(da.from_array(X, chunks=(CHUNK, N_FEATURES)), dims=("time", "channel"))
    with pytest.raises(InvalidInputError) as error:
        estimator().fit(array)
    assert "('time', 'channel')" in str(error.value) and "sample_dim" in str(error.value)
    rows = streamgmm.open_rows(array, sample_dim="time", feature_dim="channel")
    assert rows.shape == X.shape
    assert_same_model(estimator().fit(rows), estimator().fit(X), "custom dimension names")


def test_wrong_parquet_column_names_file_and_column(parquet_path):
    with pytest.raises(InvalidInputError) as error:
        streamgmm.open_rows(str(parquet_path), columns=["x0", "x1", "x7"])
    message = str(error.value)
    assert "'x7'" in message and "part-00000.parquet" in message, message
    assert "x0, x1, x2, label" in message, f"the file's columns should be listed: {message}"


@pytest.fixture
def parquet_with_text(tmp_path, X):
    folder = tmp_path / "with-text"
    folder.mkdir()
    table = pa.table({"x0": X[:, 0], "x1": X[:, 1], "site": [f"s{i % 7}" for i in range(len(X))]})
    pq.write_table(table, folder / "data.parquet", row_group_size=CHUNK)
    return folder


@pytest.mark.parametrize("columns", [None, ["x0", "site"]], ids=["all-columns", "selected"])
def test_non_numeric_parquet_column_is_named(parquet_with_text, columns):
    with pytest.raises(InvalidInputError) as error:
        estimator().fit(streamgmm.open_rows(str(parquet_with_text), columns=columns))
    message = str(error.value)
    assert "'site'" in message and "data.parquet" in message and "not numeric" in message, message
    # leaving it out works
    model = estimator(max_iter=1).fit(streamgmm.open_rows(str(parquet_with_text), columns=["x0", "x1"]))
    assert model.n_features_in_ == 2


# ------------------------------------------------------------------------ wrong feature count
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_wrong_feature_count_at_prediction(fitted, X, tmp_path, method):
    narrow = tmp_path / "narrow.zarr"
    group = zarr.open_group(str(narrow), mode="w", zarr_format=3)
    group.create_array("X", shape=(len(X), 2), chunks=(CHUNK, 2), dtype=X.dtype)[:] = X[:, :2]
    wide = da.from_array(np.hstack([X, X[:, :1]]), chunks=(CHUNK, N_FEATURES + 1))
    for source, n in [(str(narrow), 2), (wide, N_FEATURES + 1)]:
        with pytest.raises(InvalidInputError) as error:
            getattr(fitted, method)(source)
        message = str(error.value)
        assert f"{n} features" in message and f"expecting {N_FEATURES}" in message, message


def test_wrong_feature_count_in_write_predictions(fitted, X, tmp_path):
    wide = da.from_array(np.hstack([X, X]), chunks=(CHUNK, 2 * N_FEATURES))
    with pytest.raises(InvalidInputError, match=f"{2 * N_FEATURES} features"):
        write_predictions(fitted.parameters_, wide, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()
    assert list(tmp_path.iterdir()) == [], "nothing may be left behind"


# ------------------------------------------------------------------------ NaN and inf rows
BAD_ROWS = [450, 451, 1203, 2299]  # first in chunk 1 (rows 400-799); the last row of the data


@pytest.fixture(scope="module")
def dirty(tmp_path_factory, X):
    """(path, rows): the data with NaN in three rows and +inf in the last one, as Zarr v3."""
    rows = X.copy()
    rows[450, 0] = np.nan
    rows[451, :] = np.nan
    rows[1203, 2] = np.nan
    rows[2299, 1] = np.inf
    path = tmp_path_factory.mktemp("dirty") / "dirty.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("X", shape=rows.shape, chunks=(CHUNK, N_FEATURES), dtype=rows.dtype)[:] = rows
    return path, rows


@pytest.mark.parametrize("init", ["kmeans", "given"])
def test_nan_rows_raise_with_count_and_first_row(dirty, init):
    path, rows = dirty
    options = {} if init == "kmeans" else given_init(rows[np.isfinite(rows).all(axis=1)], "full")
    with pytest.raises(InvalidInputError) as error:
        estimator(**options).fit(str(path))
    message = str(error.value)
    assert str(path) in message, message
    assert f"{len(BAD_ROWS)} row(s)" in message, message
    assert "row 450" in message and "rows 400-799" in message, message
    assert "nan_policy='drop'" in message, message


@pytest.mark.parametrize("init, covariance_type", [("kmeans", "full"), ("given", "spherical")])
def test_nan_rows_dropped_are_counted_and_fit_like_clean_data(dirty, init, covariance_type):
    path, rows = dirty
    clean = rows[np.isfinite(rows).all(axis=1)]
    assert len(clean) == len(rows) - len(BAD_ROWS)
    options = {} if init == "kmeans" else given_init(clean, covariance_type)

    got = estimator(nan_policy="drop", covariance_type=covariance_type, **options).fit(str(path))
    assert got.n_invalid_rows_ == len(BAD_ROWS)
    expected = estimator(covariance_type=covariance_type, **options).fit(clean)
    # dropping shifts the in-memory chunk boundaries, so equality is to rounding only
    assert_models_close(got, expected, 1e-12, "nan_policy='drop' vs the cleaned data in memory")
    in_memory_drop = estimator(nan_policy="drop", covariance_type=covariance_type, **options).fit(rows)
    assert in_memory_drop.n_invalid_rows_ == len(BAD_ROWS)


def test_clean_refit_resets_the_invalid_row_count(dirty, X):
    path, _ = dirty
    model = estimator(nan_policy="drop", max_iter=1)
    assert model.fit(str(path)).n_invalid_rows_ == len(BAD_ROWS)
    assert model.fit(da.from_array(X, chunks=(CHUNK, N_FEATURES))).n_invalid_rows_ == 0


def test_column_missing_from_a_later_parquet_file_names_that_file(tmp_path, X):
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(pa.table({"a": X[:1000, 0], "b": X[:1000, 1]}), folder / "part-0.parquet")
    pq.write_table(pa.table({"a": X[1000:, 0], "c": X[1000:, 1]}), folder / "part-1.parquet")
    with pytest.raises(InvalidInputError) as error:
        streamgmm.open_rows(str(folder))
    message = str(error.value)
    assert "part-1.parquet" in message and "'b'" in message, message


def test_parquet_nulls_are_invalid_rows(tmp_path, X):
    folder = tmp_path / "nulls"
    folder.mkdir()
    a = pa.array([None if i in (3, 1500) else v for i, v in enumerate(X[:, 0])], pa.float64())
    b = pa.array([None if i == 7 else int(v * 100) for i, v in enumerate(X[:, 1])], pa.int64())
    pq.write_table(pa.table({"a": a, "b": b}), folder / "data.parquet", row_group_size=CHUNK)
    with pytest.raises(InvalidInputError, match=r"3 row\(s\); the first is row 3"):
        estimator().fit(str(folder))
    model = estimator(nan_policy="drop", max_iter=2).fit(str(folder))
    assert model.n_invalid_rows_ == 3
