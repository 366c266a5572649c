"""The parameters of a Gaussian mixture, as one immutable value.

Shapes follow scikit-learn's ``GaussianMixture`` so that a fitted model can be
exchanged with it without conversion:

================  ==============  =============  ============  ===========
covariance_type   full            tied           diag          spherical
================  ==============  =============  ============  ===========
covariances       (K, D, D)       (D, D)         (K, D)        (K,)
precisions_chol   (K, D, D)       (D, D)         (K, D)        (K,)
================  ==============  =============  ============  ===========

``precisions_cholesky`` is the upper-triangular factor ``U`` with
``precision = U @ U.T`` (scikit-learn's convention), and for ``diag`` and
``spherical`` it holds ``1 / sqrt(variance)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import (
    COVARIANCE_RULES,
    COVARIANCE_TYPES,
    CovarianceType,
    check_covariance_type,
    covariance_shape,
    covariances_from_precisions_cholesky,
    mixture_n_parameters,
    precisions_cholesky_from_covariances,
    precisions_from_precisions_cholesky,
)

__all__ = ["MixtureParameters", "COVARIANCE_TYPES", "CovarianceType"]


@dataclass(frozen=True, eq=False)
class MixtureParameters:
    """Weights, means and covariances of a Gaussian mixture.

    Parameters
    ----------
    weights : ndarray of shape (K,)
        Mixing proportions; non-negative and summing to one.
    means : ndarray of shape (K, D)
        Component means.
    covariances : ndarray
        Covariances; shape by ``covariance_type`` (see module docstring).
    precisions_cholesky : ndarray
        Cholesky factors of the precisions; same shape as ``covariances``.
    covariance_type : {"full", "tied", "diag", "spherical"}
        How the covariances are parameterised.

    Notes
    -----
    Build it with :meth:`from_covariances` or :meth:`from_precisions_cholesky`
    so that the two representations always agree. Arrays are float64 and
    read-only: a parameter set is a value that can be shared between threads,
    checkpoints and model versions without defensive copies.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: CovarianceType

    def __post_init__(self) -> None:
        check_covariance_type(self.covariance_type)
        for name in ("weights", "means", "covariances", "precisions_cholesky"):
            array = np.array(getattr(self, name), dtype=np.float64, copy=True)
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        n_components, n_features = self.means.shape
        expected = covariance_shape(self.covariance_type, n_components, n_features)
        if self.weights.shape != (n_components,):
            raise ValueError(
                f"weights has shape {self.weights.shape}; expected ({n_components},) "
                f"to match means of shape {self.means.shape}"
            )
        for name in ("covariances", "precisions_cholesky"):
            shape = getattr(self, name).shape
            if shape != expected:
                raise ValueError(
                    f"{name} has shape {shape}; a '{self.covariance_type}' mixture with "
                    f"{n_components} components and {n_features} features needs {expected}"
                )

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_covariances(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        covariance_type: CovarianceType,
    ) -> "MixtureParameters":
        """Build from covariances, factorising them (raises if not positive definite)."""
        precisions_cholesky = precisions_cholesky_from_covariances(
            np.asarray(covariances, dtype=np.float64), covariance_type
        )
        return cls(weights, means, covariances, precisions_cholesky, covariance_type)

    @classmethod
    def from_precisions_cholesky(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        precisions_cholesky: np.ndarray,
        covariance_type: CovarianceType,
    ) -> "MixtureParameters":
        """Build from precision Cholesky factors, deriving the covariances."""
        covariances = covariances_from_precisions_cholesky(
            np.asarray(precisions_cholesky, dtype=np.float64), covariance_type
        )
        return cls(weights, means, covariances, precisions_cholesky, covariance_type)

    # ---------------------------------------------------------------- properties
    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return int(self.means.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features D."""
        return int(self.means.shape[1])

    @property
    def precisions(self) -> np.ndarray:
        """Precision matrices (inverse covariances); same shape as ``covariances``."""
        return precisions_from_precisions_cholesky(self.precisions_cholesky, self.covariance_type)

    @property
    def full_covariances(self) -> np.ndarray:
        """Every component's covariance as a full matrix, shape (K, D, D), whatever the type (a copy)."""
        return COVARIANCE_RULES[self.covariance_type].as_full(
            self.covariances, self.n_components, self.n_features
        )

    @property
    def mixture_mean(self) -> np.ndarray:
        """Mean of the whole mixture, shape (D,): the reference point for shifted statistics."""
        return self.weights @ self.means

    @property
    def n_parameters(self) -> int:
        """Number of free parameters, as counted for BIC and AIC."""
        return mixture_n_parameters(self.covariance_type, self.n_components, self.n_features)

    def replace(self, **changes: np.ndarray) -> "MixtureParameters":
        """Return a copy with some fields changed (covariances and factors must agree)."""
        fields = {
            "weights": self.weights,
            "means": self.means,
            "covariances": self.covariances,
            "precisions_cholesky": self.precisions_cholesky,
            "covariance_type": self.covariance_type,
        }
        fields.update(changes)
        return MixtureParameters(**fields)

    def allclose(self, other: "MixtureParameters", rtol: float = 1e-7, atol: float = 0.0) -> bool:
        """Whether two parameter sets agree to a relative tolerance."""
        return self.covariance_type == other.covariance_type and all(
            np.allclose(getattr(self, n), getattr(other, n), rtol=rtol, atol=atol)
            for n in ("weights", "means", "covariances", "precisions_cholesky")
        )
