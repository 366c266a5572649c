"""The variational posterior of a Gaussian mixture, from sufficient statistics.

The model is scikit-learn's ``BayesianGaussianMixture`` (Bishop 2006, ch. 10;
Blei & Jordan 2006 for the Dirichlet process): a Dirichlet (or stick-breaking
Dirichlet-process) prior on the weights and a Gaussian-Wishart prior on each
component's mean and precision. Every formula here reproduces scikit-learn's
(``_estimate_weights``, ``_estimate_means``, ``_estimate_wishart_*``,
``_estimate_log_prob``, ``_compute_lower_bound``), written in terms of the
project's merged, shifted statistics (:mod:`streamgmm.core.statistics`), so one
pass over the data per iteration suffices in memory and out of core.

The E-step
----------
scikit-learn scores row ``x`` under component ``k`` with
``E[log pi_k] + log N(x | m_k, W_k / nu_k)`` plus
``-D/2 log nu_k + 1/2 (log Lambda~_k - D / beta_k)``, where ``W_k / nu_k`` is
``covariances_`` (the Wishart scale already divided by the degrees of
freedom). That is the log-density of an ordinary Gaussian mixture whose
"log-weights" are :func:`effective_log_weights` (they do not sum to one), so the
fused kernel of :mod:`streamgmm.core.estep` runs unchanged on
:func:`variational_form`.

The lower bound
---------------
scikit-learn's bound needs ``sum_ik r_ik log r_ik``, the entropy of the
responsibilities. Instead of a log per element in the kernel it is
recovered from what the pass already returns: with ``p~_ik`` the effective
weighted log-density and ``r_ik = exp(p~_ik - logsumexp_k p~_ik)``,

    sum_ik r_ik log r_ik = sum_k sum_i r_ik p~_ik - sum_i logsumexp_k p~_ik,

where the second sum is ``stats.log_likelihood`` and the first is exact in the
statistics: ``p~_ik = c_k - 1/2 (x_i - m_k)^T P_k (x_i - m_k)``, so
``sum_i r_ik p~_ik = n_k c_k - 1/2 tr(P_k S_k)`` with ``S_k`` the scatter about
the E-step's means (an exact change of reference of the statistics). The two
sums are of order ``N |log p|`` and their difference of order ``N log K``: a
cancellation of about one digit, measured harmless (``tests/bayesian``: ~1e-12
relative agreement with scikit-learn; data offset by 1e6 move the bound of 150
rows by less than 1e-6, about 1e-9 of its terms, as the rows' log-densities
are about the previous means, never about the origin). As in
scikit-learn, the entropy belongs to the responsibilities of the E-step *before*
the update, and every other term to the posterior *after* it.

Sample weights
--------------
A weight ``w_i`` multiplies row ``i``'s responsibilities in every statistic,
so the update and the bound (including the entropy, ``sum_i w_i sum_k r_ik log
r_ik``) are those of the data with row ``i`` repeated ``w_i`` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import betaln, digamma, gammaln

from .covariance import (
    COVARIANCE_RULES,
    check_covariance_type,
    log_det_precisions_cholesky,
    precisions_cholesky_from_covariances,
    precisions_from_precisions_cholesky,
)
from .domains import DOMAINS
from .errors import InvalidParameterError
from .estep import NaturalForm, natural_form
from .finite import check_finite_parameters, check_finite_statistics
from .mstep import component_moments
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = [
    "WEIGHT_PRIOR_TYPES",
    "PriorSettings",
    "VariationalPriors",
    "VariationalPosterior",
    "check_priors",
    "resolve_priors",
    "moments_from_statistics",
    "update_posterior",
    "expected_log_weights",
    "effective_log_weights",
    "variational_form",
    "lower_bound",
    "DEFAULT_WEIGHT_THRESHOLD",
    "components_in_use",
]

WeightPriorType = Literal["dirichlet_process", "dirichlet_distribution"]

#: The weight priors scikit-learn offers, by its names.
WEIGHT_PRIOR_TYPES: tuple[str, ...] = DOMAINS["weight_concentration_prior_type"].choices

_LOG_2PI = float(np.log(2.0 * np.pi))


# ------------------------------------------------------------------------ priors
@dataclass(frozen=True, eq=False, kw_only=True)
class PriorSettings:
    """The priors as the user gives them (scikit-learn's parameters; None: the default).

    :func:`check_priors` refuses invalid ones from the data's shape alone;
    :func:`resolve_priors` fills in the defaults.
    """

    covariance_type: str
    weight_concentration_prior_type: str = "dirichlet_process"
    weight_concentration_prior: float | None = None
    mean_precision_prior: float | None = None
    mean_prior: Any = None
    degrees_of_freedom_prior: float | None = None
    covariance_prior: Any = None

    @property
    def needs_data_moments(self) -> bool:
        """Whether a default (``mean_prior`` or ``covariance_prior``) needs the data's moments."""
        return self.mean_prior is None or self.covariance_prior is None


@dataclass(frozen=True, eq=False)
class VariationalPriors:
    """The resolved priors of a variational Gaussian mixture (float64).

    Attributes
    ----------
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration_prior : float
        ``alpha_0`` (> 0).
    mean_precision_prior : float
        ``beta_0`` (> 0).
    mean_prior : ndarray of shape (D,)
        ``m_0``.
    degrees_of_freedom_prior : float
        ``nu_0`` (> D - 1).
    covariance_prior : ndarray
        ``W_0^-1``: (D, D) for full and tied, (D,) for diag, a 0-d array for spherical.
    covariance_type : str
    """

    weight_concentration_prior_type: WeightPriorType
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: np.ndarray
    degrees_of_freedom_prior: float
    covariance_prior: np.ndarray
    covariance_type: str

    @property
    def n_features(self) -> int:
        return int(self.mean_prior.shape[0])


def _prior_shape(covariance_type: str, n_features: int) -> tuple[int, ...]:
    return {"full": (n_features, n_features), "tied": (n_features, n_features),
            "diag": (n_features,), "spherical": ()}[covariance_type]


def _check_covariance_prior(value: Any, covariance_type: str, n_features: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    expected = _prior_shape(covariance_type, n_features)
    if array.shape != expected:
        raise InvalidParameterError(
            f"covariance_prior has shape {array.shape}; a '{covariance_type}' mixture with "
            f"{n_features} features needs {expected if expected else 'a number'}"
        )
    if not np.isfinite(array).all():
        raise InvalidParameterError("covariance_prior contains NaN or infinite values")
    if COVARIANCE_RULES[covariance_type].matrix:
        asymmetry = float(np.abs(array - array.T).max())
        if asymmetry > 1e-8 * max(float(np.abs(array).max()), 1.0):
            raise InvalidParameterError(
                f"covariance_prior must be symmetric positive definite; the largest difference "
                f"between it and its transpose is {asymmetry:.3g}. Symmetrise it, e.g. (C + C.T) / 2"
            )
        smallest = float(np.linalg.eigvalsh(array).min())
        if smallest <= 0:
            raise InvalidParameterError(
                f"covariance_prior must be symmetric positive definite; its smallest eigenvalue "
                f"is {smallest:.6g}. Give a positive definite matrix, e.g. the data's "
                "covariance, or None for that default"
            )
    elif np.any(array <= 0):
        raise InvalidParameterError(
            f"covariance_prior must be positive for '{covariance_type}' covariance; its smallest "
            f"value is {float(array.min()):.6g}. Give positive variances, or None for the data's"
        )
    return array


def check_priors(settings: PriorSettings, n_features: int) -> None:
    """Refuse invalid user priors; needs only the shape of the data, no pass over it.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the value and what is allowed.
    """
    covariance_type = settings.covariance_type
    mean_prior = settings.mean_prior
    check_covariance_type(covariance_type)
    for name in ("weight_concentration_prior_type", "weight_concentration_prior", "mean_precision_prior"):
        DOMAINS[name].check(name, getattr(settings, name))
    if mean_prior is not None:
        means = np.asarray(mean_prior, dtype=np.float64)
        if means.shape != (n_features,):
            raise InvalidParameterError(
                f"mean_prior has shape {means.shape}; expected ({n_features},) for "
                f"{n_features} features"
            )
        if not np.isfinite(means).all():
            raise InvalidParameterError("mean_prior contains NaN or infinite values")
    if settings.degrees_of_freedom_prior is not None:
        dof = settings.degrees_of_freedom_prior
        if isinstance(dof, (bool, np.bool_)) or not np.isfinite(dof) or dof <= n_features - 1:
            raise InvalidParameterError(
                f"degrees_of_freedom_prior={dof!r} is invalid: expected a finite real number > "
                f"{n_features - 1} (n_features - 1), or None (n_features = {n_features})"
            )
    if settings.covariance_prior is not None:
        _check_covariance_prior(settings.covariance_prior, covariance_type, n_features)


def _default_covariance_prior(covariance_type: str, data_covariance: np.ndarray) -> np.ndarray:
    """scikit-learn's default from the data covariance (ddof=1), by covariance type."""
    if covariance_type in ("full", "tied"):
        return np.atleast_2d(data_covariance)
    variances = np.diagonal(np.atleast_2d(data_covariance))
    return variances.copy() if covariance_type == "diag" else np.asarray(variances.mean())


def resolve_priors(
    settings: PriorSettings,
    n_components: int,
    data_mean: np.ndarray | None = None,
    data_covariance: np.ndarray | None = None,
) -> VariationalPriors:
    """The priors with scikit-learn's defaults filled in.

    Defaults: ``1 / n_components``, ``1``, the data mean, ``n_features`` and the
    data covariance (ddof=1; its diagonal for 'diag', the mean of its diagonal
    for 'spherical'). ``data_mean``/``data_covariance`` are needed only for the
    defaults they provide; out of core the engine computes them exactly in one
    extra pass of first and second moments before the initialisation
    (:func:`moments_from_statistics`), and only when a default needs them.

    Parameters
    ----------
    settings : PriorSettings
        Checked by :func:`check_priors`.
    n_components : int
    data_mean : ndarray of shape (D,) or None
    data_covariance : ndarray of shape (D, D), (D,) or () or None
        For 'diag' and 'spherical', the (D,) variances or their mean suffice.
    """
    covariance_type = settings.covariance_type
    mean_prior, covariance_prior = settings.mean_prior, settings.covariance_prior
    weight_concentration_prior = settings.weight_concentration_prior
    mean_precision_prior = settings.mean_precision_prior
    degrees_of_freedom_prior = settings.degrees_of_freedom_prior
    if mean_prior is None:
        if data_mean is None:
            raise InvalidParameterError("mean_prior=None needs the data mean")
        mean_prior = data_mean
    means = np.array(mean_prior, dtype=np.float64)
    n_features = means.shape[0]
    if covariance_prior is None:
        if data_covariance is None:
            raise InvalidParameterError("covariance_prior=None needs the data covariance")
        data_covariance = np.asarray(data_covariance, dtype=np.float64)
        if data_covariance.ndim < 2 and covariance_type in ("diag", "spherical"):
            covariance_prior = data_covariance if covariance_type == "diag" or data_covariance.ndim == 0 \
                else np.asarray(data_covariance.mean())
        else:
            covariance_prior = _default_covariance_prior(covariance_type, data_covariance)
    return VariationalPriors(
        weight_concentration_prior_type=settings.weight_concentration_prior_type,  # type: ignore[arg-type]
        weight_concentration_prior=float(
            1.0 / n_components if weight_concentration_prior is None else weight_concentration_prior
        ),
        mean_precision_prior=float(1.0 if mean_precision_prior is None else mean_precision_prior),
        mean_prior=means,
        degrees_of_freedom_prior=float(
            n_features if degrees_of_freedom_prior is None else degrees_of_freedom_prior
        ),
        covariance_prior=np.array(covariance_prior, dtype=np.float64),
        covariance_type=covariance_type,
    )


def moments_from_statistics(stats: SufficientStatistics) -> tuple[np.ndarray, np.ndarray]:
    """Data mean (D,) and covariance (ddof=1) from one-component statistics.

    ``stats`` holds every row under a single component (all responsibilities
    one, sample weights included). The covariance is (D, D) for 'full'/'tied'
    statistics, the (D,) variances for 'diag' and their mean (0-d) for
    'spherical': what the default ``covariance_prior`` of each type needs. With
    sample weights, ``n - 1`` is ``sum(w) - 1``: as if rows were repeated.
    """
    n = float(stats.n[0])
    nu = stats.s1[0] / n
    mean = stats.shift[0] + nu
    ddof = n - 1.0
    ctype = stats.covariance_type
    if ctype in ("full", "tied"):
        s2 = stats.s2[0] if ctype == "full" else stats.s2
        covariance = (s2 - n * np.outer(nu, nu)) / ddof
        covariance = 0.5 * (covariance + covariance.T)
    elif ctype == "diag":
        covariance = (stats.s2[0] - n * nu**2) / ddof
    else:
        covariance = np.asarray((stats.s2[0] - n * float(nu @ nu)) / ddof / stats.n_features)
    return mean, covariance


# --------------------------------------------------------------------- posterior
@dataclass(frozen=True, eq=False)
class VariationalPosterior:
    """The variational posterior, float64, with scikit-learn's attribute meanings.

    Attributes
    ----------
    covariance_type : str
    weight_concentration_prior_type : str
    weight_concentration : tuple of two (K,) ndarrays, or ndarray of shape (K,)
        Beta parameters of the sticks (Dirichlet process) or the Dirichlet's.
    mean_precision : ndarray of shape (K,)
        ``beta_k``.
    means : ndarray of shape (K, D)
        ``m_k``.
    degrees_of_freedom : ndarray of shape (K,) (a 0-d array for tied)
        ``nu_k``.
    covariances : ndarray
        ``W_k^-1 / nu_k``; shape by covariance type.
    precisions_cholesky : ndarray
        Cholesky factors of the inverses of ``covariances``.
    """

    covariance_type: str
    weight_concentration_prior_type: str
    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.means.shape[1])

    @property
    def weights(self) -> np.ndarray:
        """Expected weights (scikit-learn's ``weights_``), shape (K,)."""
        if self.weight_concentration_prior_type == "dirichlet_process":
            a, b = self.weight_concentration
            total = a + b
            weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
            return weights / np.sum(weights)
        concentration = self.weight_concentration
        return concentration / np.sum(concentration)

    @property
    def precisions(self) -> np.ndarray:
        """Inverses of ``covariances``; same shape."""
        return precisions_from_precisions_cholesky(self.precisions_cholesky, self.covariance_type)

    @property
    def mixture(self) -> MixtureParameters:
        """The point estimate: expected weights, ``means``, ``covariances`` (for sampling and reporting)."""
        return MixtureParameters(
            self.weights, self.means, self.covariances, self.precisions_cholesky, self.covariance_type
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for checkpoints): the inverse of :meth:`from_arrays`."""
        concentration = np.vstack(self.weight_concentration) if isinstance(
            self.weight_concentration, tuple) else np.asarray(self.weight_concentration)[None]
        return {
            "weight_concentration": concentration,
            "mean_precision": self.mean_precision,
            "means": self.means,
            "degrees_of_freedom": np.asarray(self.degrees_of_freedom),
            "covariances": self.covariances,
            "precisions_cholesky": self.precisions_cholesky,
        }

    @classmethod
    def from_arrays(cls, arrays: Any, covariance_type: str, weight_concentration_prior_type: str,
                    prefix: str = "") -> "VariationalPosterior":
        """Rebuild from :meth:`arrays` (keys optionally prefixed)."""
        concentration = np.asarray(arrays[f"{prefix}weight_concentration"], dtype=np.float64)
        weight_concentration = (
            (concentration[0].copy(), concentration[1].copy())
            if weight_concentration_prior_type == "dirichlet_process" else concentration[0].copy()
        )
        return cls(
            covariance_type=covariance_type,
            weight_concentration_prior_type=weight_concentration_prior_type,
            weight_concentration=weight_concentration,
            mean_precision=np.asarray(arrays[f"{prefix}mean_precision"], dtype=np.float64),
            means=np.asarray(arrays[f"{prefix}means"], dtype=np.float64),
            degrees_of_freedom=np.asarray(arrays[f"{prefix}degrees_of_freedom"], dtype=np.float64),
            covariances=np.asarray(arrays[f"{prefix}covariances"], dtype=np.float64),
            precisions_cholesky=np.asarray(arrays[f"{prefix}precisions_cholesky"], dtype=np.float64),
        )


def _weight_concentration(mass: np.ndarray, priors: VariationalPriors) -> Any:
    if priors.weight_concentration_prior_type == "dirichlet_process":
        remaining = np.hstack((np.cumsum(mass[::-1])[-2::-1], 0))
        return (1.0 + mass, priors.weight_concentration_prior + remaining)
    return priors.weight_concentration_prior + mass


def _wishart_full(mass, diff, sk, beta, priors):
    scale = mass * priors.mean_precision_prior / beta
    return (
        priors.covariance_prior
        + mass[:, None, None] * sk
        + scale[:, None, None] * (diff[:, :, None] * diff[:, None, :])
    )


def _wishart_tied(mass, diff, sk, beta, priors):
    k = mass.shape[0]
    return (
        priors.covariance_prior
        + sk * mass.sum() / k
        + priors.mean_precision_prior / k * np.dot((mass / beta) * diff.T, diff)
    )


def _wishart_diag(mass, diff, sk, beta, priors):
    return priors.covariance_prior + mass[:, None] * (
        sk + (priors.mean_precision_prior / beta)[:, None] * np.square(diff)
    )


def _wishart_spherical(mass, diff, sk, beta, priors):
    return priors.covariance_prior + mass * (
        sk + priors.mean_precision_prior / beta * np.mean(np.square(diff), 1)
    )


#: The Wishart scale ``W_k^-1`` before division by ``nu_k``, by covariance type:
#: ``(mass, x_k - m_0, s_k, beta_k, priors) -> scale``.
_WISHART_SCALE = {
    "full": _wishart_full,
    "tied": _wishart_tied,
    "diag": _wishart_diag,
    "spherical": _wishart_spherical,
}


def _divide_by_dof(scale: np.ndarray, dof: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type == "full":
        return scale / dof[:, None, None]
    if covariance_type == "diag":
        return scale / dof[:, None]
    return scale / dof


def update_posterior(
    stats: SufficientStatistics,
    priors: VariationalPriors,
    reg_covar: float,
    *,
    step: str = "the variational update",
) -> VariationalPosterior:
    """The variational M-step (scikit-learn's ``_m_step``) from merged statistics.

    Parameters
    ----------
    stats : SufficientStatistics
        Merged statistics of every row (sample weights included).
    priors : VariationalPriors
    reg_covar : float
        Added to the diagonal of each ``s_k`` as scikit-learn does.
    step : str
        Names the step in errors.

    Returns
    -------
    VariationalPosterior

    Raises
    ------
    NonFiniteModelError
        NaN or inf in the statistics or the result.
    """
    check_finite_statistics(stats, step)
    ctype = stats.covariance_type
    moments = component_moments(stats, reg_covar)
    mass = moments.mass
    beta = priors.mean_precision_prior + mass
    # x_k - m_0 as (c_k - m_0) + nu_k: no large numbers subtracted for offset data.
    diff = (stats.shift - priors.mean_prior) + moments.nu
    means = priors.mean_prior + (mass[:, None] * diff) / beta[:, None]
    if ctype == "tied":
        dof = np.asarray(priors.degrees_of_freedom_prior + mass.sum() / stats.n_components)
    else:
        dof = priors.degrees_of_freedom_prior + mass
    with np.errstate(over="ignore", invalid="ignore"):
        scale = _WISHART_SCALE[ctype](mass, diff, moments.covariances, beta, priors)
        covariances = _divide_by_dof(scale, dof, ctype)
    if COVARIANCE_RULES[ctype].matrix:
        covariances = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    concentration = _weight_concentration(mass, priors)
    weights_proxy = mass / mass.sum() if mass.sum() > 0 else np.full(mass.shape, 1.0 / len(mass))
    check_finite_parameters(weights_proxy, means, covariances, ctype, step)
    return VariationalPosterior(
        covariance_type=ctype,
        weight_concentration_prior_type=priors.weight_concentration_prior_type,
        weight_concentration=concentration,
        mean_precision=beta,
        means=means,
        degrees_of_freedom=dof,
        covariances=covariances,
        precisions_cholesky=precisions_cholesky_from_covariances(covariances, ctype),
    )


# ---------------------------------------------------------------------- E-step
def expected_log_weights(posterior: VariationalPosterior) -> np.ndarray:
    """``E[log pi_k]`` (scikit-learn's ``_estimate_log_weights``), shape (K,)."""
    if posterior.weight_concentration_prior_type == "dirichlet_process":
        a, b = posterior.weight_concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    concentration = posterior.weight_concentration
    return digamma(concentration) - digamma(np.sum(concentration))


def _expected_log_det_terms(posterior: VariationalPosterior) -> np.ndarray:
    """``-D/2 log nu_k + 1/2 (log Lambda~_k - D / beta_k)``, shape (K,)."""
    n_features = posterior.n_features
    dof = posterior.degrees_of_freedom
    log_lambda = n_features * np.log(2.0) + np.sum(
        digamma(0.5 * (dof - np.arange(0, n_features)[:, np.newaxis])), 0
    )
    return -0.5 * n_features * np.log(dof) + 0.5 * (log_lambda - n_features / posterior.mean_precision)


def effective_log_weights(posterior: VariationalPosterior) -> np.ndarray:
    """Per-component constants of the variational E-step, shape (K,).

    ``E[log pi_k]`` plus the expected log-determinant terms: with them, the
    Gaussian log-density under ``(means, precisions_cholesky)`` is scikit-learn's
    ``_estimate_weighted_log_prob``.
    """
    return expected_log_weights(posterior) + _expected_log_det_terms(posterior)


def variational_form(
    posterior: VariationalPosterior, dtype: np.dtype | type = np.float64, shift: np.ndarray | None = None
) -> NaturalForm:
    """The fused E-step's coefficients for the variational posterior.

    The reference point defaults to the mean under the expected weights.
    """
    return natural_form(posterior.mixture, dtype, shift, log_weights=effective_log_weights(posterior))


# ------------------------------------------------------------------ lower bound
def _trace_full(precisions: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    return np.einsum("kab,kab->k", precisions, scatter)


def _trace_tied(precisions: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    return np.asarray([np.einsum("ab,ab->", precisions, scatter)])


def _trace_diag(precisions: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    return np.einsum("kd,kd->k", precisions, scatter)


def _trace_spherical(precisions: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    return precisions * scatter


#: ``tr(P_k S_k)`` (K,) (tied: its sum over k, shape (1,)) of precisions and scatters
#: about the means, by covariance type: ``(precisions, scatter) -> traces``.
_TRACES = {
    "full": _trace_full,
    "tied": _trace_tied,
    "diag": _trace_diag,
    "spherical": _trace_spherical,
}


def responsibility_entropy_term(stats: SufficientStatistics, scored_with: VariationalPosterior) -> float:
    """``sum_i w_i sum_k r_ik log r_ik`` of the E-step that produced ``stats``.

    ``scored_with`` is the posterior whose :func:`variational_form` made the
    statistics. See the module docstring for the identity used.
    """
    ctype = stats.covariance_type
    n_features = stats.n_features
    chol = scored_with.precisions_cholesky
    constants = (
        effective_log_weights(scored_with)
        + np.broadcast_to(log_det_precisions_cholesky(chol, ctype, n_features), stats.n.shape)
        - 0.5 * n_features * _LOG_2PI
    )
    about_means = stats.reshift(scored_with.means)
    traces = _TRACES[ctype](scored_with.precisions, about_means.s2)
    return float(stats.n @ constants - 0.5 * traces.sum() - stats.log_likelihood)


def lower_bound(
    stats: SufficientStatistics, scored_with: VariationalPosterior, posterior: VariationalPosterior
) -> float:
    """scikit-learn's ``_compute_lower_bound`` (up to its dropped constants).

    Parameters
    ----------
    stats : SufficientStatistics
        The statistics of the E-step scored with ``scored_with``.
    scored_with : VariationalPosterior
        The posterior before the update (gives the responsibilities' entropy).
    posterior : VariationalPosterior
        The posterior after the update (every other term).
    """
    n_features = posterior.n_features
    ctype = posterior.covariance_type
    dof = posterior.degrees_of_freedom
    log_det = log_det_precisions_cholesky(
        posterior.precisions_cholesky, ctype, n_features
    ) - 0.5 * n_features * np.log(dof)
    log_wishart_norm = -(
        dof * log_det
        + dof * n_features * 0.5 * np.log(2.0)
        + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, np.newaxis])), 0)
    )
    if ctype == "tied":
        log_wishart = posterior.n_components * float(np.sum(log_wishart_norm))
    else:
        log_wishart = float(np.sum(log_wishart_norm))
    if posterior.weight_concentration_prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(betaln(*posterior.weight_concentration)))
    else:
        concentration = posterior.weight_concentration
        log_norm_weight = float(gammaln(np.sum(concentration)) - np.sum(gammaln(concentration)))
    return (
        -responsibility_entropy_term(stats, scored_with)
        - log_wishart
        - log_norm_weight
        - 0.5 * n_features * float(np.sum(np.log(posterior.mean_precision)))
    )



# -------------------------------------------------------------- components in use
#: The expected weight below which a component counts as switched off, by default.
DEFAULT_WEIGHT_THRESHOLD = 0.01


def active_components(weights: np.ndarray,
                      weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD) -> np.ndarray:
    """Indices of the components whose expected weight is at least ``weight_threshold``.

    Parameters
    ----------
    weights : ndarray of shape (K,)
        Expected weights (``VariationalPosterior.weights``).
    weight_threshold : float in [0, 1)

    Returns
    -------
    ndarray of int, shape (m,)
    """
    return np.flatnonzero(np.asarray(weights) >= weight_threshold)


def components_in_use(weights: np.ndarray, weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD) -> int:
    """How many components have an expected weight of at least ``weight_threshold``
    (the length of :func:`active_components`)."""
    return int(len(active_components(weights, weight_threshold)))
