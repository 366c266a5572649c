"""Stochastic variational inference in core: the step is Hoffman's natural-gradient step.

Checked against the batch variational update (``update_posterior``) on real
statistics of the fused E-step, for all four covariance types.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm.core.errors import NonFiniteModelError
from streamgmm.core.estep import chunk_statistics
from streamgmm.core.statistics import SufficientStatistics
from streamgmm.core.stepwise import StepSchedule
from streamgmm.core.svi import (
    statistics_of_posterior,
    svi_start_from_posterior,
    svi_start_from_statistics,
    svi_update,
)
from streamgmm.core.variational import PriorSettings, resolve_priors, update_posterior, variational_form

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(offset: float = 0.0, n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 6.0, -1.0]])
    labels = rng.integers(0, 3, n)
    return centres[labels] + rng.normal(scale=0.7, size=(n, 3)) + offset


def _priors(X: np.ndarray, covariance_type: str, prior_type: str = "dirichlet_process"):
    settings = PriorSettings(covariance_type=covariance_type, weight_concentration_prior_type=prior_type)
    return resolve_priors(settings, 4, X.mean(0), np.cov(X.T))


def _first_posterior(X: np.ndarray, priors, covariance_type: str):
    """A posterior from hard labels of the first rows (any reasonable start)."""
    rng = np.random.default_rng(1)
    resp = rng.dirichlet(np.ones(4), size=X.shape[0])
    stats = _stats_from_resp(X, resp, covariance_type)
    return update_posterior(stats, priors, 1e-6)


def _stats_from_resp(X, resp, covariance_type):
    n = resp.sum(0)
    s1 = resp.T @ X
    if covariance_type == "full":
        s2 = np.einsum("ik,id,ie->kde", resp, X, X)
    elif covariance_type == "tied":
        s2 = X.T @ X
    elif covariance_type == "diag":
        s2 = resp.T @ X**2
    else:
        s2 = resp.T @ np.einsum("id,id->i", X, X)
    return SufficientStatistics(
        covariance_type=covariance_type, shift=np.zeros(X.shape[1]), n=n, s1=s1, s2=s2,
        weight_sum=float(X.shape[0]), n_samples=X.shape[0],
    )


def _assert_same_posterior(a, b, rtol=1e-9, atol=1e-9):
    np.testing.assert_allclose(a.mean_precision, b.mean_precision, rtol=rtol, atol=atol)
    np.testing.assert_allclose(a.means, b.means, rtol=rtol, atol=atol)
    np.testing.assert_allclose(a.degrees_of_freedom, b.degrees_of_freedom, rtol=rtol, atol=atol)
    np.testing.assert_allclose(a.covariances, b.covariances, rtol=rtol, atol=atol)
    np.testing.assert_allclose(
        np.asarray(a.weight_concentration), np.asarray(b.weight_concentration), rtol=rtol, atol=atol
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e5])
def test_posterior_inverts_to_its_statistics(covariance_type: str, offset: float) -> None:
    X = _data(offset)
    priors = _priors(X, covariance_type)
    posterior = _first_posterior(X, priors, covariance_type)
    stats = chunk_statistics(X, variational_form(posterior))
    updated = update_posterior(stats, priors, 1e-6)
    recovered = statistics_of_posterior(updated, priors, 1e-6)
    np.testing.assert_allclose(recovered.n.sum(), stats.n.sum(), rtol=1e-12)
    _assert_same_posterior(update_posterior(recovered, priors, 1e-6), updated, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_step_of_one_with_n_equal_to_the_batch_is_one_variational_iteration(covariance_type: str) -> None:
    X = _data()
    priors = _priors(X, covariance_type)
    posterior = _first_posterior(X, priors, covariance_type)
    start = svi_start_from_posterior(posterior, priors, 1e-6)
    batch = chunk_statistics(X, variational_form(posterior))
    result = svi_update(
        start, batch, StepSchedule(constant=1.0), reg_covar=1e-6, total_samples=X.shape[0]
    )
    _assert_same_posterior(result.state.posterior, update_posterior(batch, priors, 1e-6), rtol=1e-10)
    assert result.step_size == 1.0 and result.data_size == X.shape[0]
    assert result.batch_mean_log_likelihood == pytest.approx(batch.mean_log_likelihood)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_step_is_the_natural_parameter_blend(covariance_type: str) -> None:
    """(1 - rho) lambda + rho (prior + N/|B| s(B)) in the statistics' coordinates."""
    X = _data(n=900)
    warm, batch_rows = X[:600], X[600:]
    priors = _priors(X, covariance_type)
    posterior = _first_posterior(warm, priors, covariance_type)
    warm_stats = chunk_statistics(warm, variational_form(posterior))
    fitted = update_posterior(warm_stats, priors, 1e-6)
    state = svi_start_from_statistics(fitted, priors, warm_stats, n_samples=600)
    batch = chunk_statistics(batch_rows, variational_form(fitted))
    rho, n_total = 0.3, 5000.0
    result = svi_update(state, batch, StepSchedule(constant=rho), reg_covar=1e-6, total_samples=n_total)
    # lambda - prior = N S: the old posterior's statistics rescaled to N, blended with N/|B| s(B).
    old = warm_stats.scale(n_total / warm_stats.weight_sum)
    target = old.scale(1 - rho).merge(batch.scale(rho * n_total / batch.weight_sum))
    _assert_same_posterior(result.state.posterior, update_posterior(target, priors, 1e-6), rtol=1e-8)
    assert result.state.n_updates == 1 and result.state.n_samples_seen == 900
    assert result.state.weight_seen == pytest.approx(900.0)


def test_default_data_size_is_the_weight_seen() -> None:
    X = _data(n=900)
    priors = _priors(X, "diag")
    posterior = _first_posterior(X[:600], priors, "diag")
    state = svi_start_from_posterior(posterior, priors, 1e-6)
    seen = state.weight_seen
    batch = chunk_statistics(X[600:], variational_form(posterior))
    result = svi_update(state, batch, StepSchedule(decay=0.7, offset=2.0), reg_covar=1e-6)
    assert result.data_size == pytest.approx(seen + 300)
    assert result.step_size == pytest.approx(3.0**-0.7)
    # the components' masses sum to N
    assert result.state.posterior.mean_precision.sum() - 4 * priors.mean_precision_prior == pytest.approx(
        seen + 300, rel=1e-9
    )


def test_failed_step_leaves_the_state() -> None:
    X = _data()
    priors = _priors(X, "diag")
    state = svi_start_from_posterior(_first_posterior(X, priors, "diag"), priors, 1e-6)
    batch = chunk_statistics(X, state.scoring_form())
    bad = SufficientStatistics(
        covariance_type="diag", shift=batch.shift, n=batch.n, s1=batch.s1,
        s2=np.full_like(batch.s2, np.inf), weight_sum=batch.weight_sum, n_samples=batch.n_samples,
    )
    before = state.posterior.means.copy()
    with pytest.raises(NonFiniteModelError):
        svi_update(state, bad, StepSchedule(), reg_covar=1e-6)
    np.testing.assert_array_equal(state.posterior.means, before)
