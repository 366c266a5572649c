"""``partial_fit`` never keeps a non-finite model: a batch that would produce one is refused,
and the model (fitted attributes, online state, warm-up buffer) is exactly as it was before it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from streamgmm import GaussianMixture
from streamgmm.core.errors import NonFiniteModelError, ValuesTooLargeError
from streamgmm.core.params import MixtureParameters

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
COUNTERS = ("n_steps_", "n_samples_seen_", "step_size_", "batch_log_likelihood_")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
    return centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 3))


def _snapshot(model: GaussianMixture) -> dict:
    return {name: copy.deepcopy(getattr(model, name)) for name in FITTED + COUNTERS if hasattr(model, name)}


def _assert_unchanged(model: GaussianMixture, before: dict) -> None:
    for name, value in before.items():
        now = getattr(model, name)
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(now, value, err_msg=name)
        else:
            assert now == value or (np.isnan(now) and np.isnan(value)), name


@pytest.fixture
def streaming() -> GaussianMixture:
    """A model past its warm-up, after a few stepwise updates."""
    model = GaussianMixture(3, covariance_type="full", random_state=0, warm_up_size=600)
    for i in range(4):
        model.partial_fit(_rows(300, seed=i))
    assert model.n_steps_ == 2
    return model


@pytest.mark.parametrize(
    ("transform", "dtype"),
    [("times 1e300", np.float64), ("plus 1e300", np.float64), ("times 1e19", np.float32)],
)
def test_a_batch_too_large_to_square_leaves_the_model_unchanged(streaming, transform, dtype):
    rows = _rows(200, seed=10)
    batch = {"times 1e300": rows * 1e300, "plus 1e300": rows + 1e300, "times 1e19": rows * 1e19}[transform]
    batch = batch.astype(dtype)
    before = _snapshot(streaming)
    state = streaming.online_state_
    with pytest.raises(ValuesTooLargeError) as caught:
        streaming.partial_fit(batch)
    message = str(caught.value)
    assert f"to square in {np.dtype(dtype).name}" in message, message
    assert "StandardScaler" in message and "The model is unchanged" in message, message
    _assert_unchanged(streaming, before)
    assert streaming.online_state_ is state
    # The stream goes on from the same model.
    streaming.partial_fit(_rows(300, seed=11))
    assert streaming.n_steps_ == before["n_steps_"] + 1
    assert np.isfinite(streaming.covariances_).all()


def test_a_non_finite_update_not_caused_by_the_batch_size_is_refused_too():
    """Ordinary rows against a model of near-zero variances: the log-likelihood overflows."""
    tight = MixtureParameters.from_covariances(
        np.full(3, 1 / 3), np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]]),
        np.full((3, 3), 1e-300), "diag",
    )
    model = GaussianMixture.from_parameters(tight)
    before = _snapshot(model)
    with pytest.raises(NonFiniteModelError) as caught:
        model.partial_fit(_rows(200, seed=12) * 1e5)
    message = str(caught.value)
    assert not isinstance(caught.value, ValuesTooLargeError)
    assert "stepwise update 1" in message and "The model is unchanged" in message, message
    _assert_unchanged(model, before)
    assert not hasattr(model, "online_state_") and not hasattr(model, "n_steps_")


def test_a_failed_warm_up_leaves_the_model_unfitted_with_its_earlier_batches():
    model = GaussianMixture(3, covariance_type="diag", random_state=0, warm_up_size=600)
    first = _rows(300, seed=20)
    model.partial_fit(first)
    with pytest.raises(ValuesTooLargeError):
        model.partial_fit(_rows(300, seed=21) * 1e300)  # completes the warm-up: the fit refuses it
    assert not hasattr(model, "means_") and not hasattr(model, "online_state_")
    assert model._warm_up_buffer.n_rows == 300
    np.testing.assert_array_equal(model._warm_up_buffer.rows[0], first)
    # A good batch completes the same warm-up the huge one would have.
    second = _rows(300, seed=22)
    model.partial_fit(second)
    reference = GaussianMixture(3, covariance_type="diag", random_state=0).fit(np.vstack([first, second]))
    np.testing.assert_array_equal(model.means_, reference.means_)
