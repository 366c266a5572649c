"""The M-step: merged sufficient statistics -> mixture parameters.

The formulas reproduce scikit-learn's ``_estimate_gaussian_parameters``
exactly (including the ``10 * eps`` added to every component mass), written in
terms of shifted sums so they stay accurate for data far from the origin.

Emptied components
------------------
A component whose responsibility mass falls below ``EMPTY_MASS_FRACTION`` of
the total has no data to estimate a mean or covariance from; computing one
anyway yields NaN or an arbitrary point. streamgmm *keeps* such a component's
previous mean and covariance (its weight becomes its tiny mass, so it stops
attracting data unless the data move towards it) and reports its index so the
caller can warn. Without previous parameters (initialisation) the component
is placed at the reference point with covariance ``reg_covar * I``.

Non-finite values
-----------------
Every path to a model (batch EM, stepwise EM, initialisation, averaged online
models) goes through :func:`maximise`, so it is the one place that refuses NaN
or infinite statistics and parameters (:mod:`streamgmm.core.finite`): a
:class:`~streamgmm.core.errors.NonFiniteModelError` naming the step and the
component, never a NaN model. The checks are on K-sized arrays only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import COVARIANCE_RULES
from .finite import check_finite_parameters, check_finite_statistics
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = ["maximise", "MStepResult", "EMPTY_MASS_FRACTION", "ComponentMoments", "component_moments"]

#: A component with less than this fraction of the total mass counts as empty.
EMPTY_MASS_FRACTION = 1e-12

_TEN_EPS = 10.0 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class MStepResult:
    """Parameters from one M-step and the components that had no mass.

    Attributes
    ----------
    params : MixtureParameters
    empty_components : tuple of int
        Indices of components that were kept (or placed) because their mass vanished.
    """

    params: MixtureParameters
    empty_components: tuple[int, ...]


def _covariances_full(stats: SufficientStatistics, mass: np.ndarray, nu: np.ndarray, reg_covar: float) -> np.ndarray:
    n_features = stats.n_features
    # sum r (y - nu)(y - nu)^T / mass = s2/mass - (2 - n/mass) nu nu^T  (exact algebra)
    correction = 2.0 - stats.n / mass
    cov = stats.s2 / mass[:, None, None] - correction[:, None, None] * (
        nu[:, :, None] * nu[:, None, :]
    )
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    cov[:, np.arange(n_features), np.arange(n_features)] += reg_covar
    return cov


def _covariances_tied(stats: SufficientStatistics, mass: np.ndarray, nu: np.ndarray, reg_covar: float) -> np.ndarray:
    cov = (stats.s2 - (mass[:, None] * nu).T @ nu) / mass.sum()
    cov = 0.5 * (cov + cov.T)
    cov[np.diag_indices(stats.n_features)] += reg_covar
    return cov


def _covariances_diag(stats: SufficientStatistics, mass: np.ndarray, nu: np.ndarray, reg_covar: float) -> np.ndarray:
    # Clipped at zero: rounding must never produce a negative variance.
    return np.maximum(stats.s2 / mass[:, None] - nu**2, 0.0) + reg_covar


def _covariances_spherical(stats: SufficientStatistics, mass: np.ndarray, nu: np.ndarray, reg_covar: float) -> np.ndarray:
    # the mean of the per-feature variances, as scikit-learn defines it
    total = np.maximum(stats.s2 / mass - np.einsum("kd,kd->k", nu, nu), 0.0)
    return total / stats.n_features + reg_covar


#: The covariance types' rules of :func:`_covariances`: ``(stats, mass, nu, reg_covar) -> covariances``.
_COVARIANCES = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}


def _covariances(stats: SufficientStatistics, mass: np.ndarray, nu: np.ndarray, reg_covar: float) -> np.ndarray:
    """Covariances about the component means, from sums about each component's shift.

    ``mass`` is ``n + 10 eps`` (K,), ``nu`` the means about the shift (K, D).
    """
    return _COVARIANCES[stats.covariance_type](stats, mass, nu, reg_covar)


@dataclass(frozen=True)
class ComponentMoments:
    """Each component's mass, mean and covariance under the responsibilities.

    scikit-learn's ``nk, xk, sk`` of ``_estimate_gaussian_parameters`` (so the
    covariances include ``reg_covar``), computed from shifted sums.

    Attributes
    ----------
    mass : ndarray of shape (K,)
        ``n_k + 10 eps``.
    nu : ndarray of shape (K, D)
        Means about each component's shift, ``s1_k / mass_k``.
    means : ndarray of shape (K, D)
        ``shift + nu``.
    covariances : ndarray
        Shape by covariance type.
    """

    mass: np.ndarray
    nu: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def component_moments(stats: SufficientStatistics, reg_covar: float) -> ComponentMoments:
    """Mass, means and covariances (``reg_covar`` included) from merged statistics.

    Shared by the maximum-likelihood M-step and the variational update
    (:mod:`streamgmm.core.variational`). Overflow is not reported here: callers
    check the finished parameters.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mass = stats.n + _TEN_EPS
        nu = stats.s1 / mass[:, None]
        means = stats.shift + nu
        covariances = _covariances(stats, mass, nu, reg_covar)
    return ComponentMoments(mass, nu, means, covariances)


def maximise(
    stats: SufficientStatistics,
    reg_covar: float,
    previous: MixtureParameters | None = None,
    *,
    step: str = "the M-step",
) -> MStepResult:
    """New parameters from merged statistics.

    Parameters
    ----------
    stats : SufficientStatistics
        Merged statistics of every row (or the running statistics in online EM).
    reg_covar : float
        Non-negative value added to the covariance diagonals.
    previous : MixtureParameters, optional
        Parameters the statistics were computed with; supplies the mean and
        covariance of any emptied component.
    step : str, default "the M-step"
        Names the step in errors, e.g. "EM iteration 3".

    Returns
    -------
    MStepResult

    Raises
    ------
    NonFiniteModelError
        If the statistics or the new parameters hold NaN or inf.
    IllConditionedCovarianceError
        If a covariance is not positive definite even after ``reg_covar``.
    """
    check_finite_statistics(stats, step)
    # Finite statistics can still overflow here (huge sums over a tiny mass); the
    # result is checked below, so numpy's warnings would only precede that error.
    moments = component_moments(stats, reg_covar)
    means, covariances = moments.means, moments.covariances
    with np.errstate(over="ignore", invalid="ignore"):
        weights = moments.mass / moments.mass.sum()
    rules = COVARIANCE_RULES[stats.covariance_type]

    total = max(float(stats.n.sum()), np.finfo(np.float64).tiny)
    empty = np.flatnonzero(stats.n < EMPTY_MASS_FRACTION * total)
    if empty.size and not rules.shared:
        if previous is not None:
            means[empty] = previous.means[empty]
            covariances[empty] = previous.covariances[empty]
        else:
            means[empty] = stats.shift[empty]
            identity = np.eye(stats.n_features) if rules.matrix else 1.0
            covariances[empty] = reg_covar * identity if reg_covar > 0 else identity
    elif empty.size:
        if previous is not None:
            means[empty] = previous.means[empty]
        else:
            means[empty] = stats.shift[empty]
    check_finite_parameters(weights, means, covariances, stats.covariance_type, step)
    params = MixtureParameters.from_covariances(weights, means, covariances, stats.covariance_type)
    return MStepResult(params=params, empty_components=tuple(int(k) for k in empty))
