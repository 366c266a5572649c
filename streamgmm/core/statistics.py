"""Sufficient statistics of a Gaussian mixture: a monoid with a scale.

One E-step over any set of rows reduces to this small value; the M-step turns
it into parameters. Batch EM merges the statistics of every chunk, online
(stepwise) EM blends running statistics with a batch's using :meth:`scale`.

Shifted accumulation
--------------------
Each component's sums are taken about its own reference point ``c_k`` (a row
of ``shift``), not about the origin: ``s1_k = sum r_ik (x_i - c_k)`` and
``s2_k = sum r_ik (x_i - c_k)(x_i - c_k)^T``. The M-step computes
``cov = s2/n - m m^T`` with ``m = s1/n``; about the origin this cancels
catastrophically when the data sit far from zero (relative error
``eps * (|mu|/sigma)^2``). About ``c_k`` the error is
``eps * (|mu_k - c_k|/sigma_k)^2``. The E-step kernel uses the mixture mean for
every component it can score with one matrix product and the component's own
previous mean for components far from it (see :mod:`streamgmm.core.estep`), so
the error stays at rounding level wherever the data and the clusters sit.
Statistics about different references merge after an exact change of
reference (:meth:`reshift`).

The second-moment term ``s2`` has a shape per covariance type:

=========  ============  ================================================
type       s2 shape      meaning
=========  ============  ================================================
full       (K, D, D)     sum_i r_ik (x_i - c_k)(x_i - c_k)^T
tied       (D, D)        sum_k sum_i r_ik (x_i - c_k)(x_i - c_k)^T
diag       (K, D)        sum_i r_ik (x_i - c_k)**2
spherical  (K,)          sum_i r_ik |x_i - c_k|**2
=========  ============  ================================================

``r_ik`` already includes the sample weight ``w_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import check_covariance_type, covariance_shape
from .errors import IncompatibleStatisticsError

__all__ = ["SufficientStatistics", "merge_in_order"]


def _matrix_moment_shift(s1: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per-component change of the (D, D) second moments when the shift moves by ``d``, (K, D, D)."""
    cross = s1[:, :, None] * d[:, None, :]
    return cross + cross.transpose(0, 2, 1) + n[:, None, None] * (d[:, :, None] * d[:, None, :])


