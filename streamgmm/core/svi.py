"""Stochastic variational inference (Hoffman et al. 2013) for the variational mixture.

The variational Gaussian mixture is conjugate-exponential: the natural
parameters of the posterior (:class:`~streamgmm.core.variational.VariationalPosterior`)
are the prior's plus the data's expected sufficient statistics
``(n_k, sum_i r_ik x_i, sum_i r_ik x_i x_i^T)``, an affine map. The natural
gradient step of SVI on a batch ``B`` with step size ``rho_t`` is therefore::

    lambda_t = (1 - rho_t) lambda_{t-1} + rho_t (prior + N / |B| s(B))

and, keeping ``S_t`` = the statistics per unit of data weight that
``lambda_t`` stands for (``lambda_t = prior + N S_t``), it is a blend of
scaled statistics followed by the ordinary variational update::

    S_t = (1 - rho_t) S_{t-1} + rho_t s(B) / |B|
    posterior_t = update_posterior(N S_t, priors)

(:func:`streamgmm.core.variational.update_posterior`, the same update batch
variational inference runs). With ``rho = 1`` and ``N = |B|`` one step is one
iteration of the batch fit on ``B``.

``N``, the size of the data set the posterior speaks for, is a parameter
(``total_samples``). An unbounded stream has no such size; when it is None the
default is the weight seen so far (warm-up rows included, or the data size a
loaded posterior stands for plus what came after), so the posterior grows as
confident as the data it has seen. A fixed ``N`` instead gives the posterior of a
window of about ``N`` rows. With a fixed ``N`` the recursion is exactly
Hoffman's; with the growing default it is the same blend, scaled by the current
``N``.

Step sizes are :class:`streamgmm.core.stepwise.StepSchedule`'s
``rho_t = (t + t0)^-kappa`` (Robbins-Monro for ``kappa`` in (0.5, 1]), or a
constant. The running statistics live in :class:`SVIState`, a value the
estimator's ``partial_fit`` and the stream runner share and persist.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .covariance import COVARIANCE_RULES
from .estep import NaturalForm
from .params import MixtureParameters
from .statistics import SufficientStatistics
from .stepwise import StepSchedule, combine_statistics
from .variational import (
    VariationalPosterior,
    VariationalPriors,
    update_posterior,
    variational_form,
)

__all__ = [
    "SVIState",
    "SVIStepResult",
    "effective_data_size",
    "statistics_of_posterior",
    "svi_start_from_posterior",
    "svi_start_from_statistics",
    "svi_update",
]

_TEN_EPS = 10.0 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class SVIState:
    """Everything stochastic variational inference needs to continue, as one value.

    Attributes
    ----------
    posterior : VariationalPosterior
        The posterior the next batch is scored with.
    priors : VariationalPriors
    running : SufficientStatistics
        ``S_t``, per unit of data weight (``running.n.sum()`` about 1), about
        the posterior means.
    n_updates : int
        Batches blended in so far (``t``).
    n_samples_seen : int
        Rows read, including those of the warm-up.
    weight_seen : float
        Total data weight the posterior stands for: the warm-up's (or a loaded
        posterior's) plus every batch's; the default effective data size ``N``.
    """

    posterior: VariationalPosterior
    priors: VariationalPriors
    running: SufficientStatistics
    n_updates: int = 0
    n_samples_seen: int = 0
    weight_seen: float = 0.0

    @property
    def params(self) -> MixtureParameters:
        """The posterior's point estimate (expected weights, means, covariances)."""
        return self.posterior.mixture

    def reported_parameters(self, reg_covar: float) -> MixtureParameters:
        """The point estimate (SVI keeps no average: the posterior is the model)."""
        return self.params

    def scoring_form(self, dtype: np.dtype | type = np.float64) -> NaturalForm:
        """The variational E-step's coefficients for the current posterior."""
        return variational_form(self.posterior, dtype)


@dataclass(frozen=True)
class SVIStepResult:
    """One SVI step: the new state and how the batch looked before it.

    Attributes
    ----------
    state : SVIState
    step_size : float
        ``rho_t`` used.
    data_size : float
        ``N`` used.
    batch_mean_log_likelihood : float
        The batch's mean variational log-likelihood (scikit-learn's
        ``score_samples`` of ``BayesianGaussianMixture``) under the posterior
        *before* the update.
    """

    state: SVIState
    step_size: float
    data_size: float
    batch_mean_log_likelihood: float


def effective_data_size(weight_seen: float, total_samples: float | None) -> float:
    """``N`` of the natural-gradient step: ``total_samples`` if given, else the weight seen."""
    return float(weight_seen if total_samples is None else total_samples)


def svi_start_from_statistics(
    posterior: VariationalPosterior,
    priors: VariationalPriors,
    stats: SufficientStatistics,
    *,
    n_samples: int,
) -> SVIState:
    """An SVI state whose running statistics are a warm-up set's.

    Parameters
    ----------
    posterior : VariationalPosterior
        The posterior fitted on the warm-up rows.
    priors : VariationalPriors
    stats : SufficientStatistics
        The warm-up rows' statistics under ``posterior`` (any scale).
    n_samples : int
        Rows of the warm-up set.
    """
    running = stats.scale(1.0 / stats.weight_sum).reshift(posterior.means)
    return SVIState(
        posterior=posterior, priors=priors, running=running,
        n_samples_seen=n_samples, weight_seen=stats.weight_sum,
    )


def _outer(d: np.ndarray) -> np.ndarray:
    return d[:, :, None] * d[:, None, :]


