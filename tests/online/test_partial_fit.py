"""``GaussianMixture.partial_fit``: stepwise EM against batch EM and scikit-learn.

The anchor: with step size 1, one stepwise update on a batch is exactly one
batch EM iteration from the same parameters. Everything else (decaying steps,
averaging, warm-up, weights, bad batches) is checked against that or against
the batch model on the same stationary stream.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from streamgmm import GaussianMixture
from streamgmm.core.params import MixtureParameters
from streamgmm.core.stepwise import StepSchedule, expected_statistics
from streamgmm.core.mstep import maximise

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _mixture(n: int, seed: int, n_features: int = 3, n_components: int = 3, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(scale=5.0, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n)
    scales = np.linspace(0.6, 1.4, n_components)[labels, None]
    return centres[labels] + offset + rng.normal(size=(n, n_features)) * scales


def _sklearn_start(X: np.ndarray, covariance_type: str, n_components: int = 3) -> SklearnGaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SklearnGaussianMixture(
            n_components, covariance_type=covariance_type, max_iter=2, random_state=0
        ).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unit_step_on_one_batch_is_one_batch_em_step(covariance_type: str) -> None:
    X = _mixture(3000, seed=1)
    start = _sklearn_start(X[:500], covariance_type)
    params = MixtureParameters.from_precisions_cholesky(
        start.weights_, start.means_, start.precisions_cholesky_, covariance_type
    )
    online = GaussianMixture.from_parameters(params, step_size=1.0)
    online.partial_fit(X)
    reference = SklearnGaussianMixture(
        3,
        covariance_type=covariance_type,
        max_iter=1,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X)
    np.testing.assert_allclose(online.weights_, reference.weights_, rtol=1e-12)
    np.testing.assert_allclose(online.means_, reference.means_, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(online.covariances_, reference.covariances_, rtol=1e-11, atol=1e-12)
    # The batch's score is taken before the update: scikit-learn's lower bound of that iteration.
    assert online.batch_log_likelihood_ == pytest.approx(reference.lower_bound_, rel=1e-12)
    assert online.n_steps_ == 1 and online.step_size_ == 1.0


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unit_step_is_batch_em_far_from_the_origin(covariance_type: str) -> None:
    """Shifted accumulation keeps the update exact for data offset by 1e6."""
    X = _mixture(3000, seed=2)
    start = _sklearn_start(X[:500], covariance_type)
    step = []
    for offset in (0.0, 1e6):
        params = MixtureParameters.from_precisions_cholesky(
            start.weights_, start.means_ + offset, start.precisions_cholesky_, covariance_type
        )
        online = GaussianMixture.from_parameters(params, step_size=1.0).partial_fit(X + offset)
        step.append(online)
    np.testing.assert_allclose(step[1].means_ - 1e6, step[0].means_, atol=1e-8)
    np.testing.assert_allclose(step[1].covariances_, step[0].covariances_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_expected_statistics_are_a_fixed_point_of_the_m_step(covariance_type: str) -> None:
    X = _mixture(2000, seed=3)
    start = _sklearn_start(X, covariance_type)
    params = MixtureParameters.from_precisions_cholesky(
        start.weights_, start.means_, start.precisions_cholesky_, covariance_type
    )
    again = maximise(expected_statistics(params), reg_covar=0.0).params
    assert again.allclose(params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_pass_approaches_the_batch_model_on_a_stationary_stream(covariance_type: str) -> None:
    train, held_out = _mixture(60_000, seed=4), _mixture(20_000, seed=5)
    batch = GaussianMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-6).fit(train)
    online = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for start in range(0, len(train), 500):
        online.partial_fit(train[start : start + 500])
    gap = batch.score(held_out) - online.score(held_out)
    assert gap < 0.01, f"online model is {gap:.4f} nats/sample below the batch model"
    assert online.n_samples_seen_ == len(train)


def test_warm_up_collects_rows_before_the_first_model() -> None:
    X = _mixture(5000, seed=6)
    model = GaussianMixture(3, random_state=0, warm_up_size=1200)
    model.partial_fit(X[:500])
    model.partial_fit(X[500:1000])
    with pytest.raises(Exception, match="not fitted"):
        model.predict(X[:10])
    assert model.n_features_in_ == 3
    model.partial_fit(X[1000:1500])  # 1,500 >= 1,200 rows: batch EM on all of them
    reference = GaussianMixture(3, random_state=0).fit(X[:1500])
    np.testing.assert_array_equal(model.means_, reference.means_)
    assert model.n_steps_ == 0 and model.n_samples_seen_ == 1500
    model.partial_fit(X[1500:2000])
    assert model.n_steps_ == 1 and model.n_samples_seen_ == 2000


def test_default_warm_up_size_is_ten_rows_per_component_and_feature() -> None:
    X = _mixture(200, seed=7)
    model = GaussianMixture(3, random_state=0)
    model.partial_fit(X[:89])
    assert not hasattr(model, "means_")
    model.partial_fit(X[89:90])  # 90 = 10 * 3 * 3
    assert hasattr(model, "means_")


def test_decaying_step_sizes_follow_the_schedule() -> None:
    X = _mixture(6000, seed=8)
    model = GaussianMixture(3, random_state=0, step_decay=0.6, step_offset=5.0, warm_up_size=1000)
    model.partial_fit(X[:1000])
    steps = []
    for start in range(1000, 6000, 1000):
        model.partial_fit(X[start : start + 1000])
        steps.append(model.step_size_)
    expected = [(t + 5.0) ** -0.6 for t in range(1, 6)]
    np.testing.assert_allclose(steps, expected, rtol=1e-15)
    assert StepSchedule(constant=0.1).step(1000) == 0.1


def test_constant_steps_track_a_moving_stream() -> None:
    """A constant step forgets: after the data shift, the means follow."""
    model_const = GaussianMixture(3, random_state=0, step_size=0.2, warm_up_size=2000)
    model_decay = GaussianMixture(3, random_state=0, warm_up_size=2000)
    first, shifted = _mixture(20_000, seed=9), _mixture(10_000, seed=10) + 3.0
    for model in (model_const, model_decay):
        for start in range(0, len(first), 500):
            model.partial_fit(first[start : start + 500])
        for start in range(0, len(shifted), 500):
            model.partial_fit(shifted[start : start + 500])
    assert model_const.score(shifted) > model_decay.score(shifted) + 0.1


def test_sample_weights_equal_repeated_rows() -> None:
    X = _mixture(3000, seed=11)
    start = _sklearn_start(X, "full")
    params = MixtureParameters.from_precisions_cholesky(
        start.weights_, start.means_, start.precisions_cholesky_, "full"
    )
    weights = np.random.default_rng(0).integers(1, 4, size=len(X))
    weighted = GaussianMixture.from_parameters(params, step_size=0.3)
    repeated = GaussianMixture.from_parameters(params, step_size=0.3)
    weighted.partial_fit(X, sample_weight=weights)
    repeated.partial_fit(np.repeat(X, weights, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-10)


def test_averaging_reports_the_mean_of_the_running_statistics() -> None:
    X = _mixture(30_000, seed=12)
    plain = GaussianMixture(3, random_state=0, warm_up_size=2000)
    averaged = GaussianMixture(3, random_state=0, warm_up_size=2000, average=10)
    for model in (plain, averaged):
        for start in range(0, len(X), 1000):
            model.partial_fit(X[start : start + 1000])
    state = averaged.online_state_
    assert state.n_averaged == state.n_updates - 10
    # The recursion itself is unchanged by averaging; only the reported model differs.
    assert state.params.allclose(plain.online_state_.params, rtol=1e-12)
    assert not np.allclose(averaged.means_, plain.means_, rtol=1e-9, atol=0)
    assert np.allclose(averaged.means_, plain.means_, atol=0.1)


def test_partial_fit_continues_a_batch_fit_without_replacing_it() -> None:
    X = _mixture(20_000, seed=13)
    model = GaussianMixture(3, random_state=0).fit(X)
    before = model.means_.copy()
    model.partial_fit(X[:200])  # one small batch barely moves a fitted model
    assert np.abs(model.means_ - before).max() < 0.5
    assert model.n_steps_ == 1
    model.fit(X[:5000])  # a new batch fit starts the online state afresh
    assert not hasattr(model, "online_state_")


def test_bad_batches() -> None:
    X = _mixture(3000, seed=14)
    model = GaussianMixture(3, random_state=0, warm_up_size=500).partial_fit(X[:1000])
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        model.partial_fit(X[:10, :2])
    bad = X[1000:1100].copy()
    bad[[5, 50]] = np.nan
    state = model.online_state_
    with pytest.raises(ValueError, match=r"2 row\(s\); the first is row 5"):
        model.partial_fit(bad)
    assert model.online_state_ is state  # nothing half-updated
    model.partial_fit(np.empty((0, 3)))  # an empty batch is ignored
    assert model.online_state_ is state
    dropping = clone(model).set_params(nan_policy="drop", warm_up_size=500)
    dropping.partial_fit(X[:1000]).partial_fit(bad)
    assert dropping.n_invalid_rows_ == 2 and dropping.n_samples_seen_ == 1098


@pytest.mark.parametrize(
    "params, message",
    [
        ({"step_decay": 0.5}, "step_decay=0.5 is invalid"),
        ({"step_decay": 1.5}, "step_decay=1.5 is invalid"),
        ({"step_size": 0.0}, "step_size=0.0 is invalid"),
        ({"step_size": 2}, "step_size=2 is invalid"),
        ({"step_offset": -1.0}, "step_offset=-1.0 is invalid"),
        ({"average": -1}, "average=-1 is invalid"),
        ({"warm_up_size": 0}, "warm_up_size=0 is invalid"),
    ],
)
def test_invalid_online_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **params).partial_fit(_mixture(100, seed=0))


def test_float32_batches_accumulate_in_float64() -> None:
    X = _mixture(20_000, seed=15)
    a = GaussianMixture(3, random_state=0, warm_up_size=2000)
    b = GaussianMixture(3, random_state=0, warm_up_size=2000, dtype="float64")
    for start in range(0, len(X), 1000):
        a.partial_fit(X[start : start + 1000].astype(np.float32))
        b.partial_fit(X[start : start + 1000].astype(np.float32))
    assert a.online_state_.running.s2.dtype == np.float64
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scored_update_sees_rows_as_the_model_before_it(covariance_type: str) -> None:
    """The stream runner's one-E-step update: scores, responsibilities, then the same model."""
    X = _mixture(4000, seed=3)
    plain = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X[:2000])
    plain.partial_fit(X[2000:2500])
    scored = copy.deepcopy(plain)
    batch = X[2500:3100]
    expected_scores = plain.score_samples(batch)
    expected_resp = plain.predict_proba(batch)

    scores, resp = scored.partial_fit_scored(batch, responsibilities=True)
    plain.partial_fit(batch)

    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(resp, expected_resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(scored.means_, plain.means_)
    np.testing.assert_array_equal(scored.covariances_, plain.covariances_)
    assert scored.batch_log_likelihood_ == plain.batch_log_likelihood_
    assert scored.n_steps_ == plain.n_steps_ == 2
    assert scored.partial_fit_scored(batch)[1] is None  # responsibilities only when asked


def test_scored_update_needs_a_model_past_its_warm_up() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="past its warm-up"):
        GaussianMixture(3).partial_fit_scored(_mixture(100, seed=4))
