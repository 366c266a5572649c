"""Helpers shared by the registry tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

import numpy as np

from streamgmm.core.params import MixtureParameters

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def make_parameters(
    covariance_type: str, n_components: int = 3, n_features: int = 2, seed: int = 0
) -> MixtureParameters:
    """Random but valid mixture parameters with well-separated means."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_components))
    means = rng.normal(scale=5.0, size=(n_components, n_features))
    if covariance_type == "full":
        factors = rng.normal(size=(n_components, n_features, n_features))
        covariances = factors @ factors.transpose(0, 2, 1) + np.eye(n_features)
    elif covariance_type == "tied":
        factor = rng.normal(size=(n_features, n_features))
        covariances = factor @ factor.T + np.eye(n_features)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(n_components, n_features))
    else:
        covariances = rng.uniform(0.5, 2.0, size=n_components)
    return MixtureParameters.from_covariances(weights, means, covariances, covariance_type)
