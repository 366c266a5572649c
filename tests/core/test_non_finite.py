"""Never a non-finite model: values too large to square, and NaN at any EM step, are clear errors.

Before these checks, ``GaussianMixture(2).fit(X * 1e300)`` returned NaN covariances, a NaN
``lower_bound_`` and every label 0, with only RuntimeWarnings (which this suite turns into
errors, so a test passing here also proves no such warning is emitted on the way).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from streamgmm import GaussianMixture
from streamgmm.core.em import EMState, run_em
from streamgmm.core.errors import (
    InvalidInputError,
    NonFiniteModelError,
    StreamGMMError,
    ValuesTooLargeError,
)
from streamgmm.core.estep import chunk_statistics, natural_form
from streamgmm.core.finite import square_limit
from streamgmm.core.init import initial_parameters
from streamgmm.core.mstep import maximise
from streamgmm.core.statistics import SufficientStatistics
from streamgmm.core.stepwise import StepSchedule, start_from_parameters, stepwise_update
from streamgmm.drivers.checkpoint import CheckpointMismatchError, FitCheckpoint

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def X(make_blobs) -> np.ndarray:
    return make_blobs(400, 2, 2, 6.0, seed=71)[0]


def _fitted(model: GaussianMixture) -> bool:
    return hasattr(model, "means_")


# ----------------------------------------------------------------- in-memory fit, float64
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("transform", ["times 1e300", "plus 1e300"])
def test_values_too_large_to_square_are_refused_before_any_work(X, covariance_type, transform):
    data = X * 1e300 if transform == "times 1e300" else X + 1e300
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    with pytest.raises(ValuesTooLargeError) as caught:
        model.fit(data)
    message = str(caught.value)
    assert "too large to square in float64" in message, message
    assert f"max |x| = {np.abs(data).max():.3g}" in message, message
    assert "StandardScaler" in message, message  # the way out
    largest = np.unravel_index(np.argmax(np.abs(data)), data.shape)
    assert f"row {largest[0]}, column {largest[1]}" in message, message
    assert not _fitted(model)


def test_the_error_belongs_to_both_hierarchies(X):
    """Catchable as bad input, as a non-finite model, and as a ValueError like scikit-learn's."""
    with pytest.raises(ValuesTooLargeError) as caught:
        GaussianMixture(2).fit(X * 1e300)
    for cls in (InvalidInputError, NonFiniteModelError, StreamGMMError, ValueError):
        assert isinstance(caught.value, cls), cls


@pytest.mark.parametrize("scale", [1e100, 1e140])
def test_large_but_squarable_values_still_fit(X, scale):
    """Data below the limit fit like the unscaled data."""
    reference = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    model = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X * scale)
    assert np.isfinite(model.lower_bound_) and np.isfinite(model.covariances_).all()
    np.testing.assert_allclose(model.means_ / scale, reference.means_, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X * scale), reference.predict(X))


# ---------------------------------------------------------------------------- float32
@pytest.mark.parametrize("scale", [1e19, 1e30])
def test_float32_values_too_far_apart_to_square_in_float32(X, scale):
    data = (X * scale).astype(np.float32)
    with pytest.raises(ValuesTooLargeError) as caught:
        GaussianMixture(2, random_state=0).fit(data)
    message = str(caught.value)
    assert "to square in float32" in message, message
    assert "dtype='float64'" in message, message  # the other way out for float32 data


