"""A variational mixture as plain float64 arrays, for files that must not pickle.

The stream runner's committed state (:mod:`streamgmm.online.state`) and a
registry version's parameter file (:mod:`streamgmm.registry.parameter_file`)
both store a :class:`~streamgmm.core.variational.VariationalPosterior` with its
:class:`~streamgmm.core.variational.VariationalPriors`. The point estimate
(``weights``, ``means``, ``covariances``, ``precisions_cholesky``) is stored as
for any mixture; these are the arrays beyond it, and the one non-numeric value,
the weight prior's type, travels in the file's JSON header or metadata.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .variational import VariationalPosterior, VariationalPriors

__all__ = ["POSTERIOR_ARRAYS", "PRIOR_ARRAYS", "variational_arrays", "variational_from_arrays"]

#: Posterior arrays beyond the point estimate.
POSTERIOR_ARRAYS: tuple[str, ...] = ("weight_concentration", "mean_precision", "degrees_of_freedom")
#: The priors, scalars as 0-d arrays.
PRIOR_ARRAYS: tuple[str, ...] = (
    "weight_concentration_prior",
    "mean_precision_prior",
    "mean_prior",
    "degrees_of_freedom_prior",
    "covariance_prior",
)


def variational_arrays(posterior: VariationalPosterior, priors: VariationalPriors) -> dict[str, np.ndarray]:
    """The posterior's arrays beyond the point estimate, and the priors (float64).

    ``weight_concentration`` is (2, K) for a Dirichlet process (the Beta
    parameters of the sticks), (1, K) for a Dirichlet distribution.
    """
    full = posterior.arrays()
    arrays = {name: np.asarray(full[name], dtype=np.float64) for name in POSTERIOR_ARRAYS}
    arrays.update(
        weight_concentration_prior=np.asarray(priors.weight_concentration_prior, dtype=np.float64),
        mean_precision_prior=np.asarray(priors.mean_precision_prior, dtype=np.float64),
        mean_prior=np.asarray(priors.mean_prior, dtype=np.float64),
        degrees_of_freedom_prior=np.asarray(priors.degrees_of_freedom_prior, dtype=np.float64),
        covariance_prior=np.asarray(priors.covariance_prior, dtype=np.float64),
    )
    return arrays


def variational_from_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    means: np.ndarray,
    covariances: np.ndarray,
    precisions_cholesky: np.ndarray,
    covariance_type: str,
    weight_concentration_prior_type: str,
    prefix: str = "",
) -> tuple[VariationalPosterior, VariationalPriors]:
    """The inverse of :func:`variational_arrays`, given the point estimate's arrays.

    Parameters
    ----------
    arrays : mapping
        Holds ``prefix + name`` for every name of :data:`POSTERIOR_ARRAYS` and
        :data:`PRIOR_ARRAYS`.
    means, covariances, precisions_cholesky : ndarray
        The posterior's (shared with the point estimate).
    covariance_type, weight_concentration_prior_type : str

    Raises
    ------
    KeyError
        A missing array (the caller names its file).
    """
    posterior = VariationalPosterior.from_arrays(
        {
            "weight_concentration": arrays[f"{prefix}weight_concentration"],
            "mean_precision": arrays[f"{prefix}mean_precision"],
            "degrees_of_freedom": arrays[f"{prefix}degrees_of_freedom"],
            "means": means,
            "covariances": covariances,
            "precisions_cholesky": precisions_cholesky,
        },
        covariance_type,
        weight_concentration_prior_type,
    )
    priors = VariationalPriors(
        weight_concentration_prior_type=weight_concentration_prior_type,  # type: ignore[arg-type]
        weight_concentration_prior=float(arrays[f"{prefix}weight_concentration_prior"]),
        mean_precision_prior=float(arrays[f"{prefix}mean_precision_prior"]),
        mean_prior=np.array(arrays[f"{prefix}mean_prior"], dtype=np.float64),
        degrees_of_freedom_prior=float(arrays[f"{prefix}degrees_of_freedom_prior"]),
        covariance_prior=np.array(arrays[f"{prefix}covariance_prior"], dtype=np.float64),
        covariance_type=covariance_type,
    )
    return posterior, priors
