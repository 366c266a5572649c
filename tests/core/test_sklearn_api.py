"""streamgmm.GaussianMixture as a scikit-learn estimator.

Constructor parameters and defaults, clone, Pipeline, get/set_params, feature
names, fit_predict, warm_start, sample(), max_iter=0 refused, verbose output, and
scikit-learn's own estimator checks.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from streamgmm import GaussianMixture
from streamgmm.core.errors import InvalidParameterError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _assert_bitwise_same(a, b) -> None:
    for name in FITTED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def X(make_blobs):
    return make_blobs(600, 3, 3, 6.0, seed=61)[0]


# ------------------------------------------------------------ scikit-learn's checks
def _expected_failures(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "the check shuffles the rows of the weighted data; a seeded random initialisation "
            "draws its seeds in row order, so the shuffled fit starts elsewhere (streamgmm's "
            "own weighted tests compare from the same start)"
        ),
    }


@parametrize_with_checks(
    [GaussianMixture(n_components=2, max_iter=20, random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    with threadpool_limits(limits=1, user_api="blas"):
        check(estimator)


# ------------------------------------------------------------------- parameters
def test_constructor_mirrors_sklearn():
    """Every scikit-learn parameter exists with the same default; ours are extra."""
    ours = GaussianMixture().get_params()
    theirs = SklearnGaussianMixture().get_params()
    for name, default in theirs.items():
        assert name in ours, name
        assert ours[name] == default, (name, ours[name], default)
    assert {"chunk_size", "dtype", "n_jobs", "init_sample_size"} <= set(ours) - set(theirs)
    # Everything but n_components is keyword-only, as in scikit-learn.
    signature = inspect.signature(GaussianMixture)
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    assert kinds["n_components"] is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(kind is inspect.Parameter.KEYWORD_ONLY for name, kind in kinds.items() if name != "n_components")


def test_get_params_set_params(X):
    model = GaussianMixture(n_components=2, covariance_type="diag", chunk_size=50)
    params = model.get_params()
    assert params["n_components"] == 2 and params["covariance_type"] == "diag" and params["chunk_size"] == 50
    assert model.set_params(n_components=3, tol=1e-5, dtype="float32") is model
    assert model.n_components == 3 and model.tol == 1e-5 and model.dtype == "float32"
    with pytest.raises(ValueError, match="banana"):
        model.set_params(banana=1)
    # The new values are what fit uses.
    model.set_params(max_iter=5, random_state=0).fit(X)
    assert model.means_.shape == (3, 3) and model.n_iter_ <= 5


def test_clone(X):
    means = X[:3].copy()
    model = GaussianMixture(n_components=3, means_init=means, chunk_size=77, random_state=1)
    copy = clone(model)
    assert copy is not model
    assert copy.get_params().keys() == model.get_params().keys()
    np.testing.assert_array_equal(copy.means_init, means)
    assert copy.chunk_size == 77 and copy.random_state == 1
    model.fit(X)
    fresh = clone(model)
    assert not hasattr(fresh, "means_")
    with pytest.raises(NotFittedError):
        fresh.predict(X)
    _assert_bitwise_same(fresh.fit(X), model)


def test_inside_a_pipeline(X):
    X_scaled_units = X * np.array([1.0, 100.0, 0.01]) + 50.0
    pipe = Pipeline(
        [("scale", StandardScaler()), ("gmm", GaussianMixture(n_components=3, random_state=0))]
    ).fit(X_scaled_units)
    scaled = StandardScaler().fit_transform(X_scaled_units)
    alone = GaussianMixture(n_components=3, random_state=0).fit(scaled)
    np.testing.assert_array_equal(pipe.predict(X_scaled_units), alone.predict(scaled))
    np.testing.assert_allclose(
        pipe.predict_proba(X_scaled_units), alone.predict_proba(scaled), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(pipe.score_samples(X_scaled_units), alone.score_samples(scaled), rtol=1e-12)
    assert pipe.score(X_scaled_units) == pytest.approx(alone.score(scaled), rel=1e-12)
    pipe.set_params(gmm__n_components=2)
    assert pipe.fit(X_scaled_units).named_steps["gmm"].means_.shape == (2, 3)


def test_feature_names_from_a_dataframe(X):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = GaussianMixture(n_components=3, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    assert model.n_features_in_ == 3
    from_array = GaussianMixture(n_components=3, random_state=0).fit(X)
    np.testing.assert_array_equal(model.predict(frame), from_array.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["c", "b", "a"]])
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)


def test_no_feature_names_from_an_array(X):
    model = GaussianMixture(n_components=2, random_state=0).fit(X)
    assert model.n_features_in_ == 3
    assert not hasattr(model, "feature_names_in_")


# ------------------------------------------------------------------ fit variants
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type, X):
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=3)
    labels = GaussianMixture(**kwargs).fit_predict(X)
    np.testing.assert_array_equal(labels, GaussianMixture(**kwargs).fit(X).predict(X))
    weights = np.random.RandomState(0).uniform(0.5, 1.5, size=len(X))
    labels = GaussianMixture(**kwargs).fit_predict(X, sample_weight=weights)
    np.testing.assert_array_equal(labels, GaussianMixture(**kwargs).fit(X, sample_weight=weights).predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues(covariance_type, X, init_for):
    init = init_for(X, 3, covariance_type, seed=7)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=0.0, **init)
    cold = GaussianMixture(max_iter=8, **kwargs).fit(X)
    warm = GaussianMixture(max_iter=4, warm_start=True, **kwargs)
    warm.fit(X)
    assert warm.n_iter_ == 4
    warm.fit(X)
    # Four more iterations from where it stopped: the cold 8-iteration model, bit for bit.
    assert warm.n_iter_ == 4
    assert warm.lower_bounds_ == cold.lower_bounds_[4:]
    _assert_bitwise_same(warm, cold)
    # And the same as scikit-learn's warm start.
    reference = SklearnGaussianMixture(max_iter=4, warm_start=True, **kwargs)
    with threadpool_limits(limits=1, user_api="blas"):
        reference.fit(X).fit(X)
    for name in FITTED:
        expected = getattr(reference, name)
        np.testing.assert_allclose(getattr(warm, name), expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    np.testing.assert_allclose(warm.lower_bounds_, reference.lower_bounds_, rtol=1e-10)


def test_warm_start_after_convergence_stops_at_once(X):
    """The first change is measured against the previous fit's lower bound (as in scikit-learn)."""
    model = GaussianMixture(n_components=3, warm_start=True, tol=1e-3, max_iter=500, random_state=0).fit(X)
    assert model.converged_
    model.fit(X)
    assert model.converged_ and model.n_iter_ == 1
    # Without warm_start a refit starts over.
    cold = GaussianMixture(n_components=3, tol=1e-3, max_iter=500, random_state=0).fit(X)
    assert cold.fit(X).n_iter_ > 1