def test_float32_data_beyond_float32_squares_fit_in_float64(X):
    """The way out the message gives works: the same float32 rows computed in float64."""
    data = (X * 1e19).astype(np.float32)
    model = GaussianMixture(2, random_state=0, dtype="float64").fit(data)
    assert np.isfinite(model.lower_bound_) and np.isfinite(model.covariances_).all()
    reference = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_array_equal(model.predict(data), reference.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_just_inside_the_limit_fit_over_full_tiles(make_blobs, dtype, covariance_type):
    """The limit holds whatever the row count: 6000 rows fill whole tiles of 4096 (float32's
    squares are summed per tile in float32) and fit without an overflow warning."""
    X = make_blobs(6000, 2, 2, 6.0, seed=72)[0]
    X = X - X.mean(axis=0)
    data = (X * (0.9 * square_limit(dtype) / np.abs(X).max())).astype(dtype)
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(data)
    assert np.isfinite(model.lower_bound_) and np.isfinite(model.covariances_).all()
    reference = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert (model.predict(data) == reference.predict(X)).mean() > 0.99


def test_beyond_the_float32_limit_is_refused(X):
    spread = float(np.abs(X - X.mean(axis=0)).max())
    data = (X * (2 * square_limit(np.float32) / spread)).astype(np.float32)
    with pytest.raises(ValuesTooLargeError, match="to square in float32"):
        GaussianMixture(2, random_state=0).fit(data)
    assert np.isfinite(GaussianMixture(2, random_state=0, dtype="float64").fit(data).lower_bound_)


# ------------------------------------------------- the per-iteration check (no init sample)
def _precisions(covariance_type: str, value: float, n_components: int = 2, n_features: int = 2):
    return {
        "full": np.stack([np.eye(n_features) * value] * n_components),
        "tied": np.eye(n_features) * value,
        "diag": np.full((n_components, n_features), value),
        "spherical": np.full(n_components, value),
    }[covariance_type]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the E-step's own overflow warnings
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rows_too_large_found_by_an_em_pass_are_named(X, covariance_type):
    """With every initial parameter given nothing is sampled: the pass's statistics are not
    finite, and the driver names the rows that cannot be squared."""
    model = GaussianMixture(
        2,
        covariance_type=covariance_type,
        weights_init=[0.5, 0.5],
        means_init=X[:2],
        precisions_init=_precisions(covariance_type, 1.0),
        chunk_size=100,
    )
    data = np.array(X)
    data[250] *= 1e300  # one row, in the third chunk
    with pytest.raises(ValuesTooLargeError) as caught:
        model.fit(data)
    message = str(caught.value)
    assert "Cannot fit rows 200-299: values too large to square in float64" in message, message
    assert "at row 250" in message and "StandardScaler" in message, message
    assert not _fitted(model)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_nan_statistics_in_an_iteration_stop_the_fit(X, covariance_type):
    """Ordinary data against near-zero initial variances: the log-likelihood overflows."""
    model = GaussianMixture(
        2,
        covariance_type=covariance_type,
        weights_init=[0.5, 0.5],
        means_init=X[:2],
        precisions_init=_precisions(covariance_type, 1e300),
    )
    with pytest.raises(NonFiniteModelError) as caught:
        model.fit(X * 1e5)
    message = str(caught.value)
    assert not isinstance(caught.value, ValuesTooLargeError)
    assert "The statistics of EM iteration 1 are not finite" in message, message
    assert "no model is returned" in message and "reg_covar" in message, message
    assert not _fitted(model)


def _stats(covariance_type: str, bad: str) -> SufficientStatistics:
    """Statistics of 10 rows per component (K=2, D=2), with NaN in the last entry of ``bad``.

    The last entry of ``n``, ``s1`` and (except for tied) ``s2`` belongs to component 1.
    """
    values = {
        "n": np.array([10.0, 10.0]),
        "s1": np.zeros((2, 2)),
        "s2": {
            "full": np.stack([np.eye(2) * 10.0] * 2),
            "tied": np.eye(2) * 20.0,
            "diag": np.full((2, 2), 10.0),
            "spherical": np.full(2, 20.0),
        }[covariance_type],
    }
    values[bad].reshape(-1)[-1] = np.nan
    return SufficientStatistics(
        covariance_type=covariance_type, shift=np.zeros(2), log_likelihood=-50.0,
        weight_sum=20.0, n_samples=20, **values,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("bad", ["n", "s1", "s2"])
def test_m_step_names_the_step_and_the_component(covariance_type, bad):
    stats = _stats(covariance_type, bad)
    with pytest.raises(NonFiniteModelError) as caught:
        maximise(stats, 1e-6, step="EM iteration 3")
    message = str(caught.value)
    assert "The statistics of EM iteration 3 are not finite" in message, message
    if not (bad == "s2" and covariance_type == "tied"):  # the tied scatter is shared
        assert "component 1" in message, message


def test_m_step_refuses_parameters_that_overflow_from_finite_statistics():
    """Finite sums over a tiny mass overflow in the division: refused, without a warning."""
    stats = SufficientStatistics(
        covariance_type="diag", shift=np.zeros(1), n=np.array([1e-3, 1.0]),
        s1=np.array([[1e306], [0.0]]), s2=np.array([[1.0], [1.0]]), weight_sum=1.0, n_samples=1,
    )
    with pytest.raises(NonFiniteModelError, match="The parameters from the M-step are not finite"):
        maximise(stats, 1e-6)


def test_run_em_raises_after_the_last_finite_iteration(X):
    """Every state handed to the callback (e.g. a checkpoint) is finite; the error names the iteration."""
    params = initial_parameters(X, 2, "full", "kmeans", 1e-6, np.random.RandomState(0))
    seen: list[EMState] = []
    passes = {"count": 0}

    def statistics(current):
        # Real passes, then a third whose statistics hold a NaN.
        passes["count"] += 1
        if passes["count"] == 3:
            return _stats("full", "s2")
        return chunk_statistics(X, natural_form(current))

    with pytest.raises(NonFiniteModelError, match="EM iteration 3"):
        run_em(
            EMState(params=params), statistics, reg_covar=1e-6, tol=0.0, max_iter=10,
            on_iteration=lambda state, change: seen.append(state),
        )
    assert [state.n_iter for state in seen] == [1, 2]
    for state in seen:
        assert np.isfinite(state.params.covariances).all() and np.isfinite(state.lower_bound)


# -------------------------------------------------------------------------- stepwise EM
def test_stepwise_update_refuses_a_non_finite_batch_and_leaves_the_state(X):
    params = initial_parameters(X, 2, "diag", "kmeans", 1e-6, np.random.RandomState(0))
    state = start_from_parameters(params)
    batch = _stats("diag", "s1")
    with pytest.raises(NonFiniteModelError, match="stepwise update 1"):
        stepwise_update(state, batch, StepSchedule(), reg_covar=1e-6)
    assert state.n_updates == 0 and state.params is params  # a value: untouched


# -------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_holding_a_non_finite_model_is_refused(X, tmp_path):
    """An older streamgmm could checkpoint a NaN fit; resuming must not return it."""
    folder = tmp_path / "checkpoint"
    model = GaussianMixture(2, covariance_type="diag", max_iter=3, tol=0.0, random_state=0)
    model.fit(X, checkpoint=folder)
    store = FitCheckpoint(folder)
    with np.load(store.path) as arrays:
        key = json.loads(bytes(arrays["header"]).decode())["key"]
    record = store.load(key)
    nan_params = record.best.params.replace(covariances=np.full_like(record.best.params.covariances, np.nan))
    store.save(replace(record, best=replace(record.best, params=nan_params)))
    again = GaussianMixture(2, covariance_type="diag", max_iter=3, tol=0.0, random_state=0)
    with pytest.raises(CheckpointMismatchError) as caught:
        again.fit(X, checkpoint=folder)
    message = str(caught.value)
    assert str(store.path) in message and "not finite" in message and "Delete it" in message, message
    assert not hasattr(again, "means_")
