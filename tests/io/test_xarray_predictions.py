"""xarray in, xarray out: dimension names given to fit/predict, predictions along the sample dim."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from streamgmm import GaussianMixture
from streamgmm.core.errors import InvalidInputError

N_ROWS, N_BANDS = 600, 3


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    rng = np.random.RandomState(1)
    return np.vstack([rng.randn(N_ROWS // 2, N_BANDS), rng.randn(N_ROWS // 2, N_BANDS) + 5.0])


@pytest.fixture(scope="module")
def image(values) -> xr.DataArray:
    """Bands first, as satellite data often are: dims (band, time), a time coordinate."""
    times = pd.date_range("2026-01-01", periods=N_ROWS, freq="h")
    return xr.DataArray(
        values.T, dims=("band", "time"),
        coords={"band": ["red", "green", "blue"], "time": times,
                "station": ("time", np.arange(N_ROWS) % 7)},
        name="reflectance",
    )


@pytest.fixture(scope="module")
def model(image) -> GaussianMixture:
    return GaussianMixture(2, random_state=0).fit(image, sample_dim="time", feature_dim="band")


def test_fit_takes_the_dimension_names(model, values):
    reference = GaussianMixture(2, random_state=0).fit(values)
    np.testing.assert_allclose(np.sort(model.means_, axis=0), np.sort(reference.means_, axis=0),
                               rtol=1e-8)
    assert list(model.feature_names_in_) == ["red", "green", "blue"]


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy-backed", "dask-backed"])
def test_predictions_come_back_along_the_sample_dimension(model, image, values, lazy):
    data = image.chunk({"time": 128}) if lazy else image
    dims = {"sample_dim": "time", "feature_dim": "band"}
    labels = model.predict(data, **dims)
    proba = model.predict_proba(data, **dims)
    log_likelihood = model.score_samples(data, **dims)

    assert isinstance(labels, xr.DataArray) and labels.dims == ("time",)
    assert proba.dims == ("time", "component") and list(proba["component"].values) == [0, 1]
    assert log_likelihood.dims == ("time",)
    for result in (labels, proba, log_likelihood):
        assert isinstance(result.data, da.Array) == lazy  # lazy input stays lazy, and only then
        xr.testing.assert_equal(result["time"], image["time"])
        np.testing.assert_array_equal(result["station"].values, image["station"].values)
    unnamed = GaussianMixture.from_parameters(model.parameters_)  # the same model, for numpy rows
    np.testing.assert_array_equal(labels.values, unnamed.predict(values))
    np.testing.assert_allclose(proba.values, unnamed.predict_proba(values), rtol=1e-12)
    np.testing.assert_allclose(log_likelihood.values, unnamed.score_samples(values), rtol=1e-12)
    assert model.score(data, **dims) == pytest.approx(unnamed.score(values), rel=1e-12)


def test_default_dimension_names_and_a_dataset(values):
    array = xr.DataArray(values, dims=("sample", "feature"),
                         coords={"sample": np.arange(100, 100 + N_ROWS)})
    model = GaussianMixture(2, random_state=0).fit(array)
    labels = model.predict(xr.Dataset({"X": array}))
    assert labels.dims == ("sample",) and labels.name == "label"
    np.testing.assert_array_equal(labels["sample"].values, np.arange(100, 100 + N_ROWS))
    np.testing.assert_array_equal(labels.values, model.predict(values))


def test_the_error_says_what_works_and_it_does(image):
    with pytest.raises(InvalidInputError) as caught:
        GaussianMixture(2).fit(image)
    message = str(caught.value)
    assert "no 'sample'" in message and "here 'band' and 'time'" in message
    assert "fit(data, sample_dim=..., feature_dim=...)" in message
    assert "predict, predict_proba, score_samples and score" in message
    # Following the advice works.
    model = GaussianMixture(2, random_state=0).fit(image, sample_dim="time", feature_dim="band")
    assert model.predict(image, sample_dim="time", feature_dim="band").sizes == {"time": N_ROWS}
    with pytest.raises(InvalidInputError, match="here 'band' and 'time'"):
        model.predict(image)  # predict needs the names too


def test_dimension_names_for_an_array_without_them_are_refused(values):
    with pytest.raises(InvalidInputError, match="sample_dim/feature_dim name the dimensions of xarray"):
        GaussianMixture(2).fit(values, sample_dim="time")


def test_numpy_input_still_gives_numpy(model, values):
    plain = GaussianMixture(2, random_state=0).fit(values)
    assert type(plain.predict(values)) is np.ndarray
    assert type(plain.predict_proba(values)) is np.ndarray