def test_max_iter_zero_is_refused(X):
    """EM needs one iteration: max_iter=0 would return an unfitted model with lower_bound_=-inf.

    Recent scikit-learn accepts it (older versions refused it, as streamgmm does);
    see streamgmm.core.domains.
    """
    with pytest.raises(InvalidParameterError, match=r"max_iter=0 is invalid: expected an integer >= 1"):
        GaussianMixture(n_components=3, max_iter=0).fit(X)
    assert not hasattr(GaussianMixture(n_components=3, max_iter=0), "means_")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_fit_continues_exactly_from_given_parameters(covariance_type, X, init_for):
    init = init_for(X, 3, covariance_type, seed=8)
    model = GaussianMixture(n_components=3, covariance_type=covariance_type, max_iter=1, **init).fit(X)
    assert model.n_iter_ == 1
    assert np.isfinite(model.lower_bound_) and model.lower_bounds_ == [model.lower_bound_]
    # The model is usable, and labels are consistent.
    np.testing.assert_array_equal(model.predict(X), model.predict_proba(X).argmax(axis=1))
    # One iteration, then two more from its parameters, is three iterations.
    start = GaussianMixture(n_components=3, covariance_type=covariance_type, max_iter=1, random_state=5).fit(X)
    longer = GaussianMixture(
        n_components=3, covariance_type=covariance_type, max_iter=3, tol=0.0, random_state=5
    )
    continued = GaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=2,
        tol=0.0,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    longer.fit(X)
    continued.fit(X)
    for name in ("weights_", "means_", "covariances_"):
        expected = getattr(longer, name)
        np.testing.assert_allclose(
            getattr(continued, name), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max()
        )


