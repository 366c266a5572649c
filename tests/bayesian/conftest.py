"""Fixtures of the Bayesian mixture tests: iris and seeded responsibilities for it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris


@pytest.fixture(scope="session")
def iris() -> np.ndarray:
    return load_iris().data.astype(np.float64)


@pytest.fixture(scope="session")
def iris_resp(iris) -> np.ndarray:
    """Seeded soft responsibilities for 5 components (150, 5)."""
    return np.random.default_rng(3).dirichlet(np.ones(5), size=len(iris))