def _reshift_full(s2: np.ndarray, s1: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return s2 + _matrix_moment_shift(s1, n, d)


def _reshift_tied(s2: np.ndarray, s1: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return s2 + _matrix_moment_shift(s1, n, d).sum(axis=0)


def _reshift_diag(s2: np.ndarray, s1: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return s2 + 2.0 * s1 * d + n[:, None] * d**2


def _reshift_spherical(s2: np.ndarray, s1: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return s2 + 2.0 * np.einsum("kd,kd->k", s1, d) + n * np.einsum("kd,kd->k", d, d)


#: ``s2`` about new reference points, by covariance type: ``(s2, s1, n, d) -> s2``.
_RESHIFT_S2 = {
    "full": _reshift_full,
    "tied": _reshift_tied,
    "diag": _reshift_diag,
    "spherical": _reshift_spherical,
}


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Responsibility-weighted sums of one or more blocks of rows.

    Parameters
    ----------
    covariance_type : str
        Determines the shape of ``s2``.
    shift : ndarray of shape (K, D)
        Reference point ``c_k`` each component's sums are taken about (a shape
        (D,) value is broadcast to every component).
    n : ndarray of shape (K,)
        Responsibility mass per component, ``sum_i r_ik``.
    s1 : ndarray of shape (K, D)
        ``sum_i r_ik (x_i - c)``.
    s2 : ndarray
        Second moments about ``c``; shape by covariance type.
    log_likelihood : float
        ``sum_i w_i log p(x_i)`` under the parameters used for the E-step.
    weight_sum : float
        ``sum_i w_i`` (the number of rows when unweighted).
    n_samples : int
        Number of rows seen (independent of weights); scaled values are kept
        as rows actually read so that BIC and reporting stay honest.

    Notes
    -----
    All arrays are float64 whatever the compute dtype: partial sums from
    float32 kernels are promoted before they are accumulated.
    """

    covariance_type: str
    shift: np.ndarray
    n: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    log_likelihood: float = 0.0
    weight_sum: float = 0.0
    n_samples: int = 0

    def __post_init__(self) -> None:
        check_covariance_type(self.covariance_type)
        for name in ("shift", "n", "s1", "s2"):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, array)
        n_components, n_features = self.s1.shape
        if self.shift.shape == (n_features,):
            object.__setattr__(
                self, "shift", np.ascontiguousarray(np.broadcast_to(self.shift, self.s1.shape))
            )
        if self.n.shape != (n_components,) or self.shift.shape != (n_components, n_features):
            raise IncompatibleStatisticsError(
                f"inconsistent statistics: n {self.n.shape}, s1 {self.s1.shape}, "
                f"shift {self.shift.shape}"
            )
        expected = covariance_shape(self.covariance_type, n_components, n_features)
        if self.s2.shape != expected:
            raise IncompatibleStatisticsError(
                f"s2 has shape {self.s2.shape}; '{self.covariance_type}' needs {expected}"
            )
        object.__setattr__(self, "log_likelihood", float(self.log_likelihood))
        object.__setattr__(self, "weight_sum", float(self.weight_sum))
        object.__setattr__(self, "n_samples", int(self.n_samples))

    # ----------------------------------------------------------------- monoid
    @classmethod
    def zero(
        cls, covariance_type: str, n_components: int, n_features: int, shift: np.ndarray | None = None
    ) -> "SufficientStatistics":
        """The identity of :meth:`merge`: no rows seen."""
        check_covariance_type(covariance_type)
        return cls(
            covariance_type=covariance_type,
            shift=np.zeros((n_components, n_features)) if shift is None else shift,
            n=np.zeros(n_components),
            s1=np.zeros((n_components, n_features)),
            s2=np.zeros(covariance_shape(covariance_type, n_components, n_features)),
        )

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.s1.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features D."""
        return int(self.s1.shape[1])

    def _check_compatible(self, other: "SufficientStatistics") -> None:
        if (
            self.covariance_type != other.covariance_type
            or self.s1.shape != other.s1.shape
        ):
            raise IncompatibleStatisticsError(
                f"cannot merge '{self.covariance_type}' statistics of shape {self.s1.shape} "
                f"with '{other.covariance_type}' statistics of shape {other.s1.shape}"
            )

    def merge(self, other: "SufficientStatistics") -> "SufficientStatistics":
        """Statistics of the union of both sets of rows (about ``self.shift``)."""
        self._check_compatible(other)
        if not np.array_equal(other.shift, self.shift):
            other = other.reshift(self.shift)
        return SufficientStatistics(
            covariance_type=self.covariance_type,
            shift=self.shift,
            n=self.n + other.n,
            s1=self.s1 + other.s1,
            s2=self.s2 + other.s2,
            log_likelihood=self.log_likelihood + other.log_likelihood,
            weight_sum=self.weight_sum + other.weight_sum,
            n_samples=self.n_samples + other.n_samples,
        )

    __add__ = merge

    def scale(self, factor: float) -> "SufficientStatistics":
        """Every weighted sum multiplied by ``factor`` (for stepwise EM blending).

        ``n_samples`` counts rows actually read and is left as it is.
        """
        factor = float(factor)
        return SufficientStatistics(
            covariance_type=self.covariance_type,
            shift=self.shift,
            n=self.n * factor,
            s1=self.s1 * factor,
            s2=self.s2 * factor,
            log_likelihood=self.log_likelihood * factor,
            weight_sum=self.weight_sum * factor,
            n_samples=self.n_samples,
        )

    def reshift(self, new_shift: np.ndarray) -> "SufficientStatistics":
        """The same statistics expressed about other reference points.

        Exact algebra: with ``d_k = c_k,old - c_k,new``,
        ``x - c_k,new = (x - c_k,old) + d_k``.

        Parameters
        ----------
        new_shift : ndarray of shape (K, D) or (D,)
        """
        new_shift = np.broadcast_to(np.asarray(new_shift, dtype=np.float64), self.s1.shape)
        d = self.shift - new_shift  # (K, D)
        n, s1 = self.n, self.s1
        s2 = _RESHIFT_S2[self.covariance_type](self.s2, s1, n, d)
        return SufficientStatistics(
            covariance_type=self.covariance_type,
            shift=np.array(new_shift),
            n=n,
            s1=s1 + n[:, None] * d,
            s2=s2,
            log_likelihood=self.log_likelihood,
            weight_sum=self.weight_sum,
            n_samples=self.n_samples,
        )

    @property
    def mean_log_likelihood(self) -> float:
        """Weighted mean log-likelihood per sample (scikit-learn's lower bound)."""
        if self.weight_sum <= 0:
            return float("-inf")
        return self.log_likelihood / self.weight_sum

    def allclose(self, other: "SufficientStatistics", rtol: float = 1e-9, atol: float = 1e-9) -> bool:
        """Whether two statistics agree (after expressing ``other`` about ``self.shift``)."""
        self._check_compatible(other)
        other = other.reshift(self.shift)
        return (
            np.allclose(self.n, other.n, rtol=rtol, atol=atol)
            and np.allclose(self.s1, other.s1, rtol=rtol, atol=atol)
            and np.allclose(self.s2, other.s2, rtol=rtol, atol=atol)
            and np.isclose(self.log_likelihood, other.log_likelihood, rtol=rtol, atol=atol)
            and np.isclose(self.weight_sum, other.weight_sum, rtol=rtol, atol=atol)
            and self.n_samples == other.n_samples
        )

    def to_dict(self) -> dict[str, object]:
        """Plain arrays and numbers, for checkpoints and transport."""
        return {
            "covariance_type": self.covariance_type,
            "shift": self.shift,
            "n": self.n,
            "s1": self.s1,
            "s2": self.s2,
            "log_likelihood": self.log_likelihood,
            "weight_sum": self.weight_sum,
            "n_samples": self.n_samples,
        }


def merge_in_order(parts: "list[SufficientStatistics]") -> SufficientStatistics:
    """Merge chunk statistics pairwise in a fixed balanced tree over their order.

    Floating-point addition is not associative, so every driver (threads, Dask
    threads/processes/distributed) reduces with this same tree shape: the
    result depends on the chunk order only, bit for bit, not on which worker
    finished first.

    Parameters
    ----------
    parts : list of SufficientStatistics
        One per chunk, in chunk order; at least one.
    """
    if not parts:
        raise ValueError("merge_in_order needs at least one set of statistics")
    level = list(parts)
    while len(level) > 1:
        level = [
            level[i].merge(level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]