def statistics_of_posterior(
    posterior: VariationalPosterior, priors: VariationalPriors, reg_covar: float
) -> SufficientStatistics:
    """The statistics ``s`` with ``update_posterior(s, priors, reg_covar) == posterior``.

    The inverse of the variational update (it is affine in the statistics), so
    a posterior loaded from a model version continues SVI with the data it stands
    for instead of restarting from the prior. Taken about the posterior means,
    where ``s1_k = beta_0 (m_k - m_0)`` and the scatter is the Wishart scale
    minus the prior's and the mean-shift terms.

    Returns
    -------
    SufficientStatistics
        Absolute (not per unit weight): ``n.sum()`` is the data weight the
        posterior stands for; ``weight_sum`` is set to it, ``n_samples`` to 0.
    """
    ctype = posterior.covariance_type
    beta0, psi0 = priors.mean_precision_prior, priors.covariance_prior
    n_features = posterior.n_features
    mass = np.maximum(posterior.mean_precision - beta0, _TEN_EPS)  # n_k + 10 eps
    n = np.maximum(mass - _TEN_EPS, 0.0)
    d = posterior.means - priors.mean_prior  # (K, D)
    beta = posterior.mean_precision
    s1 = beta0 * d
    dof = np.asarray(posterior.degrees_of_freedom)
    if ctype == "full":
        scale = posterior.covariances * dof[:, None, None]
        # mass * s_k = scale - psi0 - (mass beta0 / beta) diff diff^T, with diff = beta d / mass
        weighted = (scale - psi0) - (beta0 * beta / mass)[:, None, None] * _outer(d)
        correction = 2.0 - n / mass  # the M-step's exact re-centring (core.mstep)
        s2 = weighted + ((correction * beta0**2 / mass)[:, None, None] * _outer(d))
        s2[:, np.arange(n_features), np.arange(n_features)] -= (mass * reg_covar)[:, None]
    elif ctype == "tied":
        k = posterior.n_components
        scale = posterior.covariances * dof
        weighted = k * (scale - psi0) - np.einsum("k,kd,ke->de", beta0 * beta / mass, d, d)
        s2 = weighted + np.einsum("k,kd,ke->de", beta0**2 / mass, d, d)
        s2[np.diag_indices(n_features)] -= mass.sum() * reg_covar
    elif ctype == "diag":
        scale = posterior.covariances * dof[:, None]
        weighted = (scale - psi0) - (beta0 * beta / mass)[:, None] * d**2
        s2 = weighted - (mass * reg_covar)[:, None] + (beta0**2 / mass)[:, None] * d**2
    else:
        scale = posterior.covariances * dof
        squared = np.einsum("kd,kd->k", d, d)
        per_feature = (scale - psi0) - beta0 * beta / mass * squared / n_features
        s2 = n_features * (per_feature - mass * reg_covar) + beta0**2 / mass * squared
    if COVARIANCE_RULES[ctype].matrix:
        s2 = 0.5 * (s2 + np.swapaxes(s2, -1, -2))
    total = float(n.sum())
    return SufficientStatistics(
        covariance_type=ctype, shift=posterior.means, n=n, s1=s1, s2=s2,
        log_likelihood=0.0, weight_sum=total, n_samples=0,
    )


def svi_start_from_posterior(
    posterior: VariationalPosterior, priors: VariationalPriors, reg_covar: float
) -> SVIState:
    """An SVI state continuing from a fitted posterior (no rows seen yet).

    Its running statistics are :func:`statistics_of_posterior` per unit weight,
    and ``weight_seen`` the data weight the posterior stands for.
    """
    stats = statistics_of_posterior(posterior, priors, reg_covar)
    total = stats.weight_sum
    running = stats.scale(1.0 / total) if total > 0 else stats
    return SVIState(posterior=posterior, priors=priors, running=running, weight_seen=total)


def svi_update(
    state: SVIState,
    batch: SufficientStatistics,
    schedule: StepSchedule,
    *,
    reg_covar: float,
    total_samples: float | None = None,
) -> SVIStepResult:
    """One natural-gradient step of SVI with a batch's expected statistics.

    Parameters
    ----------
    state : SVIState
    batch : SufficientStatistics
        The batch's statistics under ``state.posterior``'s variational E-step
        (any shift, unnormalised).
    schedule : StepSchedule
        ``rho_t``.
    reg_covar : float
        As in the batch fit.
    total_samples : float or None
        ``N``; None: the weight seen so far, this batch included.

    Returns
    -------
    SVIStepResult

    Raises
    ------
    NonFiniteModelError
        If the statistics or the new posterior hold NaN or inf (``state``, a value,
        is untouched).
    """
    if batch.weight_sum <= 0:
        raise ValueError("an SVI step needs a batch with positive total weight")
    t = state.n_updates + 1
    rho = schedule.step(t)
    weight_seen = state.weight_seen + batch.weight_sum
    data_size = effective_data_size(weight_seen, total_samples)
    blended = combine_statistics(state.running, 1.0 - rho, batch, rho / batch.weight_sum)
    posterior = update_posterior(
        blended.scale(data_size), state.priors, reg_covar, step=f"SVI step {t}"
    )
    new_state = replace(
        state,
        posterior=posterior,
        # About the new means: the update's cancellation error grows with the
        # squared distance between a component's mean and its reference point.
        running=blended.reshift(posterior.means),
        n_updates=t,
        n_samples_seen=state.n_samples_seen + batch.n_samples,
        weight_seen=weight_seen,
    )
    return SVIStepResult(
        state=new_state, step_size=rho, data_size=data_size,
        batch_mean_log_likelihood=batch.mean_log_likelihood,
    )
