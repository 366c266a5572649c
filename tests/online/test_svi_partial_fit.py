"""``BayesianGaussianMixture.partial_fit``: stochastic variational inference on a stream.

Compared with the batch variational fit of the same estimator (itself equal to
scikit-learn's, ``tests/bayesian``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from streamgmm import BayesianGaussianMixture
from streamgmm.core.errors import InvalidParameterError, ValuesTooLargeError
from streamgmm.core.estep import chunk_statistics
from streamgmm.core.variational import update_posterior, variational_form

CENTRES = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])


def _draw(rng: np.random.Generator, n: int) -> np.ndarray:
    return CENTRES[rng.integers(0, 4, n)] + rng.normal(scale=0.7, size=(n, 2))


def test_stationary_stream_ends_close_to_the_batch_fit_with_four_components_in_use() -> None:
    """Held-out mean log-likelihood within 0.01 nats per row of the batch fit's.

    Why 0.01: both estimate the same 4 Gaussians (about 20 free parameters) from
    20,000 rows, which costs each of order 20 / 20,000 = 0.001 nats on held-out
    rows; SVI's last steps (rho ~ 0.08) average over a window of about 12 batches
    (6,000 rows), about 0.003 nats more. 0.01 leaves room for both and still
    catches a wrong step (a misplaced or duplicated component costs > 0.1).
    """
    rng = np.random.default_rng(0)
    X, held_out = _draw(rng, 20_000), _draw(rng, 5_000)
    params = dict(n_components=10, weight_concentration_prior_type="dirichlet_process",
                  weight_concentration_prior=0.01, random_state=0, max_iter=500)
    with warnings.catch_warnings():
        # The bound of switched-off components creeps for hundreds of iterations (tol is on
        # the total bound): the batch fit may stop at max_iter, its model is settled by then.
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = BayesianGaussianMixture(**params).fit(X)
    online = BayesianGaussianMixture(**params, warm_up_size=2_000)
    for start in range(0, X.shape[0], 500):
        online.partial_fit(X[start:start + 500])
    assert online.n_steps_ == 36 and online.n_samples_seen_ == 20_000
    assert online.step_size_ == pytest.approx((36 + 2.0) ** -0.7)
    assert abs(online.score(held_out) - batch.score(held_out)) < 0.01
    assert online.n_active_components_ == 4
    # each true centre has one component in use near it
    used = online.means_[online.active_components_]
    distances = np.linalg.norm(used[:, None, :] - CENTRES[None], axis=2)
    assert sorted(distances.argmin(axis=1)) == [0, 1, 2, 3]
    assert distances.min(axis=1).max() < 0.1


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_step_of_one_with_n_equal_to_the_batch_is_one_iteration_of_fit(covariance_type: str) -> None:
    rng = np.random.default_rng(1)
    X = _draw(rng, 3_000)
    start = BayesianGaussianMixture(5, covariance_type=covariance_type, random_state=0, max_iter=3)
    with pytest.warns(ConvergenceWarning):
        start.fit(X[:1_000])
    posterior, priors = start.posterior_, start.priors_
    stepped = BayesianGaussianMixture.from_posterior(
        posterior, priors, step_size=1.0, total_samples=float(X.shape[0])
    )
    stepped.partial_fit(X)
    assert stepped.n_steps_ == 1
    iterated = BayesianGaussianMixture.from_posterior(posterior, priors, warm_start=True, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        iterated.fit(X)
    for name in ("mean_precision_", "means_", "degrees_of_freedom_", "covariances_", "weights_"):
        np.testing.assert_allclose(getattr(stepped, name), getattr(iterated, name), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(stepped.weight_concentration_), np.asarray(iterated.weight_concentration_), rtol=1e-10
    )
    # and it is the variational update of the batch's statistics
    stats = chunk_statistics(X, variational_form(posterior))
    np.testing.assert_allclose(stepped.means_, update_posterior(stats, priors, 1e-6).means, rtol=1e-10)


def test_float32_rows_learn_like_float64() -> None:
    rng = np.random.default_rng(2)
    X = _draw(rng, 6_000)
    models = {}
    for dtype in (np.float64, np.float32):
        model = BayesianGaussianMixture(6, weight_concentration_prior=0.01, random_state=0, max_iter=200,
                                        warm_up_size=1_000, dtype=np.dtype(dtype).name)
        rows = X.astype(dtype)
        for start in range(0, rows.shape[0], 500):
            model.partial_fit(rows[start:start + 500])
        assert model.means_.dtype == np.float64  # accumulated in float64
        models[dtype] = model
    np.testing.assert_allclose(models[np.float32].means_, models[np.float64].means_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(models[np.float32].weights_, models[np.float64].weights_, atol=1e-3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mean_prior": [0.0, 0.0, 0.0]}, "mean_prior has shape"),
        ({"degrees_of_freedom_prior": 0.5}, "degrees_of_freedom_prior=0.5 is invalid"),
        ({"covariance_prior": [[1.0, 2.0], [2.0, 1.0]]}, "positive definite"),
        ({"weight_concentration_prior": -1.0}, "weight_concentration_prior=-1.0 is invalid"),
        ({"total_samples": 0.0}, "total_samples=0.0 is invalid"),
        ({"step_decay": 0.4}, "step_decay=0.4 is invalid"),
    ],
)
def test_invalid_priors_fail_before_any_step(params, message) -> None:
    model = BayesianGaussianMixture(3, **params)
    with pytest.raises(InvalidParameterError, match=message):
        model.partial_fit(_draw(np.random.default_rng(3), 100))
    assert not hasattr(model, "_warm_up_buffer") and not hasattr(model, "online_state_")


def test_a_fitted_model_continues_by_svi_and_fit_starts_afresh() -> None:
    rng = np.random.default_rng(4)
    X = _draw(rng, 4_000)
    model = BayesianGaussianMixture(6, weight_concentration_prior=0.01, random_state=0, max_iter=300).fit(X)
    assert not hasattr(model, "online_state_")
    model.partial_fit(X[:500])
    # the fitted posterior stands for the 4,000 rows it was fitted on
    assert model.online_state_.weight_seen == pytest.approx(4_500, rel=1e-9)
    assert model.n_steps_ == 1
    model.fit(X)
    assert not hasattr(model, "online_state_")


def test_integer_sample_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(5)
    X = _draw(rng, 3_000)
    start = BayesianGaussianMixture(5, random_state=0, max_iter=5)
    with pytest.warns(ConvergenceWarning):  # any posterior will do as a start
        start.fit(X[:2_000])
    batch = X[2_000:2_300]
    weights = rng.integers(1, 4, batch.shape[0]).astype(float)
    weighted = BayesianGaussianMixture.from_posterior(start.posterior_, start.priors_, step_size=0.3)
    weighted.partial_fit(batch, sample_weight=weights)
    repeated = BayesianGaussianMixture.from_posterior(start.posterior_, start.priors_, step_size=0.3)
    repeated.partial_fit(np.repeat(batch, weights.astype(int), axis=0))
    for name in ("mean_precision_", "means_", "covariances_", "weights_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-9)
    assert weighted.online_state_.weight_seen == pytest.approx(repeated.online_state_.weight_seen)


def test_a_batch_too_large_to_square_leaves_the_model_as_it_was() -> None:
    rng = np.random.default_rng(6)
    model = BayesianGaussianMixture(4, random_state=0, max_iter=100, dtype="float32", warm_up_size=500)
    model.partial_fit(_draw(rng, 600).astype(np.float32))
    model.partial_fit(_draw(rng, 200).astype(np.float32))
    before = {name: np.copy(getattr(model, name)) for name in ("means_", "covariances_", "mean_precision_")}
    steps = model.n_steps_
    with pytest.raises(ValuesTooLargeError, match="The model is unchanged"):
        model.partial_fit(np.full((50, 2), 3e30, dtype=np.float32))
    assert model.n_steps_ == steps
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)
