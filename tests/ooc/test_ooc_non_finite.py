"""Out-of-core fits of real Zarr stores whose values are too large to square: clear errors, no model.

The same data as the in-memory tests (``tests/core/test_non_finite.py``), read from Zarr stores
in chunks of CHUNK rows: the initialisation sample refuses them before any EM pass, and with
every initial parameter given (no sample) the first EM pass's statistics are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from ooc_helpers import CHUNK, estimator, given_init

from streamgmm.core.errors import ValuesTooLargeError


def _store(path: Path, rows: np.ndarray) -> str:
    """A Zarr v3 group with ``X`` in row chunks of CHUNK, as the datasets of this folder."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array("X", shape=rows.shape, chunks=(CHUNK, rows.shape[1]), dtype=rows.dtype)
    array[:] = rows
    return str(path)


@pytest.mark.parametrize(
    ("name", "transform", "dtype", "expected"),
    [
        ("times-1e300", lambda X: X * 1e300, np.float64, "too large to square in float64"),
        ("plus-1e300", lambda X: X + 1e300, np.float64, "too large to square in float64"),
        ("f32-times-1e19", lambda X: X * 1e19, np.float32, "to square in float32"),
    ],
)
def test_store_too_large_to_square_is_refused_before_any_pass(tmp_path, X, name, transform, dtype, expected):
    rows = transform(X).astype(dtype)
    path = _store(tmp_path / f"{name}.zarr", rows)
    model = estimator(scheduler="synchronous")
    with pytest.raises(ValuesTooLargeError) as caught:
        model.fit(path)
    message = str(caught.value)
    assert expected in message and "StandardScaler" in message, message
    assert not hasattr(model, "means_")


def test_float32_store_beyond_float32_fits_in_float64(tmp_path, X):
    """The float32 way out of the message works out of core too."""
    path = _store(tmp_path / "f32.zarr", (X * 1e19).astype(np.float32))
    model = estimator(scheduler="synchronous", dtype="float64", max_iter=3).fit(path)
    assert np.isfinite(model.lower_bound_) and np.isfinite(model.covariances_).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the E-step's own overflow warnings, in Dask tasks
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_non_finite_statistics_of_a_dask_pass_name_the_chunk(tmp_path, X, covariance_type):
    """No sample drawn (every initial parameter given): the first pass's reduced statistics are
    not finite, and a second pass (made only then) names the store, chunk and row."""
    rows = np.array(X)
    rows[1234] *= 1e300  # one row of chunk 3 (rows 1200-1599)
    path = _store(tmp_path / "huge.zarr", rows)
    checkpoint = tmp_path / "checkpoint"
    model = estimator(scheduler="threads", covariance_type=covariance_type, **given_init(X, covariance_type))
    with pytest.raises(ValuesTooLargeError) as caught:
        model.fit(path, checkpoint=checkpoint)
    message = str(caught.value)
    assert f"Cannot fit {path}, chunk 3 (rows 1200-1599)" in message, message
    assert "at row 1234" in message and "too large to square in float64" in message, message
    assert not hasattr(model, "means_")
    # Started again on the same checkpoint, it resumes from the last finite state, and fails again.
    again = estimator(scheduler="threads", covariance_type=covariance_type, **given_init(X, covariance_type))
    with pytest.raises(ValuesTooLargeError, match="chunk"):
        again.fit(path, checkpoint=checkpoint)
    # The same store, rescaled, fits from the same start: the error was the data's, not the driver's.
    rescaled = _store(tmp_path / "rescaled.zarr", X)
    fitted = estimator(scheduler="threads", covariance_type=covariance_type, **given_init(X, covariance_type))
    assert np.isfinite(fitted.fit(rescaled).lower_bound_)
