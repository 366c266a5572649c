"""Out-of-core prediction: lazy Dask results and Zarr outputs aligned with the input's samples.

``write_predictions`` must produce an xarray-readable group whose sample coordinate is the
input's (here non-trivial: float offsets, integers with gaps, timestamps), whose values equal the
in-memory ``predict`` / ``predict_proba`` / ``score_samples``, and it must never leave a partial
folder or damage an existing output when it fails.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ooc_helpers import CHUNK, N_COMPONENTS, N_SAMPLES, copy_dataset, estimator, tree_digest, zarr_chunk_file

import streamgmm
from streamgmm import write_predictions
from streamgmm.io.destinations import DestinationError
from streamgmm.io.sources import DataReadError

COORDINATES = {
    "float-offsets": lambda n: 1000.0 + 0.25 * np.arange(n),
    "integers-with-gaps": lambda n: np.cumsum(np.arange(n) % 5 + 1) * 10,
    "times": lambda n: pd.date_range("2024-02-28 23:00", periods=n, freq="37s").values,
}


@pytest.fixture(scope="module")
def model(X):
    return estimator(max_iter=4, covariance_type="full").fit(X)


def _write_input(path, X, coordinate, sample_dim="sample"):
    """A Zarr store written by xarray: X (sample, feature) with a sample coordinate, chunks of CHUNK."""
    dataset = xr.Dataset(
        {"X": ((sample_dim, "feature"), X)},
        coords={sample_dim: coordinate, "feature": ["f0", "f1", "f2"]},
    ).chunk({sample_dim: CHUNK})
    dataset.to_zarr(str(path), zarr_format=3)
    return path


def _check_output(output: xr.Dataset, model, X, sample_dim="sample"):
    assert output["labels"].dims == (sample_dim,)
    assert output["log_likelihood"].dims == (sample_dim,)
    assert output["responsibilities"].dims == (sample_dim, "component")
    assert output.sizes["component"] == N_COMPONENTS
    assert output["labels"].dtype == np.int64
    # chunk_size == CHUNK, the input's chunking: the very same per-chunk computation
    assert np.array_equal(output["labels"].values, model.predict(X)), "labels differ from predict"
    assert np.array_equal(output["responsibilities"].values, model.predict_proba(X)), (
        "responsibilities differ from predict_proba"
    )
    assert np.array_equal(output["log_likelihood"].values, model.score_samples(X)), (
        "log_likelihood differs from score_samples"
    )


@pytest.mark.parametrize("kind", sorted(COORDINATES))
def test_written_predictions_are_aligned_with_the_input_coordinate(tmp_path, model, X, kind):
    coordinate = COORDINATES[kind](N_SAMPLES)
    source = _write_input(tmp_path / "input.zarr", X, coordinate)
    target = write_predictions(model.parameters_, str(source), tmp_path / "predictions.zarr")

    output = xr.open_zarr(str(target))
    given = xr.open_zarr(str(source))
    assert output["sample"].dtype == given["sample"].dtype, (
        f"{kind}: the output's sample coordinate has dtype {output['sample'].dtype} but the "
        f"input's has {given['sample'].dtype} (first values {output['sample'].values[:2]} vs "
        f"{given['sample'].values[:2]})"
    )
    assert np.array_equal(output["sample"].values, given["sample"].values), (
        f"{kind}: the output's sample coordinate is not the input's"
    )
    xr.align(given, output, join="exact")  # raises if the sample indexes differ
    _check_output(output, model, X)
    assert output["labels"].encoding["chunks"] == (CHUNK,)


def test_custom_sample_dimension_from_an_xarray_dataset(tmp_path, model, X):
    times = COORDINATES["times"](N_SAMPLES)
    dataset = xr.Dataset(
        {"X": (("time", "channel"), X), "quality": (("time",), np.ones(N_SAMPLES))},
        coords={"time": times},
    ).chunk({"time": CHUNK})
    target = write_predictions(
        model.parameters_, dataset, tmp_path / "out.zarr", variable="X",
        sample_dim="time", feature_dim="channel",
    )
    output = xr.open_zarr(str(target))
    assert np.array_equal(output["time"].values, dataset["time"].values)
    xr.align(dataset, output, join="exact")
    _check_output(output, model, X, sample_dim="time")


def test_parquet_predictions_are_indexed_by_row(tmp_path, model, parquet_path, X):
    rows = streamgmm.open_rows(str(parquet_path), columns=["x0", "x1", "x2"])
    target = write_predictions(model.parameters_, rows, tmp_path / "out.zarr")
    output = xr.open_zarr(str(target))
    assert np.array_equal(output["sample"].values, np.arange(N_SAMPLES))
    _check_output(output, model, X)


def test_irregular_dask_chunks_and_an_output_subset(tmp_path, model, X):
    source = da.from_array(X, chunks=((1000, 300, 1000), (3,)))
    target = write_predictions(model.parameters_, source, tmp_path / "out.zarr", outputs=["labels"])
    output = xr.open_zarr(str(target))
    assert set(output.data_vars) == {"labels"}
    assert np.array_equal(output["labels"].values, model.predict(X))


def test_lazy_predictions_on_dask_input_equal_in_memory(model, X):
    source = da.from_array(X, chunks=(CHUNK, 3))
    labels, proba, log_likelihood = model.predict(source), model.predict_proba(source), model.score_samples(source)
    for lazy in (labels, proba, log_likelihood):
        assert isinstance(lazy, da.Array), f"{type(lazy).__name__} is not lazy"
    assert proba.chunks[0] == source.chunks[0]
    assert np.array_equal(labels.compute(), model.predict(X))
    assert np.array_equal(proba.compute(), model.predict_proba(X))
    assert np.array_equal(log_likelihood.compute(), model.score_samples(X))
    assert model.score(source) == pytest.approx(model.score(X), rel=1e-12)


def test_lazy_predictions_on_a_zarr_path_and_information_criteria(model, zarr3_path, X):
    assert np.array_equal(model.predict(str(zarr3_path)).compute(), model.predict(X))
    assert model.bic(str(zarr3_path)) == pytest.approx(model.bic(X), rel=1e-12)
    assert model.aic(str(zarr3_path)) == pytest.approx(model.aic(X), rel=1e-12)


# ------------------------------------------------------------------------ failures leave no trace
def _hidden_leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_existing_output_is_refused_without_overwrite_and_kept(tmp_path, model, zarr3_path):
    target = write_predictions(model.parameters_, str(zarr3_path), tmp_path / "out.zarr")
    before = tree_digest(target)
    with pytest.raises(DestinationError, match="overwrite=True"):
        write_predictions(model.parameters_, str(zarr3_path), target)
    assert tree_digest(target) == before, "the existing output was modified"
    assert _hidden_leftovers(tmp_path) == [], "a partial folder was left behind"


def test_failed_overwrite_keeps_the_previous_output(tmp_path, model, zarr3_path, X):
    target = write_predictions(model.parameters_, str(zarr3_path), tmp_path / "out.zarr")
    before = tree_digest(target)
    damaged = copy_dataset(zarr3_path, tmp_path / "damaged.zarr")
    zarr_chunk_file(damaged, "X", 3).unlink()

    with pytest.raises(DataReadError, match="rows 1200-1599"):
        write_predictions(model.parameters_, str(damaged), target, overwrite=True, scheduler="threads")
    assert tree_digest(target) == before, "a failed overwrite damaged the previous output"
    assert _hidden_leftovers(tmp_path) == [], "a partial or retired folder was left behind"
    _check_output(xr.open_zarr(str(target)), model, X)


def test_successful_overwrite_replaces_the_output_completely(tmp_path, model, zarr3_path, X):
    target = write_predictions(model.parameters_, str(zarr3_path), tmp_path / "out.zarr",
                               outputs=["log_likelihood"])
    other = estimator(max_iter=1, random_state=3).fit(X)
    write_predictions(other.parameters_, str(zarr3_path), target, overwrite=True)
    output = xr.open_zarr(str(target))
    assert set(output.data_vars) == {"labels", "responsibilities", "log_likelihood"}
    _check_output(output, other, X)
    assert _hidden_leftovers(tmp_path) == []
