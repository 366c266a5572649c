"""The generating mixture and the rows of one chunk: pure numpy, no files.

The mixture parameters come from ``SeedSequence(seed, spawn_key=PARAMS_SPAWN_KEY)`` and chunk
``i`` from ``numpy.random.default_rng([seed, i])`` (see :mod:`streamgmm.io.datagen`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.covariance import COVARIANCE_RULES

__all__ = ["MAX_VARIANCE", "MIN_VARIANCE", "Mixture", "PARAMS_SPAWN_KEY", "generate_chunk", "make_mixture"]

PARAMS_SPAWN_KEY = (0,)
MIN_VARIANCE, MAX_VARIANCE = 0.25, 1.0


@dataclass(frozen=True, eq=False)
class Mixture:
    """The generating mixture, as one affine map per component.

    A row of component ``k`` is ``means[k] + maps[k] @ e`` with ``e`` standard normal, where
    ``maps[k]`` is a (D, D) matrix for full, one shared (D, D) matrix for tied, and a (D,) vector
    of standard deviations (elementwise product) for diag and spherical. ``scales`` and ``offset``
    are already folded in, so the true parameters follow from these arrays exactly.
    """

    covariance_type: str
    weights: np.ndarray  # (K,)
    cumulative_weights: np.ndarray  # (K,), last entry exactly 1
    means: np.ndarray  # (K, D)
    maps: np.ndarray  # (K, D, D) full, (D, D) tied, (K, D) diag and spherical

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.means.shape[1])

    def component_map(self, k: int) -> np.ndarray:
        """The map of component ``k``: (D, D) or (D,)."""
        return self.maps if COVARIANCE_RULES[self.covariance_type].shared else self.maps[k]

    def covariances(self) -> np.ndarray:
        """True covariances in scikit-learn's shapes (see ``streamgmm.core.params``)."""
        if self.covariance_type == "full":
            return np.einsum("kij,klj->kil", self.maps, self.maps)
        if self.covariance_type == "tied":
            return self.maps @ self.maps.T
        if self.covariance_type == "diag":
            return self.maps**2
        return self.maps[:, 0] ** 2  # spherical: every entry of a row is the same


# ----------------------------------------------------------------------- the mixture
def _spread_points(rng: np.random.Generator, n_points: int, n_features: int) -> np.ndarray:
    """``n_points`` well spread points of the cube [-1, 1]^D by farthest-point selection, (K, D)."""
    n_candidates = int(min(max(50 * n_points, 1000), 20_000))
    candidates = rng.uniform(-1.0, 1.0, size=(n_candidates, n_features))
    chosen = [0]
    squared = np.sum((candidates - candidates[0]) ** 2, axis=1)
    for _ in range(1, n_points):
        index = int(np.argmax(squared))
        chosen.append(index)
        np.minimum(squared, np.sum((candidates - candidates[index]) ** 2, axis=1), out=squared)
    return candidates[chosen]


def _min_pairwise_distance(points: np.ndarray) -> float:
    """Smallest Euclidean distance between two distinct rows of ``points`` (K, D), K >= 2."""
    squared = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    squared[np.diag_indices_from(squared)] = np.inf
    return float(np.sqrt(squared.min()))


def _random_factor(rng: np.random.Generator, n_features: int) -> np.ndarray:
    """A random (D, D) factor ``A = Q diag(sqrt(lambda))``: covariance ``A A^T``."""
    q, r = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    variances = rng.uniform(MIN_VARIANCE, MAX_VARIANCE, size=n_features)
    return q * np.sqrt(variances)


