"""Covariance parameterisations: shapes, factorisations and parameter counts.

:data:`COVARIANCE_RULES` is the one table of what depends on the covariance
type: one frozen :class:`CovarianceRules` per type, holding its shapes and
counts and its factorisation functions (one signature each, scikit-learn
style). The kernels elsewhere (E-step, M-step, statistics) dispatch through
dicts keyed by the same names, once per call, never per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from scipy import linalg
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dtrtrs as _trtrs

from .errors import IllConditionedCovarianceError

CovarianceType = Literal["full", "tied", "diag", "spherical"]
COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")

_FACTORISATION_ADVICE = (
    "Try increasing reg_covar, scaling the input data (e.g. StandardScaler), "
    "or using fewer components."
)


def check_covariance_type(covariance_type: str) -> None:
    """Raise a ValueError naming the allowed values if ``covariance_type`` is unknown."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type={covariance_type!r} is not supported; "
            f"choose one of {', '.join(repr(t) for t in COVARIANCE_TYPES)}"
        )


# --------------------------------------------------------------------------- factors
def _cholesky_factor_of_inverse(covariance: np.ndarray, what: str) -> np.ndarray:
    """Upper factor U with ``inv(covariance) = U @ U.T``, shape (D, D).

    Calls LAPACK's ``potrf`` and ``trtrs`` directly: the same routines, in the same
    form, as ``scipy.linalg.cholesky(lower=True)`` and ``solve_triangular`` (so the
    result is bitwise theirs, and scikit-learn's), without their argument checking,
    which costs more than the factorisation itself for the small matrices of a
    mixture and dominates online updates.
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    # potrf's upper factor of a C-ordered matrix is the transpose of its lower factor,
    # exactly as scipy.linalg.cholesky(lower=True) computes it.
    upper, info = _potrf(covariance, lower=0, clean=1)
    if info != 0:
        raise IllConditionedCovarianceError(
            f"The covariance of {what} is not positive definite, so it cannot be factorised "
            f"(collapsed or duplicated samples make this happen). {_FACTORISATION_ADVICE}"
        )
    identity = np.eye(covariance.shape[0])
    inverse_lower, info = _trtrs(upper.T, identity, lower=1)
    if info != 0:
        raise IllConditionedCovarianceError(
            f"The Cholesky factor of the covariance of {what} is singular. {_FACTORISATION_ADVICE}"
        )
    return inverse_lower.T


def _factor_full(covariances: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            _cholesky_factor_of_inverse(cov, f"component {k}")
            for k, cov in enumerate(covariances)
        ]
    )


def _factor_tied(covariances: np.ndarray) -> np.ndarray:
    return _cholesky_factor_of_inverse(covariances, "the tied (shared) component")


def _factor_variances(covariances: np.ndarray) -> np.ndarray:
    """``1/sqrt(variance)`` for diag (K, D) and spherical (K,) covariances."""
    bad = np.flatnonzero(~(np.asarray(covariances) > 0.0).reshape(len(covariances), -1).all(axis=1))
    if bad.size:
        raise IllConditionedCovarianceError(
            f"Component {int(bad[0])} has a zero or negative variance "
            f"({bad.size} component(s) affected), so its precision is undefined. "
            f"{_FACTORISATION_ADVICE}"
        )
    return 1.0 / np.sqrt(covariances)


def _precisions_full(chol: np.ndarray) -> np.ndarray:
    return np.einsum("kij,klj->kil", chol, chol)


def _precisions_tied(chol: np.ndarray) -> np.ndarray:
    return chol @ chol.T


def _squares(chol: np.ndarray) -> np.ndarray:
    return chol**2


def _covariances_of_factors(stack: np.ndarray) -> np.ndarray:
    """``inv(U @ U.T) = inv(U).T @ inv(U)`` for a stack of upper factors (K, D, D)."""
    identity = np.eye(stack.shape[-1])
    inverses = np.stack(
        [linalg.solve_triangular(u, identity, lower=False, check_finite=False) for u in stack]
    )
    return np.einsum("kji,kjl->kil", inverses, inverses)


def _covariances_tied(chol: np.ndarray) -> np.ndarray:
    return _covariances_of_factors(chol[None])[0]


def _inverse_squares(chol: np.ndarray) -> np.ndarray:
    return 1.0 / chol**2


def _log_det_full(chol: np.ndarray, n_features: int) -> np.ndarray:
    return np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)


def _log_det_tied(chol: np.ndarray, n_features: int) -> np.ndarray:
    return np.log(np.diag(chol)).sum()


def _log_det_diag(chol: np.ndarray, n_features: int) -> np.ndarray:
    return np.log(chol).sum(axis=1)


def _log_det_spherical(chol: np.ndarray, n_features: int) -> np.ndarray:
    return n_features * np.log(chol)


def _as_full_full(covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    return np.array(covariances)


def _as_full_tied(covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()


def _as_full_diag(covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    return covariances[:, :, None] * np.eye(n_features)


def _as_full_spherical(covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    return covariances[:, None, None] * np.eye(n_features)


def _triangle(n_features: int) -> int:
    return n_features * (n_features + 1) // 2


# ----------------------------------------------------------------------------- table
@dataclass(frozen=True)
class CovarianceRules:
    """What depends on one covariance type. ``K`` components, ``D`` features.

    Attributes
    ----------
    name : str
    matrix : bool
        Whether a covariance is a (D, D) matrix (full, tied) rather than variances.
    shared : bool
        Whether one covariance serves every component (tied).
    shape : callable (K, D) -> tuple
        Shape of ``covariances``, ``precisions_cholesky`` and the statistics' ``s2``:
        (K, D, D), (D, D), (K, D) or (K,).
    component_shape : callable (D,) -> tuple
        Shape of one component's second moment about its own mean: (D, D), (D, D), (D,) or ().
    n_parameters : callable (K, D) -> int
        Free covariance parameters, for BIC/AIC.
    feature_count : callable (D,) -> int
        Rows F of the E-step's feature matrix: D + D(D+1)/2, D, 2D or D + 1.
    precisions_cholesky : callable covariances -> factors
        Precision Cholesky factors (scikit-learn's convention); raises
        :class:`IllConditionedCovarianceError` naming the component.
    precisions : callable factors -> precisions
    covariances : callable factors -> covariances
    log_det_cholesky : callable (factors, D) -> ndarray of shape (K,) or ()
        ``log det U`` per component: half the log-determinant of the precision.
    as_full : callable (covariances, K, D) -> ndarray of shape (K, D, D)
        Every component's covariance as a full matrix (a new array), e.g. for plots and diffs.
    """

    name: str
    matrix: bool
    shared: bool
    shape: Callable[[int, int], tuple[int, ...]]
    component_shape: Callable[[int], tuple[int, ...]]
    n_parameters: Callable[[int, int], int]
    feature_count: Callable[[int], int]
    precisions_cholesky: Callable[[np.ndarray], np.ndarray]
    precisions: Callable[[np.ndarray], np.ndarray]
    covariances: Callable[[np.ndarray], np.ndarray]
    log_det_cholesky: Callable[[np.ndarray, int], np.ndarray]
    as_full: Callable[[np.ndarray, int, int], np.ndarray]


COVARIANCE_RULES: dict[str, CovarianceRules] = {
    "full": CovarianceRules(
        name="full", matrix=True, shared=False,
        shape=lambda k, d: (k, d, d),
        component_shape=lambda d: (d, d),
        n_parameters=lambda k, d: k * _triangle(d),
        feature_count=lambda d: d + _triangle(d),
        precisions_cholesky=_factor_full,
        precisions=_precisions_full,
        covariances=_covariances_of_factors,
        log_det_cholesky=_log_det_full,
        as_full=_as_full_full,
    ),
    "tied": CovarianceRules(
        name="tied", matrix=True, shared=True,
        shape=lambda k, d: (d, d),
        component_shape=lambda d: (d, d),
        n_parameters=lambda k, d: _triangle(d),
        feature_count=lambda d: d,
        precisions_cholesky=_factor_tied,
        precisions=_precisions_tied,
        covariances=_covariances_tied,
        log_det_cholesky=_log_det_tied,
        as_full=_as_full_tied,
    ),
    "diag": CovarianceRules(
        name="diag", matrix=False, shared=False,
        shape=lambda k, d: (k, d),
        component_shape=lambda d: (d,),
        n_parameters=lambda k, d: k * d,
        feature_count=lambda d: 2 * d,
        precisions_cholesky=_factor_variances,
        precisions=_squares,
        covariances=_inverse_squares,
        log_det_cholesky=_log_det_diag,
        as_full=_as_full_diag,
    ),
    "spherical": CovarianceRules(
        name="spherical", matrix=False, shared=False,
        shape=lambda k, d: (k,),
        component_shape=lambda d: (),
        n_parameters=lambda k, d: k,
        feature_count=lambda d: d + 1,
        precisions_cholesky=_factor_variances,
        precisions=_squares,
        covariances=_inverse_squares,
        log_det_cholesky=_log_det_spherical,
        as_full=_as_full_spherical,
    ),
}
assert tuple(COVARIANCE_RULES) == COVARIANCE_TYPES


def covariance_rules(covariance_type: str) -> CovarianceRules:
    """The rules of ``covariance_type``; a ValueError naming the allowed values if unknown."""
    check_covariance_type(covariance_type)
    return COVARIANCE_RULES[covariance_type]


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of ``covariances_`` (and of the statistics' ``s2``) for K components in D features."""
    return COVARIANCE_RULES[covariance_type].shape(n_components, n_features)


def mixture_n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the mixture (weights, means, covariances), for BIC/AIC."""
    covariance_parameters = COVARIANCE_RULES[covariance_type].n_parameters(n_components, n_features)
    return int(covariance_parameters + n_components * n_features + n_components - 1)


# ------------------------------------------------------------------------ public API
def precisions_cholesky_from_covariances(
    covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Cholesky factors of the precision matrices, scikit-learn's convention.

    Parameters
    ----------
    covariances : ndarray
        Shape (K, D, D), (D, D), (K, D) or (K,) by ``covariance_type``.
    covariance_type : str

    Returns
    -------
    ndarray
        Same shape as ``covariances``; upper-triangular factors for full/tied,
        ``1/sqrt(variance)`` for diag/spherical.

    Raises
    ------
    IllConditionedCovarianceError
        If a covariance is not positive definite; names the component.
    """
    return covariance_rules(covariance_type).precisions_cholesky(covariances)


def _flip(matrix: np.ndarray) -> np.ndarray:
    return matrix[..., ::-1, ::-1]


def precisions_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper factors U with ``precision = U @ U.T`` from given precision matrices.

    The flip trick (factorise the matrix with rows and columns reversed) yields
    an upper-triangular U directly, matching scikit-learn's representation.
    """
    rules = covariance_rules(covariance_type)
    precisions = np.asarray(precisions, dtype=np.float64)
    if rules.matrix:
        stack = precisions[None] if rules.shared else precisions
        factors = []
        for k, precision in enumerate(stack):
            try:
                factors.append(_flip(linalg.cholesky(_flip(precision), lower=True)))
            except linalg.LinAlgError as exc:
                raise IllConditionedCovarianceError(
                    f"precisions_init[{k}] is not symmetric positive definite. "
                    "Give precision matrices (inverse covariances) that are."
                ) from exc
        result = np.stack(factors)
        return result[0] if rules.shared else result
    if np.any(precisions <= 0):
        raise IllConditionedCovarianceError(
            "precisions_init must be strictly positive for diag and spherical covariances."
        )
    return np.sqrt(precisions)


def precisions_from_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Precision matrices ``U @ U.T`` (full/tied) or ``U**2`` (diag/spherical)."""
    return COVARIANCE_RULES[covariance_type].precisions(precisions_cholesky)


def covariances_from_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Covariances ``inv(U @ U.T) = inv(U).T @ inv(U)`` from the precision factors."""
    return COVARIANCE_RULES[covariance_type].covariances(precisions_cholesky)


def log_det_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str, n_features: int
) -> np.ndarray:
    """Per-component ``log det(U)`` = half the log-determinant of the precision, shape (K,) or ()."""
    return COVARIANCE_RULES[covariance_type].log_det_cholesky(precisions_cholesky, n_features)
