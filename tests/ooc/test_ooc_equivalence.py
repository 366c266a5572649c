"""Out-of-core fits equal in-memory fits bit for bit when the row chunks equal ``chunk_size``.

Every accepted out-of-core source (Zarr v3 and v2 paths, a Zarr array stored (feature, sample),
a Parquet folder with a column selection, an xarray Dataset variable, a transposed DataArray, a
zarr array object, Dask arrays) is fitted with the Dask driver and compared with an in-memory fit
of the same rows, read independently of streamgmm (zarr / pyarrow), with ``chunk_size`` equal to
the storage chunk. Each covariance type appears with data-driven (k-means) initialisation and
with given initial parameters.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr
from ooc_helpers import CHUNK, N_FEATURES, N_SAMPLES, assert_same_model, estimator, given_init

import streamgmm


def _zarr_rows(path) -> np.ndarray:
    return np.asarray(zarr.open_group(str(path), mode="r")["X"][:])


def _parquet_rows(path, columns) -> np.ndarray:
    table = pq.read_table(str(path), columns=list(columns))
    return np.column_stack([table.column(c).to_numpy() for c in columns])


# Each case: (id, covariance_type, init, scheduler, builder(request) -> (source, reference rows)).
def _zarr3(request):
    path = request.getfixturevalue("zarr3_path")
    return str(path), _zarr_rows(path)


def _zarr2(request):
    path = request.getfixturevalue("zarr2_path")
    return path, _zarr_rows(path)  # a pathlib.Path, not a str


def _zarr2_transposed(request):
    path = request.getfixturevalue("zarr_transposed_v2_path")
    return str(path), np.asarray(zarr.open_group(str(path), mode="r")["X"][:]).T


def _zarr_array_object(request):
    path = request.getfixturevalue("zarr3_path")
    array = zarr.open_group(str(path), mode="r")["X"]
    return array, np.asarray(array[:])


def _parquet_columns(request):
    path = request.getfixturevalue("parquet_path")
    columns = ["x0", "x1", "x2"]  # leaves out the extra int32 'label' column
    return streamgmm.open_rows(str(path), columns=columns), _parquet_rows(path, columns)


def _parquet_reordered(request):
    path = request.getfixturevalue("parquet_path")
    columns = ["x2", "x0", "x1"]
    return streamgmm.open_rows(str(path), columns=columns), _parquet_rows(path, columns)


def _dataset_variable(request):
    path = request.getfixturevalue("zarr3_path")
    dataset = xr.open_zarr(str(path))
    return streamgmm.open_rows(dataset, variable="X"), _zarr_rows(path)


def _dataarray_transposed(request):
    path = request.getfixturevalue("zarr3_path")
    array = xr.open_zarr(str(path))["X"].transpose("feature", "sample")
    assert array.dims == ("feature", "sample")
    return array, _zarr_rows(path)


def _dask_array(request):
    X = request.getfixturevalue("X")
    return da.from_array(X, chunks=(CHUNK, N_FEATURES)), X


def _dask_split_features(request):
    X = request.getfixturevalue("X")
    return da.from_array(X, chunks=(CHUNK, 1)), X  # the driver must join the feature chunks


CASES = [
    ("zarr3-path", "full", "kmeans", None, _zarr3),
    ("zarr3-path", "spherical", "given", "synchronous", _zarr3),
    ("zarr2-path", "tied", "kmeans", "threads", _zarr2),
    ("zarr2-feature-sample-layout", "diag", "given", None, _zarr2_transposed),
    ("zarr-array-object", "full", "given", "synchronous", _zarr_array_object),
    ("parquet-columns", "diag", "kmeans", None, _parquet_columns),
    ("parquet-reordered-columns", "tied", "given", None, _parquet_reordered),
    ("xarray-dataset-variable", "spherical", "kmeans", None, _dataset_variable),
    ("xarray-dataarray-transposed", "full", "given", "threads", _dataarray_transposed),
    ("dask-array", "tied", "given", None, _dask_array),
    ("dask-array-split-features", "diag", "kmeans", "synchronous", _dask_split_features),
]


@pytest.mark.parametrize(
    "covariance_type, init, scheduler, build",
    [case[1:] for case in CASES],
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES],
)
def test_out_of_core_fit_equals_in_memory_fit_bitwise(request, covariance_type, init, scheduler, build):
    source, rows = build(request)
    assert rows.shape == (N_SAMPLES, N_FEATURES)
    options = {} if init == "kmeans" else given_init(rows, covariance_type)
    expected = estimator(covariance_type=covariance_type, **options).fit(rows)
    got = estimator(covariance_type=covariance_type, scheduler=scheduler, **options).fit(source)

    assert_same_model(got, expected, f"{covariance_type} fit of {type(source).__name__}")
    assert got.n_features_in_ == N_FEATURES
    assert got.n_iter_ == 6
    assert got.n_invalid_rows_ == 0


def test_sampled_kmeans_init_equals_in_memory_bitwise(zarr3_path, X):
    """With init_sample_size < N both drivers draw the same rows, hence the same initial model."""
    expected = estimator(init_sample_size=700).fit(X)
    got = estimator(init_sample_size=700, scheduler="threads").fit(str(zarr3_path))
    assert_same_model(got, expected, "init_sample_size=700")
    # and the sample really matters: a different sample gives a different start
    other = estimator(init_sample_size=700, random_state=1, max_iter=1).fit(str(zarr3_path))
    assert not np.array_equal(other.lower_bounds_[:1], got.lower_bounds_[:1])


def test_float32_zarr_fit_equals_in_memory_float32_fit_bitwise(zarr3_float32_path):
    rows = np.asarray(zarr.open_group(str(zarr3_float32_path), mode="r")["X"][:])
    assert rows.dtype == np.float32
    expected = estimator(covariance_type="full").fit(rows)
    got = estimator(covariance_type="full").fit(str(zarr3_float32_path))
    assert_same_model(got, expected, "float32 Zarr")
    assert got.means_.dtype == expected.means_.dtype == np.float32  # as scikit-learn keeps float32


def test_zarr_v2_and_v3_copies_of_the_same_rows_give_the_same_model(zarr2_path, zarr3_path):
    assert np.array_equal(_zarr_rows(zarr2_path), _zarr_rows(zarr3_path))
    v2 = estimator(covariance_type="diag", max_iter=3).fit(str(zarr2_path))
    v3 = estimator(covariance_type="diag", max_iter=3).fit(str(zarr3_path))
    assert_same_model(v2, v3, "zarr v2 vs v3")


def test_parquet_feature_names_are_the_selected_columns(parquet_path):
    model = estimator(max_iter=1).fit(streamgmm.open_rows(str(parquet_path), columns=["x2", "x0", "x1"]))
    assert list(model.feature_names_in_) == ["x2", "x0", "x1"]


@pytest.mark.parametrize("weights_kind", ["numpy", "dask-other-chunks"])
def test_weighted_out_of_core_fit_equals_in_memory_bitwise(zarr3_path, X, weights_kind):
    weights = np.random.default_rng(3).uniform(0.2, 3.0, size=N_SAMPLES)
    given = weights if weights_kind == "numpy" else da.from_array(weights, chunks=1000)
    expected = estimator(covariance_type="full").fit(X, sample_weight=weights)
    got = estimator(covariance_type="full").fit(str(zarr3_path), sample_weight=given)
    assert_same_model(got, expected, f"sample_weight ({weights_kind})")


def test_zarr_file_url_equals_local_path(zarr3_path):
    url = Path(zarr3_path).resolve().as_uri()
    assert url.startswith("file://")
    assert_same_model(estimator(max_iter=2).fit(url), estimator(max_iter=2).fit(str(zarr3_path)), "file:// URL")


@pytest.mark.parametrize("format", ["parquet", None], ids=["format-given", "format-detected"])
def test_parquet_folder_url_equals_local_path(parquet_path, format):
    url = Path(parquet_path).resolve().as_uri()
    columns = ["x0", "x1", "x2"]
    try:
        rows = streamgmm.open_rows(url, columns=columns, format=format)
    except Exception as error:  # noqa: BLE001
        pytest.fail(
            f"open_rows({url!r}, columns={columns}, format={format!r}) on a folder of Parquet files "
            f"raised {type(error).__name__}: {error}; the local path of the same folder is detected "
            "as Parquet"
        )
    local = streamgmm.open_rows(str(parquet_path), columns=columns)
    assert_same_model(estimator(max_iter=2).fit(rows), estimator(max_iter=2).fit(local), "Parquet URL")
