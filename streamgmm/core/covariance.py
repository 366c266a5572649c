"""Covariance parameterisations: shapes, factorisations and parameter counts.

Every operation that depends on the covariance type dispatches here, through
small functions with one signature each, so adding a type touches one module.
"""

from __future__ import annotations

from typing import Literal

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


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of ``covariances_`` for a mixture of K components in D features."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def mixture_n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the mixture (weights, means, covariances), for BIC/AIC."""
    triangle = n_features * (n_features + 1) // 2
    covariance_parameters = {
        "full": n_components * triangle,
        "tied": triangle,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]
    return int(covariance_parameters + n_components * n_features + n_components - 1)


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
    check_covariance_type(covariance_type)
    if covariance_type == "full":
        return np.stack(
            [
                _cholesky_factor_of_inverse(cov, f"component {k}")
                for k, cov in enumerate(covariances)
            ]
        )
    if covariance_type == "tied":
        return _cholesky_factor_of_inverse(covariances, "the tied (shared) component")
    bad = np.flatnonzero(~(np.asarray(covariances) > 0.0).reshape(len(covariances), -1).all(axis=1))
    if bad.size:
        raise IllConditionedCovarianceError(
            f"Component {int(bad[0])} has a zero or negative variance "
            f"({bad.size} component(s) affected), so its precision is undefined. "
            f"{_FACTORISATION_ADVICE}"
        )
    return 1.0 / np.sqrt(covariances)


def _flip(matrix: np.ndarray) -> np.ndarray:
    return matrix[..., ::-1, ::-1]


def precisions_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper factors U with ``precision = U @ U.T`` from given precision matrices.

    The flip trick (factorise the matrix with rows and columns reversed) yields
    an upper-triangular U directly, matching scikit-learn's representation.
    """
    check_covariance_type(covariance_type)
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        stack = precisions if covariance_type == "full" else precisions[None]
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
        return result if covariance_type == "full" else result[0]
    if np.any(precisions <= 0):
        raise IllConditionedCovarianceError(
            "precisions_init must be strictly positive for diag and spherical covariances."
        )
    return np.sqrt(precisions)


def precisions_from_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Precision matrices ``U @ U.T`` (full/tied) or ``U**2`` (diag/spherical)."""
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", precisions_cholesky, precisions_cholesky)
    if covariance_type == "tied":
        return precisions_cholesky @ precisions_cholesky.T
    return precisions_cholesky**2


def covariances_from_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Covariances ``inv(U @ U.T) = inv(U).T @ inv(U)`` from the precision factors."""
    if covariance_type in ("full", "tied"):
        stack = precisions_cholesky if covariance_type == "full" else precisions_cholesky[None]
        identity = np.eye(stack.shape[-1])
        inverses = np.stack(
            [linalg.solve_triangular(u, identity, lower=False, check_finite=False) for u in stack]
        )
        covariances = np.einsum("kji,kjl->kil", inverses, inverses)
        return covariances if covariance_type == "full" else covariances[0]
    return 1.0 / precisions_cholesky**2


def log_det_precisions_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str, n_features: int
) -> np.ndarray:
    """Per-component ``log det(U)`` = half the log-determinant of the precision, shape (K,) or ()."""
    if covariance_type == "full":
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(precisions_cholesky)).sum()
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)
