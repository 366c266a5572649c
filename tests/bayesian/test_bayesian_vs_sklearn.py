"""streamgmm's BayesianGaussianMixture equals scikit-learn's from the same responsibilities.

Every covariance type and both weight priors, after one iteration and after many: the
posterior parameters, ``lower_bounds_``, ``predict_proba`` and ``score_samples`` agree to
~1e-8 relative (measured: ~1e-12). Data offset by 1e6 give the same posterior as the
centred data (scikit-learn's own raw moments lose digits there, so it is run on the
centred data and its means shifted back).
"""

from __future__ import annotations

import numpy as np
import pytest
from bayesian_helpers import COVARIANCE_TYPES, PRIOR_TYPES, FromResponsibilities

from streamgmm import BayesianGaussianMixture

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL = 1e-8


def _pair(X, resp, covariance_type, prior_type, max_iter, tol=0.0):
    params = dict(n_components=resp.shape[1], covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, max_iter=max_iter, tol=tol)
    ours = BayesianGaussianMixture(responsibilities_init=resp, **params).fit(X)
    theirs = FromResponsibilities(resp=resp, **params).fit(X)
    return ours, theirs


def _concentration(model):
    wc = model.weight_concentration_
    return np.hstack(wc) if isinstance(wc, tuple) else np.asarray(wc)


def assert_posteriors_equal(ours, theirs, rtol=RTOL, mean_offset=0.0, mean_atol=0.0, bound_atol=0.0):
    np.testing.assert_allclose(_concentration(ours), _concentration(theirs), rtol=rtol)
    np.testing.assert_allclose(ours.mean_precision_, theirs.mean_precision_, rtol=rtol)
    np.testing.assert_allclose(ours.means_ - mean_offset, theirs.means_, rtol=rtol, atol=mean_atol)
    np.testing.assert_allclose(ours.degrees_of_freedom_, theirs.degrees_of_freedom_, rtol=rtol)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=rtol)
    np.testing.assert_allclose(ours.precisions_cholesky_, theirs.precisions_cholesky_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(ours.precisions_, theirs.precisions_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=rtol)
    np.testing.assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=rtol, atol=bound_atol)
    assert ours.n_iter_ == theirs.n_iter_


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("max_iter", [1, 40])
def test_posterior_matches_sklearn(iris, iris_resp, covariance_type, prior_type, max_iter):
    ours, theirs = _pair(iris, iris_resp, covariance_type, prior_type, max_iter)
    assert_posteriors_equal(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(iris), theirs.predict_proba(iris), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.score_samples(iris), theirs.score_samples(iris), rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(iris), theirs.predict(iris))
    assert ours.score(iris) == pytest.approx(theirs.score(iris), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convergence_matches_sklearn(iris, iris_resp, covariance_type):
    """With scikit-learn's tolerance both stop at the same iteration with the same bound."""
    ours, theirs = _pair(iris, iris_resp, covariance_type, "dirichlet_process", 500, tol=1e-3)
    assert ours.converged_ and theirs.converged_
    assert_posteriors_equal(ours, theirs)
    assert ours.lower_bound_ == pytest.approx(float(np.ravel(theirs.lower_bound_)[0]), rel=1e-10)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_offset_by_a_million(iris, iris_resp, covariance_type, prior_type):
    offset = 1e6
    params = dict(n_components=5, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, max_iter=20, tol=0.0)
    ours = BayesianGaussianMixture(responsibilities_init=iris_resp, **params).fit(iris + offset)
    centred = FromResponsibilities(resp=iris_resp, **params).fit(iris)
    # A mean near 1e6 is representable to ~1e-10 only: compare it in absolute terms. The
    # bound is a sum over 150 rows of terms of order 10 whose rows sit 1e6 from the origin:
    # 1e-6 absolute is ~1e-9 of its terms (a bound crossing zero has no relative scale).
    assert_posteriors_equal(ours, centred, rtol=1e-7, mean_offset=offset, mean_atol=1e-8,
                            bound_atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(iris + offset), centred.predict_proba(iris),
                               rtol=1e-6, atol=1e-9)
