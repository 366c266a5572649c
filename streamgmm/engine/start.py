"""Where each initialisation starts: seeds, the bounded sample, user-given parameters.

The seed protocol, in one place for a lone fit and for many mixtures sharing
passes: ``random_state`` draws one seed per initialisation; the seed of
initialisation ``i`` seeds a generator whose first draw picks the seed of the
initialisation sample (at most ``init_sample_size`` rows, chosen the same way
by every driver) and whose later draws run the initialisation method (k-means,
...) of the mixture. The sample depends on that seed only, so mixtures fitted
together draw it once and share it, and each ends bitwise where it would have
ended fitted alone.

``init_sample_size=None`` is scikit-learn's protocol instead: one generator,
``check_random_state(random_state)``, runs every initialisation in turn on every
row with scikit-learn's own k-means (``sklearn.cluster.KMeans``,
``kmeans_plusplus``), so a fit starts exactly where scikit-learn's does (for
both mixture families: scikit-learn's variational mixture starts the same way).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.utils import check_random_state

from ..core.covariance import covariance_shape, precisions_cholesky_from_precisions
from ..core.em import EMState
from ..core.errors import InvalidInputError, InvalidParameterError
from ..core.family import MAXIMUM_LIKELIHOOD, MixtureFamily
from ..core.finite import check_magnitude
from ..core.init import (
    checked_statistics_from_responsibilities,
    initial_responsibilities,
    initial_statistics,
    statistics_from_responsibilities,
)
from ..core.statistics import SufficientStatistics
from ..core.params import MixtureParameters
from .driver import Driver

__all__ = ["MixtureSpec", "SEED_BOUND", "initial_states", "init_seeds"]

#: Seeds are drawn below this bound (scikit-learn's convention).
SEED_BOUND = int(np.iinfo(np.int32).max)


@dataclass(frozen=True, kw_only=True, eq=False)
class MixtureSpec:
    """One mixture to fit: its shape and how it starts.

    Attributes
    ----------
    n_components : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    init_params : str
        Initialisation method on the sample ("kmeans", "k-means++", "random",
        "random_from_data").
    weights_init : array-like of shape (K,), optional
    means_init : array-like of shape (K, D), optional
    precisions_init : array-like, optional
        Shape (K, D, D), (D, D), (K, D) or (K,) by ``covariance_type``. With all
        three given, no sample is drawn.
    """

    n_components: int
    covariance_type: str
    init_params: str = "kmeans"
    weights_init: Any = None
    means_init: Any = None
    precisions_init: Any = None

    @property
    def label(self) -> str:
        """``"K=4 full"``: how warnings and progress name the mixture."""
        return f"K={self.n_components} {self.covariance_type}"

    def check(self, n_features: int) -> None:
        """Shapes and values of the given initial parameters.

        Raises
        ------
        InvalidParameterError
            Naming the parameter, its shape or values and what is expected.
        """
        k = self.n_components
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
            if weights.shape != (k,):
                raise InvalidParameterError(
                    f"weights_init has shape {weights.shape}; expected ({k},) for n_components={k}"
                )
            if np.any(weights < 0) or np.any(weights > 1):
                raise InvalidParameterError(
                    "weights_init must lie in [0, 1]; got min "
                    f"{weights.min():.5g} and max {weights.max():.5g}"
                )
            if not np.allclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
                raise InvalidParameterError(
                    f"weights_init must sum to 1 (normalise them); got sum {weights.sum():.6f}"
                )
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (k, n_features):
                raise InvalidParameterError(
                    f"means_init has shape {means.shape}; expected ({k}, {n_features}) for "
                    f"n_components={k} and {n_features} features"
                )
            if not np.isfinite(means).all():
                raise InvalidParameterError("means_init contains NaN or infinite values")
        if self.precisions_init is not None:
            precisions = np.asarray(self.precisions_init, dtype=np.float64)
            expected = covariance_shape(self.covariance_type, k, n_features)
            if precisions.shape != expected:
                raise InvalidParameterError(
                    f"precisions_init has shape {precisions.shape}; a '{self.covariance_type}' "
                    f"mixture with {k} components and {n_features} features needs {expected}"
                )
            if not np.isfinite(precisions).all():
                raise InvalidParameterError("precisions_init contains NaN or infinite values")
            if self.covariance_type in ("full", "tied"):
                asymmetry = np.abs(precisions - np.swapaxes(precisions, -1, -2)).max()
                if asymmetry > 1e-8 * max(np.abs(precisions).max(), 1.0):
                    raise InvalidParameterError(
                        "precisions_init must be symmetric; the largest difference between "
                        f"P and P.T is {asymmetry:.3g}. Symmetrise it, e.g. (P + P.T) / 2"
                    )

    def _given_precisions_cholesky(self) -> np.ndarray | None:
        if self.precisions_init is None:
            return None
        return precisions_cholesky_from_precisions(self.precisions_init, self.covariance_type)

    def fixed_start(self) -> MixtureParameters | None:
        """The initial parameters when the user gave all of them, else None."""
        given = self._given_precisions_cholesky()
        if self.weights_init is None or self.means_init is None or given is None:
            return None
        return MixtureParameters.from_precisions_cholesky(
            self.weights_init, self.means_init, given, self.covariance_type
        )

    def start(self, sample: np.ndarray, sample_weight: np.ndarray | None,
              rng: np.random.RandomState, reg_covar: float,
              dtype: np.dtype | None = None, *,
              family: MixtureFamily = MAXIMUM_LIKELIHOOD, scale: float = 1.0,
              sklearn_init: bool = False) -> Any:
        """The family's first state from the sample (m, D), then the given values over it.

        ``dtype`` is the fit's compute dtype: the sample is refused up front when its
        values are too large to square in it. ``scale`` is the data's rows per sample
        row (see :meth:`~streamgmm.core.family.MixtureFamily.start`). Given initial
        values (``weights_init``, ...) are maximum-likelihood parameters.
        ``sklearn_init`` draws the responsibilities as scikit-learn does
        (:func:`sklearn_responsibilities`).
        """
        if sklearn_init:
            resp = sklearn_responsibilities(sample, self.n_components, self.init_params, rng,
                                            sample_weight)
            stats = _sklearn_initial_statistics(sample, resp, self.covariance_type,
                                                sample_weight, dtype)
        else:
            stats = initial_statistics(
                sample, self.n_components, self.covariance_type, self.init_params, rng,
                sample_weight, dtype=dtype,
            )
        params = family.start(stats, reg_covar, scale=scale)
        if not isinstance(params, MixtureParameters):
            return params
        given = self._given_precisions_cholesky()
        weights = params.weights if self.weights_init is None else self.weights_init
        means = params.means if self.means_init is None else self.means_init
        if given is None:
            params = MixtureParameters(
                weights, means, params.covariances, params.precisions_cholesky, self.covariance_type
            )
        else:
            params = MixtureParameters.from_precisions_cholesky(
                weights, means, given, self.covariance_type
            )
        if params.n_features != sample.shape[1]:
            raise InvalidInputError(
                f"the initial parameters have {params.n_features} features but the data has "
                f"{sample.shape[1]}"
            )
        return params


def sklearn_responsibilities(X: np.ndarray, n_components: int, method: str,
                             random_state: np.random.RandomState,
                             sample_weight: np.ndarray | None = None) -> np.ndarray:
    """scikit-learn's initial responsibilities (n, K) of the rows ``X`` (n, D), draw for draw.

    "kmeans" and "k-means++" run scikit-learn's own ``KMeans(n_init=1)`` and
    ``kmeans_plusplus`` on ``X`` as given (its dtype, not centred); "random" and
    "random_from_data" make the same draws as :func:`~streamgmm.core.init.initial_responsibilities`.
    """
    n_rows = X.shape[0]
    if method == "kmeans":
        labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(
            X, sample_weight=sample_weight).labels_
        resp = np.zeros((n_rows, n_components))
        resp[np.arange(n_rows), labels] = 1.0
        return resp
    if method == "k-means++":
        _, indices = kmeans_plusplus(X, n_components, random_state=random_state,
                                     sample_weight=sample_weight)
        resp = np.zeros((n_rows, n_components))
        resp[indices, np.arange(n_components)] = 1.0
        return resp
    return initial_responsibilities(X, n_components, method, random_state, sample_weight)


def _sklearn_initial_statistics(X: np.ndarray, resp: np.ndarray, covariance_type: str,
                                sample_weight: np.ndarray | None,
                                dtype: np.dtype | None) -> SufficientStatistics:
    """The statistics scikit-learn's initial M-step reads from responsibilities (n, K) over X (n, D).

    Its tied covariance sums ``x x^T`` over every row (unshifted), whatever the
    responsibilities: that differs from the responsibility-weighted sum when rows'
    responsibilities do not add up to one ("k-means++", "random_from_data"), so it
    is reproduced here. Every other type has the ordinary statistics.
    """
    if covariance_type != "tied":
        return checked_statistics_from_responsibilities(X, resp, covariance_type, sample_weight,
                                                        dtype=dtype)
    check_magnitude(X, np.dtype(np.float64 if dtype is None else dtype), what="the data")
    rows = np.asarray(X, dtype=np.float64)
    weights = np.ones(len(rows)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    stats = statistics_from_responsibilities(rows, resp, "tied", np.zeros(rows.shape[1]),
                                             sample_weight)
    return dataclasses.replace(stats, s2=(rows * weights[:, None]).T @ rows)


def init_seeds(random_state: Any, n_init: int, *,
               sklearn_init: bool = False) -> list[int] | list[np.random.RandomState]:
    """One seed per initialisation, drawn from ``random_state`` (consumes a RandomState).

    With ``sklearn_init`` every initialisation gets the same generator,
    ``check_random_state(random_state)``, which they consume in turn (scikit-learn's way).
    """
    if sklearn_init:
        return [check_random_state(random_state)] * n_init
    return list(check_random_state(random_state).randint(SEED_BOUND, size=n_init))


def initial_states(driver: Driver, mixtures: Sequence[MixtureSpec],
                   seed: int | np.random.RandomState, *,
                   init_sample_size: int | None, reg_covar: float,
                   dtype: np.dtype | None = None,
                   family: MixtureFamily = MAXIMUM_LIKELIHOOD) -> list[EMState]:
    """The starting state of every mixture for the initialisation seeded by ``seed``.

    Draws the initialisation sample (one pass) only if some mixture needs it. A
    family other than maximum likelihood starts from the sample's statistics
    scaled to the data's row count (exactly the data's own when the sample holds
    every row). With ``init_sample_size=None`` the sample is every row, in order,
    and ``seed`` is the generator scikit-learn's initialisation consumes (see
    :func:`init_seeds`).
    """
    fixed = [mixture.fixed_start() for mixture in mixtures]
    if all(params is not None for params in fixed):
        return [EMState(params=params) for params in fixed]  # type: ignore[arg-type]
    if init_sample_size is None:
        assert isinstance(seed, np.random.RandomState)
        sample, sample_weight, _ = driver.init_sample(driver.n_samples, 0)  # every row, in order
        return [
            EMState(params=params if params is not None else mixture.start(
                sample, sample_weight, seed, reg_covar, dtype, family=family, sklearn_init=True))
            for mixture, params in zip(mixtures, fixed)
        ]
    sample_seed = int(np.random.RandomState(seed).randint(SEED_BOUND))
    sample, sample_weight, n_valid = driver.init_sample(init_sample_size, sample_seed)
    scale = 1.0 if len(sample) == n_valid else n_valid / len(sample)
    states = []
    for mixture, params in zip(mixtures, fixed):
        if params is None:
            rng = np.random.RandomState(seed)
            rng.randint(SEED_BOUND)  # the draw that chose the sample's seed
            params = mixture.start(sample, sample_weight, rng, reg_covar, dtype,
                                   family=family, scale=scale)
        states.append(EMState(params=params))
    return states
