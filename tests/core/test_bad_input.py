"""Bad input gets a clear ValueError naming what, where and how to fix it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from streamgmm import (
    GaussianMixture,
    IllConditionedCovarianceError,
    InvalidInputError,
    InvalidParameterError,
    StreamGMMError,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def X(make_blobs):
    return make_blobs(300, 3, 3, 6.0, seed=71)[0]


@pytest.fixture(scope="module")
def fitted(X):
    return GaussianMixture(n_components=3, random_state=0).fit(X)


# --------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_in_fit_name_count_and_first_row(X, bad_value):
    data = X.copy()
    data[17, 1] = bad_value
    data[42, 0] = np.nan
    data[42, 2] = np.inf  # two bad values, one row
    data[250, 2] = bad_value
    with pytest.raises(ValueError) as info:
        GaussianMixture(n_components=2).fit(data)
    message = str(info.value)
    assert isinstance(info.value, InvalidInputError)
    assert "NaN or infinite" in message
    assert "3 row(s)" in message
    assert "row 17" in message and "column 1" in message


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
def test_non_finite_values_at_prediction(fitted, X, method):
    data = X.copy()
    data[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 row\(s\).*row 5"):
        getattr(fitted, method)(data)


def test_non_finite_rows_beyond_the_first_scan_slice():
    """The check scans in slices; counts and the first row are global."""
    rng = np.random.RandomState(72)
    data = rng.normal(size=(150_000, 2))
    data[[70_001, 70_002, 140_000], 1] = np.nan
    with pytest.raises(ValueError, match=r"3 row\(s\); the first is row 70001"):
        GaussianMixture(n_components=2).fit(data)


def test_non_finite_float32_input(X):
    data = X.astype(np.float32)
    data[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"row 9"):
        GaussianMixture(n_components=2).fit(data)


# ------------------------------------------------------------------ shapes, sizes
@pytest.mark.parametrize(("n_samples", "n_components"), [(3, 5), (4, 5), (1, 1)])
def test_fewer_samples_than_components(n_samples, n_components):
    data = np.random.RandomState(73).normal(size=(n_samples, 2))
    with pytest.raises(ValueError, match="n_samples") as info:
        GaussianMixture(n_components=n_components).fit(data)
    assert f"n_samples = {n_samples}" in str(info.value)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_wrong_number_of_features_at_prediction(fitted, X, method):
    with pytest.raises(ValueError, match=r"2 features.*expecting 3 features"):
        getattr(fitted, method)(X[:, :2])


def test_not_two_dimensional(X, fitted):
    with pytest.raises(ValueError, match="2D array"):
        GaussianMixture(n_components=2).fit(X[:, 0])
    with pytest.raises(ValueError, match="2D array"):
        fitted.predict(X[0])


def test_predict_before_fit(X):
    for method in ("predict", "predict_proba", "score_samples", "score", "sample"):
        with pytest.raises(NotFittedError):
            getattr(GaussianMixture(n_components=2), method)(*(() if method == "sample" else (X,)))


# -------------------------------------------------------------------- parameters
INVALID_PARAMETERS = [
    ("n_components", 0),
    ("n_components", -2),
    ("n_components", 2.5),
    ("n_components", "3"),
    ("covariance_type", "banana"),
    ("covariance_type", None),
    ("tol", -1e-3),
    ("tol", float("nan")),
    ("reg_covar", -1e-6),
    ("reg_covar", "small"),
    ("max_iter", -1),
    ("max_iter", 10.5),
    ("n_init", 0),
    ("init_params", "kmeans--"),
    ("verbose", -1),
    ("verbose_interval", 0),
    ("chunk_size", 0),
    ("chunk_size", 1.5),
    ("init_sample_size", 0),
    ("n_jobs", 0),
    ("n_jobs", 1.5),
    ("dtype", "int32"),
    ("dtype", "float16"),
    ("random_state", "seed"),
    ("warm_start", "yes"),
]


@pytest.mark.parametrize(
    ("name", "value"), INVALID_PARAMETERS, ids=[f"{n}={v!r}" for n, v in INVALID_PARAMETERS]
)
def test_invalid_parameter_names_parameter_and_value(X, name, value):
    model = GaussianMixture(n_components=2).set_params(**{name: value})
    with pytest.raises(ValueError) as info:
        model.fit(X)
    message = str(info.value)
    assert isinstance(info.value, InvalidParameterError), type(info.value)
    assert f"{name}={value!r}" in message, message


def test_invalid_choice_lists_the_allowed_values(X):
    with pytest.raises(ValueError, match="'full', 'tied', 'diag', 'spherical'"):
        GaussianMixture(covariance_type="banana").fit(X)
    with pytest.raises(ValueError, match="'kmeans', 'k-means\\+\\+', 'random', 'random_from_data'"):
        GaussianMixture(init_params="banana").fit(X)


def test_errors_share_one_hierarchy(X):
    with pytest.raises(StreamGMMError):
        GaussianMixture(n_components=0).fit(X)
    with pytest.raises(StreamGMMError):
        GaussianMixture(n_components=2).fit(np.full((10, 2), np.nan))


# ------------------------------------------------------------- initial parameters
def test_weights_init_must_sum_to_one(X):
    with pytest.raises(ValueError, match="weights_init must sum to 1.*0.9"):
        GaussianMixture(n_components=3, weights_init=[0.3, 0.3, 0.3]).fit(X)
    with pytest.raises(ValueError, match="weights_init must lie in \\[0, 1\\]"):
        GaussianMixture(n_components=3, weights_init=[1.2, -0.1, -0.1]).fit(X)
    with pytest.raises(ValueError, match=r"weights_init has shape \(2,\); expected \(3,\)"):
        GaussianMixture(n_components=3, weights_init=[0.5, 0.5]).fit(X)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3), (3,), (3, 3, 1)])
def test_means_init_wrong_shape(X, shape):
    with pytest.raises(ValueError, match=r"means_init has shape .*expected \(3, 3\)"):
        GaussianMixture(n_components=3, means_init=np.zeros(shape)).fit(X)


def test_means_init_must_be_finite(X):
    means = X[:3].copy()
    means[1, 2] = np.nan
    with pytest.raises(ValueError, match="means_init"):
        GaussianMixture(n_components=3, means_init=means).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_init_wrong_shape(X, covariance_type):
    wrong = {
        "full": np.stack([np.eye(3)] * 2),
        "tied": np.stack([np.eye(3)] * 3),
        "diag": np.ones((3, 2)),
        "spherical": np.ones(4),
    }[covariance_type]
    with pytest.raises(ValueError, match="precisions_init has shape"):
        GaussianMixture(n_components=3, covariance_type=covariance_type, precisions_init=wrong).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_init_must_be_positive_definite(X, covariance_type):
    indefinite = np.diag([1.0, -1.0, 1.0])
    bad = {
        "full": np.stack([np.eye(3), indefinite, np.eye(3)]),
        "tied": indefinite,
        "diag": np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]),
        "spherical": np.array([1.0, -1.0, 1.0]),
    }[covariance_type]
    with pytest.raises(ValueError, match="precisions_init"):
        GaussianMixture(n_components=3, covariance_type=covariance_type, precisions_init=bad).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_precisions_init_must_be_symmetric(X, covariance_type):
    """A non-symmetric matrix is not a precision; scikit-learn rejects it too."""
    skewed = np.array([[2.0, 0.9, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    bad = np.stack([np.eye(3), skewed, np.eye(3)]) if covariance_type == "full" else skewed
    with pytest.raises(ValueError, match="symmetric"):
        GaussianMixture(n_components=3, covariance_type=covariance_type, precisions_init=bad).fit(X)


# ------------------------------------------------------------------ sample_weight
@pytest.mark.parametrize(
    ("make_weights", "pattern"),
    [
        (lambda n: np.ones(n - 1), r"sample_weight has shape \(299,\); expected \(300,\)"),
        (lambda n: np.ones((n, 1)), r"sample_weight has shape \(300, 1\)"),
        (lambda n: np.r_[np.ones(n - 1), -1.0], r"non-negative.*row 299"),
        (lambda n: np.r_[np.ones(10), np.nan, np.ones(n - 11)], r"finite.*row 10"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], r"finite.*row 0"),
        (lambda n: np.zeros(n), r"sums to zero"),
    ],
    ids=["short", "2d", "negative", "nan", "inf", "all-zero"],
)
def test_bad_sample_weight(X, make_weights, pattern):
    with pytest.raises(ValueError, match=pattern):
        GaussianMixture(n_components=2).fit(X, sample_weight=make_weights(len(X)))


# ---------------------------------------------------- covariance factorisation
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unfactorisable_covariance_says_increase_reg_covar(covariance_type):
    """Duplicated rows with reg_covar=0: a covariance that is exactly zero.

    (Integer-valued rows make every sum exact, so the zero is not blurred by rounding.)
    """
    data = np.tile([[3.0, -2.0]], (40, 1))
    with pytest.raises(ValueError) as info:
        GaussianMixture(n_components=1, covariance_type=covariance_type, reg_covar=0.0).fit(data)
    assert isinstance(info.value, IllConditionedCovarianceError)
    assert "reg_covar" in str(info.value)
    # With the default reg_covar the same data fit fine.
    model = GaussianMixture(n_components=1, covariance_type=covariance_type).fit(data)
    assert np.isfinite(model.covariances_).all()


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_constant_feature_with_zero_reg_covar(covariance_type):
    rng = np.random.RandomState(75)
    data = np.column_stack([np.r_[rng.normal(size=50), 10 + rng.normal(size=50)], np.full(100, 7.0)])
    with pytest.raises(IllConditionedCovarianceError, match="reg_covar"):
        GaussianMixture(
            n_components=2, covariance_type=covariance_type, reg_covar=0.0, random_state=0
        ).fit(data)


def test_collapse_during_em_is_reported_too():
    """A component that collapses after a few iterations (not at initialisation)."""
    rng = np.random.RandomState(74)
    data = np.vstack([rng.normal(size=(100, 2)), np.tile([[8.0, 8.0]], (30, 1))])
    means = np.array([[0.0, 0.0], [7.0, 7.0]])
    with pytest.raises(IllConditionedCovarianceError, match="reg_covar"):
        GaussianMixture(
            n_components=2, reg_covar=0.0, means_init=means, precisions_init=np.stack([np.eye(2)] * 2)
        ).fit(data)


# ------------------------------------------------------------------ convergence
def test_convergence_warning_when_max_iter_is_reached(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = GaussianMixture(n_components=3, tol=0.0, max_iter=3, random_state=0).fit(X)
    assert model.converged_ is False and model.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GaussianMixture(n_components=3, tol=1e-3, max_iter=500, random_state=0).fit(X)
    assert model.converged_ is True and model.n_iter_ < 500


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_row_mask_finds_every_bad_row_and_survives_overflow(dtype):
    """The one-sum fast path must not hide a bad row, nor call large finite values bad."""
    from streamgmm.validation import check_finite_rows, finite_row_mask

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4)).astype(dtype)
    assert finite_row_mask(X) is None
    huge = np.full((1000, 4), np.finfo(dtype).max / 4, dtype=dtype)  # the sum overflows
    assert finite_row_mask(huge) is None
    check_finite_rows(huge)  # no error
    for bad in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[[3, 998], [2, 0]] = bad
        mask = finite_row_mask(Y)
        assert mask is not None and np.flatnonzero(~mask).tolist() == [3, 998]
    Y = huge.copy()
    Y[7, 1] = -np.inf  # with +inf from overflow, the sum is NaN: still found
    assert np.flatnonzero(~finite_row_mask(Y)).tolist() == [7]
