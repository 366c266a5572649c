"""BayesianGaussianMixture as a scikit-learn estimator, and what only it does.

scikit-learn's own estimator checks, parameters and defaults, clone and Pipeline; the
number of components chosen by the data; every invalid prior refused before any pass
over the data (counted on a real Dask array whose blocks record being read).
"""

from __future__ import annotations

import inspect
import threading

import dask.array as da
import numpy as np
import pytest
from bayesian_helpers import COVARIANCE_TYPES, separated_blobs
from sklearn.base import clone
from sklearn.mixture import BayesianGaussianMixture as SklearnBGM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from streamgmm import BayesianGaussianMixture
from streamgmm.core.errors import InvalidParameterError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _expected_failures(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "the check shuffles the rows of the weighted data; a seeded k-means initialisation "
            "draws in row order, so the shuffled fit starts elsewhere (tests/ooc/test_ooc_bayesian.py "
            "compares weights with repeated rows from the same start)"
        ),
    }


@parametrize_with_checks(
    [BayesianGaussianMixture(n_components=2, max_iter=20, random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    with threadpool_limits(limits=1, user_api="blas"):
        check(estimator)


def test_parameters_and_defaults_are_sklearns():
    ours = inspect.signature(BayesianGaussianMixture).parameters
    theirs = inspect.signature(SklearnBGM).parameters
    for name, parameter in theirs.items():
        assert name in ours, name
        assert ours[name].default == parameter.default, name


def test_clone_and_pipeline(iris):
    model = BayesianGaussianMixture(n_components=3, random_state=0, covariance_type="diag")
    pipe = Pipeline([("scale", StandardScaler()), ("bgm", clone(model))]).fit(iris)
    labels = pipe.predict(iris)
    assert labels.shape == (150,) and set(labels) <= {0, 1, 2}
    assert clone(model).get_params() == model.get_params()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_data_choose_the_number_of_components(covariance_type):
    centres = np.array([[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0], [0.0, -10.0]])
    X = separated_blobs(400, centres, seed=5)
    model = BayesianGaussianMixture(
        n_components=10, covariance_type=covariance_type, random_state=0, max_iter=500
    ).fit(X)
    assert model.converged_
    assert model.n_active_components_ == 4
    found = np.sort(model.means_[model.active_components_], axis=0)
    np.testing.assert_allclose(found, np.sort(centres, axis=0), atol=0.3)
    # what the others hold is the prior's pull: their weights are tiny
    others = np.setdiff1d(np.arange(10), model.active_components_)
    assert model.weights_[others].sum() < 0.01


def test_sample_draws_from_the_fitted_mixture(iris):
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(iris)
    X, y = model.sample(2000)
    assert X.shape == (2000, 4) and y.shape == (2000,)
    np.testing.assert_allclose(X.mean(axis=0), iris.mean(axis=0), atol=0.2)


def test_responsibilities_init_is_checked(iris, iris_resp, tmp_path):
    with pytest.raises(InvalidParameterError, match="responsibilities_init has shape"):
        BayesianGaussianMixture(n_components=5, responsibilities_init=iris_resp[:10]).fit(iris)
    with pytest.raises(InvalidParameterError, match="non-negative"):
        BayesianGaussianMixture(n_components=5, responsibilities_init=-iris_resp).fit(iris)
    with pytest.raises(InvalidParameterError, match="in memory"):
        BayesianGaussianMixture(n_components=5, responsibilities_init=iris_resp).fit(
            da.from_array(iris, chunks=50))


# ------------------------------------------------------------------ bad priors
class CountingBlocks:
    """Counts the blocks of a real Dask array that are read (no pass: zero)."""

    def __init__(self, X: np.ndarray) -> None:
        self.reads = 0
        self._lock = threading.Lock()
        self.array = da.from_array(X, chunks=(50, X.shape[1])).map_blocks(self._read, dtype=X.dtype)

    def _read(self, block: np.ndarray) -> np.ndarray:
        if block.size:  # Dask also calls it on an empty block to learn the output's type
            with self._lock:
                self.reads += 1
        return block


D = 4  # iris
BAD_PRIORS = [
    ("full", {"weight_concentration_prior": 0.0}, r"weight_concentration_prior=0\.0 .*> 0"),
    ("full", {"weight_concentration_prior": -1.0}, r"weight_concentration_prior=-1\.0 .*> 0"),
    ("full", {"mean_precision_prior": 0.0}, r"mean_precision_prior=0\.0 .*> 0"),
    ("diag", {"mean_precision_prior": -2.5}, r"mean_precision_prior=-2\.5 .*> 0"),
    ("full", {"degrees_of_freedom_prior": 3.0}, r"degrees_of_freedom_prior=3\.0 .*> 3 \(n_features - 1\)"),
    ("spherical", {"degrees_of_freedom_prior": -1}, r"degrees_of_freedom_prior=-1 .*> 3"),
    ("full", {"mean_prior": np.zeros(3)}, r"mean_prior has shape \(3,\); expected \(4,\)"),
    ("full", {"covariance_prior": np.eye(3)}, r"covariance_prior has shape \(3, 3\).*\(4, 4\)"),
    ("full", {"covariance_prior": -np.eye(4)}, r"covariance_prior must be symmetric positive definite.*-1"),
    ("tied", {"covariance_prior": np.triu(np.ones((4, 4)))}, r"covariance_prior must be symmetric"),
    ("diag", {"covariance_prior": np.array([1.0, 0.0, 1.0, 1.0])}, r"covariance_prior must be positive.*0"),
    ("diag", {"covariance_prior": np.eye(4)}, r"covariance_prior has shape \(4, 4\).*\(4,\)"),
    ("spherical", {"covariance_prior": -0.5}, r"covariance_prior must be positive.*-0\.5"),
    ("full", {"weight_concentration_prior_type": "stick"}, r"weight_concentration_prior_type='stick'"),
]


@pytest.mark.parametrize("covariance_type, prior, message", BAD_PRIORS)
def test_bad_priors_are_refused_before_any_pass(iris, covariance_type, prior, message):
    data = CountingBlocks(iris)
    model = BayesianGaussianMixture(n_components=3, covariance_type=covariance_type, **prior)
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(data.array)
    assert data.reads == 0
    # the same prior and the same data with the good value fit (the counter does count)
    BayesianGaussianMixture(n_components=3, covariance_type=covariance_type, max_iter=2).fit(
        data.array)
    assert data.reads > 0
