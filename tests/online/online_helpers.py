"""Seeded data for the online tests: a fixed 3-component mixture in 4 features."""

from __future__ import annotations

import numpy as np

CENTRES = np.random.default_rng(2024).normal(scale=5.0, size=(3, 4))


def mixture_rows(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Rows (n, 4) of the mixture, optionally shifted by ``shift`` (a drift)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    return CENTRES[labels] + shift + rng.normal(size=(n, 4)) * np.array([1.0, 0.8, 1.2, 0.9])