def make_mixture(
    seed: int,
    n_components: int,
    n_features: int,
    covariance_type: str,
    separation: float,
    offset: np.ndarray,
    scales: np.ndarray | None,
) -> Mixture:
    """Draw the generating mixture from the parameter stream of ``seed``.

    ``offset`` and ``scales`` have shape (D,); the result generates ``offset + scales * z`` for
    ``z`` drawn from the unscaled mixture.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=PARAMS_SPAWN_KEY))
    K, D = n_components, n_features
    weights = rng.uniform(1.0, 2.0, size=K)
    weights /= weights.sum()
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0

    maps: np.ndarray
    if covariance_type == "full":
        maps = np.stack([_random_factor(rng, D) for _ in range(K)])
        max_variance = max(float(np.linalg.eigvalsh(a @ a.T).max()) for a in maps)
    elif covariance_type == "tied":
        maps = _random_factor(rng, D)
        max_variance = float(np.linalg.eigvalsh(maps @ maps.T).max())
    elif covariance_type == "diag":
        maps = np.sqrt(rng.uniform(MIN_VARIANCE, MAX_VARIANCE, size=(K, D)))
        max_variance = float(np.max(maps) ** 2)
    else:  # spherical
        maps = np.repeat(np.sqrt(rng.uniform(MIN_VARIANCE, MAX_VARIANCE, size=(K, 1))), D, axis=1)
        max_variance = float(np.max(maps) ** 2)

    if K == 1:
        means = np.zeros((1, D))
    else:
        points = _spread_points(rng, K, D)
        means = points * (separation * math.sqrt(max_variance) / _min_pairwise_distance(points))

    if scales is not None:
        means = means * scales
        # diag(s) @ A for matrices; s * std for vectors: both scale the rows' feature axis.
        maps = maps * scales[:, None] if COVARIANCE_RULES[covariance_type].matrix else maps * scales
    return Mixture(covariance_type, weights, cumulative, means + offset, maps)


# ------------------------------------------------------------------------- one chunk
def generate_chunk(
    mixture: Mixture,
    *,
    seed: int,
    index: int,
    n_rows: int,
    start: int,
    dtype: np.dtype,
    nan_fraction: float,
    nan_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``start:start + n_rows`` of the dataset: chunk ``index``.

    The random stream of the chunk is used in a fixed order: one uniform per row (its label),
    then for each component ``k`` in turn a (count_k, D) block of standard normals, then (only
    when NaN are asked for) the NaN draws.

    Returns
    -------
    X : ndarray of shape (n_rows, D), dtype ``dtype``
    labels : ndarray of shape (n_rows,), int32
    bad_rows : ndarray of shape (n_bad,), int64
        Global indices of the rows given a NaN, sorted.
    """
    rng = np.random.default_rng([seed, index])
    K, D = mixture.n_components, mixture.n_features
    labels = np.searchsorted(mixture.cumulative_weights, rng.random(n_rows), side="right")
    labels = np.minimum(labels, K - 1).astype(np.int16 if K <= 2**15 else np.int32)
    # Rows grouped by component: each group is one small GEMM (or product) written with one
    # scatter that also casts to ``dtype``; no (n, D, D) or per-row parameter temporaries.
    order = np.argsort(labels, kind="stable")  # radix sort for int16
    bounds = np.concatenate(([0], np.cumsum(np.bincount(labels, minlength=K))))
    X = np.empty((n_rows, D), dtype=dtype)
    matrix_maps = COVARIANCE_RULES[mixture.covariance_type].matrix
    for k in range(K):
        count = int(bounds[k + 1] - bounds[k])
        if count == 0:
            continue
        block = rng.standard_normal((count, D))
        linear = mixture.component_map(k)
        block = block @ linear.T if matrix_maps else block * linear
        block += mixture.means[k]
        X[order[bounds[k] : bounds[k + 1]]] = block

    # NaN draws come after the data, so the clean values equal those of a NaN-free dataset.
    bad = np.empty(0, dtype=np.int64)
    if nan_fraction > 0.0:
        bad = np.flatnonzero(rng.random(n_rows) < nan_fraction).astype(np.int64)
    if nan_rows.size:
        lo, hi = np.searchsorted(nan_rows, [start, start + n_rows])
        bad = np.union1d(bad, nan_rows[lo:hi] - start)
    if bad.size:
        X[bad, rng.integers(0, D, size=bad.size)] = np.nan
    return X, labels.astype(np.int32), bad + start
