"""Rows collected before stepwise EM can start from scratch.

A stream that starts without a model needs enough rows to initialise K
components (k-means and a few batch EM iterations); a single small batch is not
enough for, say, 16 full covariances in 13 dimensions. The buffer holds the
first batches until ``warm_up_size`` rows have arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WarmUpBuffer", "default_warm_up_size"]


def default_warm_up_size(n_components: int, n_features: int) -> int:
    """Rows collected before the first model: ``10 K D`` (at least ``K + 1``).

    Ten rows per component and dimension is enough for k-means and a
    regularised covariance estimate to be meaningful without delaying the
    stream for long (2,080 rows for K=16, D=13).
    """
    return max(10 * n_components * n_features, n_components + 1)


@dataclass
class WarmUpBuffer:
    """Batches (and their weights) held until there are enough rows.

    Attributes
    ----------
    rows : list of ndarray of shape (n_i, D)
    weights : list of ndarray of shape (n_i,) or None
        None entries stand for unit weights.
    """

    rows: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray | None] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Rows held so far."""
        return sum(len(block) for block in self.rows)

    def add(self, X: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """Keep a copy of one batch (the caller's arrays may be reused)."""
        self.rows.append(np.array(X, copy=True))
        self.weights.append(None if sample_weight is None else np.array(sample_weight, copy=True))

    def concatenated(self) -> tuple[np.ndarray, np.ndarray | None]:
        """All rows as one array (n, D), and their weights (n,) or None if all are unit."""
        X = np.concatenate(self.rows, axis=0)
        if all(w is None for w in self.weights):
            return X, None
        weights = np.concatenate(
            [np.ones(len(block)) if w is None else w for block, w in zip(self.rows, self.weights)]
        )
        return X, weights
