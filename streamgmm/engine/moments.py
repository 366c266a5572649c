"""The data's mean and covariance in one pass, for priors that default to them.

``BayesianGaussianMixture``'s ``mean_prior`` and ``covariance_prior`` default to
the data's mean and covariance (ddof=1), as in scikit-learn. Out of core they
are not known before a pass, so :func:`data_moments` makes one: the fused
E-step of a one-component mixture, whose responsibilities are all one, yields
exactly the weighted first and second moments. They are accumulated about a
reference point (the mean of a small seeded sample, one more light pass out of
core) so data far from the origin lose no precision, and always in float64.
"""

from __future__ import annotations

import numpy as np

from ..core.covariance import covariance_shape, precisions_cholesky_from_covariances
from ..core.estep import natural_form
from ..core.params import MixtureParameters
from ..core.variational import moments_from_statistics
from .driver import Driver

__all__ = ["REFERENCE_SAMPLE_SIZE", "data_moments"]

#: Rows of the sample whose mean is the reference point of the moments: its
#: distance from the true mean is ~sigma / 30, which costs nothing in precision.
REFERENCE_SAMPLE_SIZE = 1000


def data_moments(driver: Driver, covariance_type: str) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean (D,) and covariance of the driver's valid rows (two passes).

    Parameters
    ----------
    driver : Driver
    covariance_type : str
        What the covariance is needed for: (D, D) for 'full' and 'tied', the (D,)
        variances for 'diag', their mean (0-d) for 'spherical'.

    Returns
    -------
    mean : ndarray of shape (D,)
    covariance : ndarray
    """
    sample, weights, _ = driver.init_sample(REFERENCE_SAMPLE_SIZE, seed=0)
    reference = np.average(np.asarray(sample, dtype=np.float64), axis=0, weights=weights)
    ctype = "full" if covariance_type == "tied" else covariance_type
    n_features = driver.n_features
    unit = np.ones(covariance_shape(ctype, 1, n_features))
    if ctype == "full":
        unit = np.eye(n_features)[None]
    one_component = MixtureParameters(
        np.ones(1), reference[None], unit, precisions_cholesky_from_covariances(unit, ctype), ctype
    )
    stats = driver.statistics(natural_form(one_component, np.float64, reference))
    return moments_from_statistics(stats)