# ------------------------------------------------------------------------ sample
def _sklearn_copy(model: GaussianMixture) -> SklearnGaussianMixture:
    """A fitted scikit-learn model with streamgmm's parameters, set as public attributes."""
    reference = SklearnGaussianMixture(
        n_components=model.n_components, covariance_type=model.covariance_type, random_state=model.random_state
    )
    for name in FITTED:
        setattr(reference, name, np.array(getattr(model, name)))
    reference.n_features_in_ = model.n_features_in_
    return reference


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_matches_sklearn(covariance_type, X):
    model = GaussianMixture(n_components=3, covariance_type=covariance_type, random_state=12).fit(X)
    reference = _sklearn_copy(model)
    for n_samples in (1, 7, 500):
        rows, labels = model.sample(n_samples)
        expected_rows, expected_labels = reference.sample(n_samples)
        assert rows.shape == (n_samples, 3) and labels.shape == (n_samples,)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_allclose(rows, expected_rows, rtol=1e-13, atol=0)
    # The drawn rows follow the model: their component means are close to means_.
    rows, labels = model.sample(20_000)
    for k in range(3):
        np.testing.assert_allclose(rows[labels == k].mean(axis=0), model.means_[k], atol=0.1)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_sklearn_model_scores_like_ours(X):
    """A scikit-learn model holding our fitted parameters predicts the same (exchangeability)."""
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    reference = _sklearn_copy(model)
    np.testing.assert_allclose(model.score_samples(X), reference.score_samples(X), rtol=1e-11)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))


def test_from_parameters_round_trip(X):
    """A model rebuilt from its parameter value predicts exactly like the fitted one."""
    model = GaussianMixture(n_components=3, covariance_type="diag", random_state=0).fit(X)
    params = model.parameters_
    assert params.covariance_type == "diag" and params.n_components == 3 and params.n_features == 3
    with pytest.raises(ValueError):
        params.means[0, 0] = 1.0  # an immutable value
    rebuilt = GaussianMixture.from_parameters(params)
    _assert_bitwise_same(rebuilt, model)
    np.testing.assert_array_equal(rebuilt.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(rebuilt.score_samples(X), model.score_samples(X))


def test_fit_does_not_modify_its_inputs(X, init_for):
    init = init_for(X, 3, "full", seed=10)
    copies = {name: np.array(value) for name, value in init.items()}
    data = np.array(X)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=len(X))
    weights_copy = weights.copy()
    model = GaussianMixture(n_components=3, max_iter=5, **init).fit(data, sample_weight=weights)
    np.testing.assert_array_equal(data, X)
    np.testing.assert_array_equal(weights, weights_copy)
    for name, value in copies.items():
        np.testing.assert_array_equal(getattr(model, name), value, err_msg=name)
    # Fitted arrays are the estimator's own: changing one does not reach the other.
    model.means_[0, 0] += 1.0
    assert model.parameters_.means[0, 0] == model.means_[0, 0]
    np.testing.assert_array_equal(init["means_init"], copies["means_init"])


# ---------------------------------------------------------------------- verbose
def test_verbose_output_matches_sklearn(X, init_for, capsys):
    init = init_for(X, 3, "full", seed=9)
    kwargs = dict(n_components=3, verbose=1, verbose_interval=3, tol=0.0, max_iter=7, **init)
    with threadpool_limits(limits=1, user_api="blas"):
        SklearnGaussianMixture(**kwargs).fit(X)
    theirs = capsys.readouterr().out
    GaussianMixture(**kwargs).fit(X)
    ours = capsys.readouterr().out
    assert ours == theirs
    assert "Iteration 6" in ours and "did not converge" in ours
    GaussianMixture(n_components=3, verbose=2, verbose_interval=1, max_iter=2, random_state=0).fit(X)
    detailed = capsys.readouterr().out
    assert "time lapse" in detailed and "ll change" in detailed and "lower bound" in detailed
    GaussianMixture(n_components=3, max_iter=2, random_state=0).fit(X)
    assert capsys.readouterr().out == ""
