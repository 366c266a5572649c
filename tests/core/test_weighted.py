"""Weighted EM: ``fit(X, sample_weight=w)``.

Integer weights are the same as repeating rows, zero weights the same as
dropping rows, and multiplying all weights by a constant changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm import GaussianMixture
from streamgmm.core.init import initial_parameters

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def assert_same_model(a: GaussianMixture, b: GaussianMixture, rtol: float) -> None:
    for name in FITTED:
        expected = getattr(b, name)
        np.testing.assert_allclose(
            getattr(a, name), expected, rtol=rtol, atol=rtol * np.abs(expected).max(), err_msg=name
        )
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.fixture(scope="module")
def data(make_blobs):
    X, _ = make_blobs(900, 3, 3, 3.0, seed=51)
    weights = np.random.RandomState(52).randint(0, 4, size=len(X))  # zeros included
    return X, weights


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type, data, init_for):
    X, weights = data
    init = init_for(X, 3, covariance_type, seed=4)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=20, chunk_size=128, **init)
    weighted = GaussianMixture(**kwargs).fit(X, sample_weight=weights)
    repeated = GaussianMixture(**kwargs).fit(np.repeat(X, weights, axis=0))
    assert_same_model(weighted, repeated, rtol=1e-10)
    # Weighted mean log-likelihood of the rows = mean over the repeated rows.
    weighted_mean = np.average(weighted.score_samples(X), weights=weights)
    assert weighted_mean == pytest.approx(repeated.score(np.repeat(X, weights, axis=0)), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_dropped_rows(covariance_type, data, init_for):
    X, weights = data
    keep = weights > 0
    binary = keep.astype(float)
    init = init_for(X, 3, covariance_type, seed=5)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=20, **init)
    weighted = GaussianMixture(**kwargs).fit(X, sample_weight=binary)
    dropped = GaussianMixture(**kwargs).fit(X[keep])
    assert_same_model(weighted, dropped, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scaling_all_weights_changes_nothing(covariance_type, data, init_for):
    X, weights = data
    real_weights = np.random.RandomState(53).uniform(0.1, 2.0, size=len(X))
    init = init_for(X, 3, covariance_type, seed=6)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=15, **init)
    base = GaussianMixture(**kwargs).fit(X, sample_weight=real_weights)
    scaled = GaussianMixture(**kwargs).fit(X, sample_weight=1e3 * real_weights)
    ones = GaussianMixture(**kwargs).fit(X, sample_weight=np.ones(len(X)))
    unweighted = GaussianMixture(**kwargs).fit(X)
    assert_same_model(scaled, base, rtol=1e-10)
    assert_same_model(ones, unweighted, rtol=1e-12)
    # Non-uniform weights do change the model (the weights are used at all).
    assert not np.allclose(base.means_, unweighted.means_, rtol=1e-6)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_zero_weights_equal_dropped_rows_with_default_init(init_params, data):
    """The k-means initialisations honour the weights too, so the whole fit matches."""
    X, weights = data
    keep = weights > 0
    kwargs = dict(n_components=3, init_params=init_params, random_state=0, tol=1e-6, max_iter=100)
    weighted = GaussianMixture(**kwargs).fit(X, sample_weight=keep.astype(float))
    dropped = GaussianMixture(**kwargs).fit(X[keep])
    assert_same_model(weighted, dropped, rtol=1e-8)


@pytest.mark.parametrize("init_params", ["random_from_data", "kmeans", "k-means++"])
def test_initialisation_never_seeds_on_zero_weight_rows(init_params, make_blobs):
    """A row with zero weight is not part of the data: no component may start from it alone.

    With half the rows weighted zero, a seed drawn without regard to the weights
    lands on one of them about half the time; that component then starts with no
    mass at all (weight ~1e-16, mean at the data centre, covariance reg_covar * I).
    """
    X, _ = make_blobs(400, 2, 3, 6.0, seed=54)
    weights = np.zeros(len(X))
    weights[::2] = 1.0
    smallest = []
    for seed in range(10):
        # The initialisation itself (the estimator runs at least one EM iteration after it).
        start = initial_parameters(X, 3, "full", init_params, 1e-6, np.random.RandomState(seed), weights)
        smallest.append(start.weights.min())
    assert min(smallest) > 1.0 / weights.sum() / 2, smallest
