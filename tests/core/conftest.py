"""Shared data and helpers for the numeric-core and estimator tests.

Everything here is real data and real computation: iris, seeded synthetic
mixtures, and initial parameters built from the data so that streamgmm and
scikit-learn can be started from exactly the same point.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris


def _make_blobs(
    n_samples: int,
    n_features: int,
    n_components: int,
    separation: float,
    seed: int,
    offset: float | np.ndarray = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded Gaussian clusters with anisotropic, well-conditioned covariances.

    ``separation`` is the scale of the cluster centres in units of the
    within-cluster spread (about 1): 10 gives well separated clusters, 1
    heavily overlapping ones. Returns ``(X, labels)``.
    """
    rng = np.random.RandomState(seed)
    centres = rng.normal(size=(n_components, n_features)) * separation
    labels = rng.randint(n_components, size=n_samples)
    # Per-cluster linear maps: a random rotation times scales in [0.6, 1.6], so
    # covariances are full (correlated) with condition number at most ~7.
    maps = np.stack(
        [
            np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
            * rng.uniform(0.6, 1.6, size=n_features)
            for _ in range(n_components)
        ]
    )
    noise = rng.normal(size=(n_samples, n_features))
    X = np.einsum("nd,nde->ne", noise, maps[labels]) + centres[labels]
    return X + offset, labels


def _precisions_from_covariance(cov: np.ndarray, covariance_type: str, n_components: int) -> np.ndarray:
    """``precisions_init`` of the right shape from one (D, D) covariance."""
    if covariance_type == "full":
        return np.stack([np.linalg.inv(cov)] * n_components)
    if covariance_type == "tied":
        return np.linalg.inv(cov)
    if covariance_type == "diag":
        return np.tile(1.0 / np.diag(cov), (n_components, 1))
    return np.full(n_components, 1.0 / np.mean(np.diag(cov)))


def _initial_parameters(X: np.ndarray, n_components: int, covariance_type: str, seed: int = 0) -> dict:
    """``weights_init``, ``means_init`` and ``precisions_init`` built from the data.

    Means are K distinct rows nudged off the data; weights are unequal; the
    precision is that of the data covariance shrunk by K. The same dict is given
    to streamgmm and to scikit-learn so both start from the same parameters.
    """
    rng = np.random.RandomState(seed)
    n_samples, n_features = X.shape
    rows = rng.choice(n_samples, size=n_components, replace=False)
    means = X[rows] + 0.01 * X.std(axis=0)
    weights = rng.uniform(0.5, 1.5, size=n_components)
    weights /= weights.sum()
    cov = np.atleast_2d(np.cov(X, rowvar=False)) / n_components
    return {
        "weights_init": weights,
        "means_init": means,
        "precisions_init": _precisions_from_covariance(cov, covariance_type, n_components),
    }


@pytest.fixture(scope="session")
def iris_X() -> np.ndarray:
    """The 150 x 4 iris measurements (float64)."""
    X = load_iris().data.astype(np.float64)
    X.setflags(write=False)
    return X


@pytest.fixture(scope="session")
def make_blobs():
    """Factory: ``make_blobs(n_samples, n_features, n_components, separation, seed, offset=0)``."""
    return _make_blobs


@pytest.fixture(scope="session")
def init_for():
    """Factory: ``init_for(X, n_components, covariance_type, seed=0)`` -> init keyword dict."""
    return _initial_parameters


@pytest.fixture(scope="session")
def precisions_from_covariance():
    """Factory: ``precisions_from_covariance(cov, covariance_type, n_components)``."""
    return _precisions_from_covariance
