"""streamgmm against scikit-learn's GaussianMixture from the same initial parameters.

Both estimators start from identical ``weights_init``/``means_init``/
``precisions_init`` and run a fixed number of EM iterations (``tol=0``), so
every fitted attribute and every method must agree to rounding (~1e-8
relative in float64), for all four covariance types.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.utils._array_api import get_namespace
from threadpoolctl import threadpool_limits
from sklearn.mixture._gaussian_mixture import (
    _compute_log_det_cholesky,
    _compute_precision_cholesky,
    _compute_precision_cholesky_from_precisions,
    _estimate_gaussian_parameters,
)

from streamgmm import GaussianMixture, MixtureParameters
from streamgmm.core.covariance import (
    log_det_precisions_cholesky,
    precisions_cholesky_from_covariances,
    precisions_cholesky_from_precisions,
)
from streamgmm.core.estep import chunk_posteriors, chunk_weighted_log_prob, natural_form
from streamgmm.core.init import statistics_from_responsibilities
from streamgmm.core.mstep import maximise

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
RTOL = 1e-8

# name -> (n_samples, n_features, n_components, separation, seed); None means iris.
DATASETS = {
    "iris": None,
    "well-separated-D2": (2000, 2, 3, 8.0, 1),
    "well-separated-D6": (3000, 6, 4, 6.0, 2),
    "poorly-separated-D10": (3000, 10, 5, 1.0, 3),
    "overlapping-D1": (2000, 1, 3, 1.5, 4),
}


def sklearn_blas():
    """One BLAS thread for scikit-learn's reference fits.

    On this machine's multi-threaded OpenBLAS a 4x4 triangular solve takes ~10 ms
    (thread wake-up), which makes scikit-learn's many tiny factorisations slow.
    Results are unchanged; streamgmm limits its own BLAS threads inside fit.
    """
    return threadpool_limits(limits=1, user_api="blas")


def assert_close(actual, desired, rtol=RTOL, what=""):
    """Relative agreement measured against the scale of ``desired`` (off-diagonals can be ~0)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, what
    scale = float(np.max(np.abs(desired))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=what)


def _dataset(name, iris_X, make_blobs):
    spec = DATASETS[name]
    if spec is None:
        return np.array(iris_X), 3
    n_samples, n_features, n_components, separation, seed = spec
    return make_blobs(n_samples, n_features, n_components, separation, seed)[0], n_components


def _fit_both(X, estimator_kwargs):
    """Fit scikit-learn and streamgmm with the same arguments; both hit max_iter (tol=0)."""
    with pytest.warns(ConvergenceWarning), sklearn_blas():
        reference = SklearnGaussianMixture(**estimator_kwargs).fit(X)
    with pytest.warns(ConvergenceWarning):
        model = GaussianMixture(**estimator_kwargs).fit(X)
    return reference, model


FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_fixed_iterations_match_sklearn(dataset, covariance_type, iris_X, make_blobs, init_for):
    X, n_components = _dataset(dataset, iris_X, make_blobs)
    kwargs = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=25,
        **init_for(X, n_components, covariance_type, seed=0),
    )
    reference, model = _fit_both(X, kwargs)

    for name in FITTED_ARRAYS:
        assert_close(getattr(model, name), getattr(reference, name), what=name)
    assert model.n_iter_ == reference.n_iter_ == 25
    assert model.converged_ is False and reference.converged_ is False
    assert model.lower_bound_ == pytest.approx(reference.lower_bound_, rel=RTOL)
    assert len(model.lower_bounds_) == len(reference.lower_bounds_) == 25
    assert_close(model.lower_bounds_, reference.lower_bounds_, what="lower_bounds_")
    assert model.n_features_in_ == reference.n_features_in_

    # Methods, on the training data and on fresh rows from a wider range.
    rng = np.random.RandomState(99)
    fresh = X[rng.choice(len(X), size=300)] + rng.normal(size=(300, X.shape[1])) * X.std(axis=0)
    for data in (X, fresh):
        np.testing.assert_array_equal(model.predict(data), reference.predict(data))
        np.testing.assert_allclose(
            model.predict_proba(data), reference.predict_proba(data), rtol=0, atol=1e-8
        )
        assert_close(model.score_samples(data), reference.score_samples(data), what="score_samples")
        assert model.score(data) == pytest.approx(reference.score(data), rel=RTOL)
        assert model.bic(data) == pytest.approx(reference.bic(data), rel=RTOL)
        assert model.aic(data) == pytest.approx(reference.aic(data), rel=RTOL)
    with pytest.warns(ConvergenceWarning):
        labels = model.fit_predict(X)
    with pytest.warns(ConvergenceWarning), sklearn_blas():
        np.testing.assert_array_equal(labels, reference.fit_predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convergence_iteration_matches_sklearn(covariance_type, make_blobs, init_for):
    """With tol > 0 both stop at the same iteration and report convergence."""
    X, _ = make_blobs(1500, 3, 3, 5.0, seed=11)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=1e-6,
        max_iter=500,
        **init_for(X, 3, covariance_type, seed=1),
    )
    with sklearn_blas():
        reference = SklearnGaussianMixture(**kwargs).fit(X)
    model = GaussianMixture(**kwargs).fit(X)
    assert reference.converged_ and model.converged_
    assert model.n_iter_ == reference.n_iter_ > 2
    assert_close(model.lower_bounds_, reference.lower_bounds_, what="lower_bounds_")
    for name in FITTED_ARRAYS:
        assert_close(getattr(model, name), getattr(reference, name), rtol=1e-7, what=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_initialisation_reaches_sklearn_optimum(covariance_type, make_blobs):
    """Different k-means implementations, same well-separated data: the same optimum.

    Components are matched by their means (initialisations may order them differently).
    """
    X, _ = make_blobs(2000, 4, 3, 10.0, seed=5)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, max_iter=300, random_state=0)
    with sklearn_blas():
        reference = SklearnGaussianMixture(**kwargs).fit(X)
    model = GaussianMixture(**kwargs).fit(X)
    assert model.converged_
    order = [int(np.argmin(np.linalg.norm(reference.means_ - m, axis=1))) for m in model.means_]
    assert sorted(order) == [0, 1, 2]
    assert_close(model.means_, reference.means_[order], rtol=1e-6, what="means_")
    assert_close(model.weights_, reference.weights_[order], rtol=1e-6, what="weights_")
    assert model.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-8)


# ----------------------------------------------------------------- the core pieces
def _random_covariances(covariance_type, n_components, n_features, rng):
    def spd():
        a = rng.normal(size=(n_features, n_features))
        return a @ a.T / n_features + 0.5 * np.eye(n_features)

    if covariance_type == "full":
        return np.stack([spd() for _ in range(n_components)])
    if covariance_type == "tied":
        return spd()
    if covariance_type == "diag":
        return rng.uniform(0.3, 3.0, size=(n_components, n_features))
    return rng.uniform(0.3, 3.0, size=n_components)


