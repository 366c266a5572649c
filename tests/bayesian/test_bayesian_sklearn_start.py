"""``init_sample_size=None`` starts a BayesianGaussianMixture exactly where scikit-learn's starts.

scikit-learn's variational mixture initialises as its GaussianMixture does (responsibilities
from k-means or random draws, then one update), so the same random_state must give the same
fitted posterior, for every covariance type, initialisation method and ``n_init``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SklearnBGM

from streamgmm import BayesianGaussianMixture


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    X, _ = make_blobs(600, centers=4, n_features=3, random_state=1)
    return X


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_same_posterior(blobs, covariance_type, init_params):
    params = dict(n_components=6, covariance_type=covariance_type, init_params=init_params,
                  random_state=3, max_iter=40, n_init=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SklearnBGM(**params).fit(blobs)
        ours = BayesianGaussianMixture(**params, init_sample_size=None).fit(blobs)
    assert ours.n_iter_ == theirs.n_iter_
    for name in ("weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9, atol=1e-11,
                                   err_msg=name)
    np.testing.assert_allclose(ours.lower_bound_, float(np.squeeze(theirs.lower_bound_)), rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(blobs), theirs.predict(blobs))
