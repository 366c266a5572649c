"""A scikit-learn reference started from given responsibilities, and seeded data.

scikit-learn initialises ``BayesianGaussianMixture`` with responsibilities from
k-means and then ``_initialize(X, resp)`` (an update). :class:`FromResponsibilities`
overrides only the first half, so scikit-learn starts from the responsibilities a
test gives, as ``streamgmm.BayesianGaussianMixture(responsibilities_init=...)`` does.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import BayesianGaussianMixture as SklearnBGM

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


class FromResponsibilities(SklearnBGM):
    """scikit-learn's estimator, initialised from ``resp`` instead of k-means."""

    def __init__(self, *, resp=None, **params):
        super().__init__(**params)
        self.resp = resp

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.resp)


def separated_blobs(n_per: int, centres: np.ndarray, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, scale, size=(n_per, centres.shape[1])) for c in centres])