def _sklearn_model_with(params: MixtureParameters):
    """A scikit-learn GaussianMixture holding exactly ``params`` (public attributes only)."""
    model = SklearnGaussianMixture(n_components=params.n_components, covariance_type=params.covariance_type)
    model.weights_ = np.array(params.weights)
    model.means_ = np.array(params.means)
    model.covariances_ = np.array(params.covariances)
    model.precisions_cholesky_ = np.array(params.precisions_cholesky)
    model.precisions_ = np.array(params.precisions)
    model.n_features_in_ = params.n_features
    return model


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_factorisations_match_sklearn(covariance_type):
    rng = np.random.RandomState(0)
    covariances = _random_covariances(covariance_type, 4, 5, rng)
    chol = precisions_cholesky_from_covariances(covariances, covariance_type)
    assert_close(chol, _compute_precision_cholesky(covariances, covariance_type), rtol=1e-12)
    assert_close(
        log_det_precisions_cholesky(chol, covariance_type, 5),
        _compute_log_det_cholesky(chol, covariance_type, 5),
        rtol=1e-12,
    )
    params = MixtureParameters.from_covariances(
        np.full(4, 0.25), rng.normal(size=(4, 5)), covariances, covariance_type
    )
    assert_close(params.covariances, covariances, rtol=1e-10)
    precisions = params.precisions
    assert_close(
        precisions_cholesky_from_precisions(precisions, covariance_type),
        _compute_precision_cholesky_from_precisions(
            precisions, covariance_type, xp=get_namespace(precisions)[0]
        ),
        rtol=1e-10,
    )
    # The round trip through the precision factor gives back the covariances.
    back = MixtureParameters.from_precisions_cholesky(params.weights, params.means, chol, covariance_type)
    assert_close(back.covariances, covariances, rtol=1e-10)


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estep_matches_sklearn_for_given_parameters(covariance_type, offset):
    """Log-densities, responsibilities and row log-likelihoods of one chunk, in float64.

    The reference is scikit-learn on the same problem with the offset removed
    exactly (x - 1e6 is exact for x in [5e5, 2e6]), because scikit-learn's own
    diag/spherical E-step loses ~1e-3 to cancellation at an offset of 1e6.
    """
    rng = np.random.RandomState(1)
    n_components, n_features = 4, 5
    means = rng.normal(size=(n_components, n_features)) * 3 + offset
    weights = rng.dirichlet(np.ones(n_components))
    covariances = _random_covariances(covariance_type, n_components, n_features, rng)
    params = MixtureParameters.from_covariances(weights, means, covariances, covariance_type)
    X = means[rng.randint(n_components, size=2500)] + rng.normal(size=(2500, n_features)) * 1.5
    reference = _sklearn_model_with(
        MixtureParameters.from_covariances(weights, means - offset, covariances, covariance_type)
    )
    X_exact = X - offset
    form = natural_form(params)

    weighted = chunk_weighted_log_prob(X, form, block_rows=300)
    reference_weighted = reference._estimate_weighted_log_prob(X_exact)
    # Absolute error of a log-density is what matters (values cross zero).
    np.testing.assert_allclose(
        weighted, reference_weighted, rtol=0, atol=1e-10 * np.abs(reference_weighted).max()
    )
    log_likelihood, responsibilities = chunk_posteriors(X, form, block_rows=300)
    np.testing.assert_allclose(log_likelihood, reference.score_samples(X_exact), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(responsibilities, reference.predict_proba(X_exact), rtol=0, atol=1e-11)
    np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estep_exact_for_tight_components_far_apart(covariance_type, dtype):
    """Components 1e5 sigma from the mixture mean are scored exactly.

    The reference is scipy's multivariate normal log-density, which forms
    ``x - mu_k`` first (an independent implementation).
    """
    rng = np.random.RandomState(3)
    n_components, n_features = 3, 4
    means = rng.normal(size=(n_components, n_features))
    means[1] += 1e5
    means[2] -= 3e5
    weights = np.array([0.5, 0.3, 0.2])
    params = MixtureParameters.from_covariances(
        weights, means, _random_covariances(covariance_type, n_components, n_features, rng), covariance_type
    )
    X = means[rng.randint(n_components, size=600)] + rng.normal(size=(600, n_features))
    covariances = params.full_covariances
    reference = np.column_stack(
        [
            np.log(w) + multivariate_normal(mean=m, cov=c).logpdf(X)
            for w, m, c in zip(weights, means, covariances)
        ]
    )
    form = natural_form(params, dtype=dtype)
    weighted = chunk_weighted_log_prob(X, form, block_rows=128)
    near = reference > -50  # each row's own component (others are ~ -1e10)
    tolerance = 1e-8 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(weighted[near], reference[near], rtol=0, atol=tolerance)
    np.testing.assert_allclose(weighted[~near], reference[~near], rtol=1e-6)
    log_likelihood, responsibilities = chunk_posteriors(X, form)
    np.testing.assert_allclose(log_likelihood, reference.max(axis=1), rtol=0, atol=tolerance)
    np.testing.assert_array_equal(responsibilities.argmax(axis=1), reference.argmax(axis=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mstep_matches_sklearn_for_given_responsibilities(covariance_type, iris_X):
    rng = np.random.RandomState(2)
    X = np.array(iris_X)
    resp = rng.dirichlet(np.full(3, 0.3), size=len(X))
    weights, means, covariances = _estimate_gaussian_parameters(X, resp, 1e-6, covariance_type)
    weights = weights / weights.sum()
    stats = statistics_from_responsibilities(X, resp, covariance_type, shift=X.mean(axis=0))
    result = maximise(stats, reg_covar=1e-6)
    assert result.empty_components == ()
    assert_close(result.params.weights, weights, rtol=1e-12)
    assert_close(result.params.means, means, rtol=1e-12)
    assert_close(result.params.covariances, covariances, rtol=1e-10)
