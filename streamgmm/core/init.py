"""Initial parameters from a bounded sample of rows.

Every method works on a sample whose size does not depend on N, so the same
code initialises in-memory, out-of-core and online fits. The methods mirror
scikit-learn's ``init_params``:

``kmeans``            k-means++ seeding, then Lloyd iterations; one-hot responsibilities.
``k-means++``         k-means++ seeds only; each seed is its component's only member.
``random``            uniform random responsibilities, normalised per row.
``random_from_data``  K distinct random rows, one per component.

The responsibilities go through the ordinary statistics and M-step, so an
initial covariance is estimated exactly like every later one.
"""

from __future__ import annotations

import numpy as np

from .finite import check_magnitude
from .mstep import maximise
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = [
    "INIT_METHODS",
    "kmeans_plusplus",
    "kmeans",
    "initial_responsibilities",
    "statistics_from_responsibilities",
    "initial_statistics",
    "checked_statistics_from_responsibilities",
    "initial_parameters",
]

INIT_METHODS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data")


def _squared_distances(X: np.ndarray, centers: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (n, k), clipped at zero against rounding."""
    d = x_sq[:, None] - 2.0 * (X @ centers.T) + np.einsum("kd,kd->k", centers, centers)[None, :]
    return np.maximum(d, 0.0, out=d)


def kmeans_plusplus(
    X: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007).

    Each new seed is the best of ``2 + log(k)`` candidates drawn with
    probability proportional to the weighted squared distance to the nearest
    seed, which makes the seeding far less sensitive to bad draws.

    Parameters
    ----------
    X : ndarray of shape (n, D)
        Rows to seed from (float64; best centred).
    n_clusters : int
    random_state : numpy.random.RandomState
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
        Row indices of the seeds.
    """
    n_rows = X.shape[0]
    weights = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_trials = 2 + int(np.log(n_clusters))
    x_sq = np.einsum("nd,nd->n", X, X)
    first = int(random_state.choice(n_rows, p=weights / weights.sum()))
    indices = [first]
    closest = _squared_distances(X, X[[first]], x_sq)[:, 0]
    potential = float(weights @ closest)
    for _ in range(1, n_clusters):
        if potential <= 0.0:  # every row coincides with a seed: pick any unused row
            unused = np.setdiff1d(np.arange(n_rows), indices)
            indices.append(int(random_state.choice(unused)))
            continue
        draws = random_state.uniform(size=n_trials) * potential
        candidates = np.searchsorted(np.cumsum(weights * closest), draws)
        candidates = np.minimum(candidates, n_rows - 1)
        distances = np.minimum(closest[None, :], _squared_distances(X, X[candidates], x_sq).T)
        potentials = distances @ weights
        best = int(np.argmin(potentials))
        indices.append(int(candidates[best]))
        closest = distances[best]
        potential = float(potentials[best])
    return np.asarray(indices)


def kmeans(
    X: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> np.ndarray:
    """Lloyd's k-means from k-means++ seeds; returns labels of shape (n,).

    Converges when the centres move less than ``tol`` times the mean feature
    variance (scikit-learn's criterion). An emptied cluster is re-seeded at
    the row farthest from its centre.
    """
    n_rows = X.shape[0]
    weights = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    centre_tol = tol * float(np.mean(np.var(X, axis=0)))
    x_sq = np.einsum("nd,nd->n", X, X)
    centers = X[kmeans_plusplus(X, n_clusters, random_state, weights)].copy()
    labels = np.zeros(n_rows, dtype=np.intp)
    for _ in range(max_iter):
        distances = _squared_distances(X, centers, x_sq)
        labels = np.argmin(distances, axis=1)
        mass = np.bincount(labels, weights=weights, minlength=n_clusters)
        sums = np.stack(
            [np.bincount(labels, weights=X[:, d] * weights, minlength=n_clusters) for d in range(X.shape[1])],
            axis=1,
        )
        new_centers = centers.copy()
        filled = mass > 0
        new_centers[filled] = sums[filled] / mass[filled, None]
        if not filled.all():
            farthest = np.argsort(distances[np.arange(n_rows), labels])[::-1]
            for k, row in zip(np.flatnonzero(~filled), farthest):
                new_centers[k] = X[row]
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= centre_tol:
            break
    return np.argmin(_squared_distances(X, centers, x_sq), axis=1)


def initial_responsibilities(
    X: np.ndarray,
    n_components: int,
    method: str,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Responsibilities of shape (n, K) for the sample ``X`` by ``method``."""
    n_rows = X.shape[0]
    resp = np.zeros((n_rows, n_components))
    if method == "kmeans":
        resp[np.arange(n_rows), kmeans(X, n_components, random_state, sample_weight)] = 1.0
    elif method == "k-means++":
        indices = kmeans_plusplus(X, n_components, random_state, sample_weight)
        resp[indices, np.arange(n_components)] = 1.0
    elif method == "random":
        resp = random_state.uniform(size=(n_rows, n_components))
        resp /= resp.sum(axis=1)[:, None]
    elif method == "random_from_data":
        # Only rows that carry weight can seed a component.
        candidates = np.arange(n_rows) if sample_weight is None else np.flatnonzero(sample_weight > 0)
        if len(candidates) < n_components:
            raise ValueError(
                f"init_params='random_from_data' needs {n_components} rows with positive "
                f"weight; only {len(candidates)} have"
            )
        indices = random_state.choice(candidates, size=n_components, replace=False)
        resp[indices, np.arange(n_components)] = 1.0
    else:
        raise ValueError(f"init_params={method!r} is not one of {INIT_METHODS}")
    return resp


def _second_moments_full(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    # One (D, D) product per component: no (n, K, D) temporary.
    return np.stack([(y * r[:, k, None]).T @ y for k in range(r.shape[1])])


def _second_moments_tied(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (y * r.sum(axis=1)[:, None]).T @ y


def _second_moments_diag(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return r.T @ (y * y)


def _second_moments_spherical(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return r.T @ np.einsum("nd,nd->n", y, y)


#: ``s2`` of shifted rows ``y`` (n, D) under weighted responsibilities ``r`` (n, K),
#: by covariance type: ``(y, r) -> s2``.
_SECOND_MOMENTS = {
    "full": _second_moments_full,
    "tied": _second_moments_tied,
    "diag": _second_moments_diag,
    "spherical": _second_moments_spherical,
}


def statistics_from_responsibilities(
    X: np.ndarray,
    resp: np.ndarray,
    covariance_type: str,
    shift: np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """Sufficient statistics for explicit responsibilities (no E-step).

    Parameters
    ----------
    X : ndarray of shape (n, D)
    resp : ndarray of shape (n, K)
    covariance_type : str
    shift : ndarray of shape (D,)
    sample_weight : ndarray of shape (n,), optional
    """
    y = np.asarray(X, dtype=np.float64) - shift
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    r = resp * weights[:, None]
    s2 = _SECOND_MOMENTS[covariance_type](y, r)
    return SufficientStatistics(
        covariance_type=covariance_type,
        shift=shift,
        n=r.sum(axis=0),
        s1=r.T @ y,
        s2=s2,
        log_likelihood=0.0,
        weight_sum=float(weights.sum()),
        n_samples=len(y),
    )


def initial_statistics(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    method: str,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
    *,
    dtype: np.dtype | type | str | None = None,
) -> SufficientStatistics:
    """Statistics of the initial responsibilities of the sample ``X`` (n, D).

    The sample is centred on its weighted mean before k-means so distances do
    not cancel for data far from the origin; the statistics are about that mean.
    Every mixture family starts from them (maximum likelihood through
    :func:`initial_parameters`).

    Parameters
    ----------
    X : ndarray of shape (n, D)
        Finite rows (a bounded sample of the data).
    n_components, covariance_type, method
        As in ``GaussianMixture`` (``method`` is ``init_params``).
    random_state : numpy.random.RandomState
    sample_weight : ndarray of shape (n,), optional
    dtype : {float32, float64} or None
        Compute dtype of the fit's E-steps; None checks for float64 only.

    Raises
    ------
    ValuesTooLargeError
        If the sample's values (or their distances from its mean) are too large to
        square in float64 (or in ``dtype``): before any of them is squared, since
        the fit could only end in NaN (see :mod:`streamgmm.core.finite`).
    """
    centred, centre = _checked_centre(X, sample_weight, dtype)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    resp = initial_responsibilities(centred, n_components, method, random_state, weights)
    return statistics_from_responsibilities(X, resp, covariance_type, centre, weights)


def _checked_centre(X: np.ndarray, sample_weight: np.ndarray | None,
                    dtype: np.dtype | type | str | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows less their weighted mean (float64) and that mean, refused when too large."""
    compute_dtype = np.dtype(np.float64 if dtype is None else dtype)
    check_magnitude(X, compute_dtype, what="the data")
    X = np.asarray(X, dtype=np.float64)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    centre = np.average(X, axis=0, weights=weights)
    check_magnitude(X, compute_dtype, reference=centre, what="the data")
    return X - centre, centre


def checked_statistics_from_responsibilities(
    X: np.ndarray,
    resp: np.ndarray,
    covariance_type: str,
    sample_weight: np.ndarray | None = None,
    *,
    dtype: np.dtype | type | str | None = None,
) -> SufficientStatistics:
    """Statistics of given responsibilities (n, K) over the rows ``X`` (n, D).

    About the rows' weighted mean, after the magnitude checks of
    :func:`initial_statistics` for ``dtype``.
    """
    _, centre = _checked_centre(X, sample_weight, dtype)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return statistics_from_responsibilities(X, resp, covariance_type, centre, weights)


def initial_parameters(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    method: str,
    reg_covar: float,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
    *,
    dtype: np.dtype | type | str | None = None,
) -> MixtureParameters:
    """Initial mixture parameters estimated from the sample ``X`` (n, D).

    The M-step of :func:`initial_statistics` (same parameters, plus ``reg_covar``).
    """
    stats = initial_statistics(
        X, n_components, covariance_type, method, random_state, sample_weight, dtype=dtype
    )
    return maximise(stats, reg_covar, step="the initialisation").params
