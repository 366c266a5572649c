"""``init_sample_size=None``: scikit-learn's initialisation, hence scikit-learn's model.

With the same ``random_state``, a fit initialised as scikit-learn does (its KMeans on
every row, its random stream) must end where scikit-learn's ends, for every
covariance type and init method, and a grid search over K must choose the K
scikit-learn chooses (the README's example).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.model_selection import GridSearchCV

from streamgmm import GaussianMixture
from streamgmm.core.errors import InvalidParameterError


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.5]])
    return np.vstack([rng.randn(300, 2) + c for c in centres])


def _assert_same_model(ours: GaussianMixture, theirs: SklearnGaussianMixture) -> None:
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9,
                                   atol=1e-11, err_msg=name)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_the_same_random_state_gives_sklearns_model(blobs, covariance_type, init_params):
    settings = dict(covariance_type=covariance_type, init_params=init_params, random_state=0,
                    tol=1e-8, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # both stop at max_iter alike
        theirs = SklearnGaussianMixture(3, **settings).fit(blobs)
        ours = GaussianMixture(3, init_sample_size=None, **settings).fit(blobs)
    _assert_same_model(ours, theirs)


def test_several_initialisations_share_sklearns_random_stream(blobs):
    # Each initialisation continues the generator where the previous one left it.
    settings = dict(covariance_type="diag", init_params="random_from_data", random_state=3, n_init=3)
    theirs = SklearnGaussianMixture(4, **settings).fit(blobs)
    ours = GaussianMixture(4, init_sample_size=None, **settings).fit(blobs)
    _assert_same_model(ours, theirs)


def test_a_random_state_instance_is_consumed_as_sklearn_consumes_it(blobs):
    theirs = SklearnGaussianMixture(3, random_state=np.random.RandomState(7)).fit(blobs)
    ours = GaussianMixture(3, init_sample_size=None, random_state=np.random.RandomState(7)).fit(blobs)
    _assert_same_model(ours, theirs)


def test_the_default_bounded_sample_starts_elsewhere(blobs):
    # What the option is for: the default initialisation is streamgmm's own.
    theirs = SklearnGaussianMixture(3, random_state=0, init_params="k-means++").fit(blobs)
    ours = GaussianMixture(3, random_state=0, init_params="k-means++").fit(blobs)
    assert not np.allclose(np.sort(ours.means_, axis=0), np.sort(theirs.means_, axis=0))


def test_grid_search_chooses_sklearns_k():
    """The README's example: the default start picks another K; sklearn's start picks sklearn's."""
    X, _ = make_blobs(n_samples=600, centers=5, cluster_std=2.0, random_state=1)
    grid = {"n_components": list(range(1, 9))}
    expected = GridSearchCV(SklearnGaussianMixture(random_state=0), grid).fit(X)
    exact = GridSearchCV(GaussianMixture(random_state=0, init_sample_size=None), grid).fit(X)
    default = GridSearchCV(GaussianMixture(random_state=0), grid).fit(X)
    assert exact.best_params_ == expected.best_params_ == {"n_components": 3}
    np.testing.assert_allclose(exact.cv_results_["mean_test_score"],
                               expected.cv_results_["mean_test_score"], rtol=1e-10)
    assert default.best_params_ == {"n_components": 4}


def test_init_sample_size_none_is_a_documented_value():
    with pytest.raises(InvalidParameterError, match="None .every row, initialised exactly as scikit-learn"):
        GaussianMixture(2, init_sample_size=0).fit(np.zeros((4, 1)) + np.arange(4)[:, None])


@pytest.mark.parametrize("dtype, data_dtype", [("float32", np.float64), (None, np.float32)])
def test_float32_fits_keep_float32_attributes(blobs, dtype, data_dtype):
    X = blobs.astype(data_dtype)
    model = GaussianMixture(3, dtype=dtype, random_state=0).fit(X)
    sklearn_model = SklearnGaussianMixture(3, random_state=0).fit(blobs.astype(np.float32))
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).dtype == np.float32, name
        assert getattr(sklearn_model, name).dtype == np.float32, name
    # Inside, the parameters stay float64, unrounded (the registry, warm starts, partial_fit).
    kept = model.parameters_
    assert kept.means.dtype == np.float64
    np.testing.assert_array_equal(kept.means.astype(np.float32), model.means_)
    assert not np.array_equal(kept.means, model.means_.astype(np.float64))
    reference = GaussianMixture(3, dtype="float64", random_state=0).fit(X.astype(np.float64))
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-4, atol=1e-4)
    # Attributes changed by hand are what parameters_ then gives.
    model.means_ = model.means_ + np.float32(1.0)
    np.testing.assert_array_equal(model.parameters_.means, model.means_.astype(np.float64))


def test_float64_fits_keep_float64_attributes(blobs):
    model = GaussianMixture(3, random_state=0).fit(blobs)
    assert model.means_.dtype == model.covariances_.dtype == np.float64
