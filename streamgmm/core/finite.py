"""Never a non-finite model: the magnitude data may have, and the check of every EM step.

Two checks keep every model streamgmm returns (or keeps, in online EM) finite:

1. **Before any work**, the bounded initialisation sample is checked against
   :func:`square_limit` (:func:`check_magnitude`, called by
   :func:`streamgmm.core.init.initial_parameters`): values whose squares cannot be
   represented in the compute dtype are refused with their size, position and the
   way out, before k-means or an E-step squares them (which would only warn and
   produce NaN). The sample's size does not depend on N, so neither does the cost.
2. **At every M-step**, the reduced statistics (K-sized: masses, sums, scatters and
   the log-likelihood) and then the new parameters are checked with one
   ``np.isfinite`` per array (:func:`check_finite_statistics`,
   :func:`check_finite_parameters`). Every path goes through that one M-step,
   :func:`streamgmm.core.mstep.maximise`: batch EM in memory and out of core
   (:func:`streamgmm.core.em.run_em`), stepwise EM
   (:func:`streamgmm.core.stepwise.stepwise_update`), averaged online models and
   the initialisation. Nothing is checked per row, so the cost is independent of
   N and of the data's dimension beyond the K x D x D parameters themselves.

The first check names the cause precisely; the second catches everything else
(data beyond the sample, a batch of a stream, a collapsing component) and names
the step and the component, with the likely causes and their remedies. When a
pass's statistics are not finite, the drivers (in memory, Dask) and
``partial_fit`` first look for rows too large to square with
:func:`magnitude_problem` -- only then, so a good pass pays nothing -- and name
them (store, chunk, row, column) instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NonFiniteModelError, ValuesTooLargeError

__all__ = [
    "RESCALE_ADVICE",
    "check_finite_parameters",
    "check_finite_statistics",
    "check_magnitude",
    "magnitude_problem",
    "remedy",
    "square_limit",
    "statistics_finite",
]

#: Rows whose squares one accumulator of each dtype may sum: float64 statistics add
#: up every row of the data (room for 2**40 of them); float32 ones add up one tile
#: of rows (at most 4096, :func:`streamgmm.core.estep.default_block_rows`) before
#: the sum is promoted to float64.
_ROWS_SUMMED = {np.dtype(np.float64): 2.0**40, np.dtype(np.float32): 2.0**12}

#: Headroom for the few terms a squared distance is built from (y^2 P, 2 y nu, ...).
#: Measured on 400 rows, float64 fits fail from |x - mean| ~ 5e153 on and float32
#: ones from ~1e18; the limits below are far enough inside for any number of rows.
_SQUARE_HEADROOM = 4.0

RESCALE_ADVICE = "rescale the data, e.g. with sklearn.preprocessing.StandardScaler"


def square_limit(dtype: Any) -> float:
    """The largest magnitude whose squares the numerics can sum in ``dtype``.

    ``sqrt(finfo(dtype).max / rows) / 4`` with the rows one accumulator sums
    (:data:`_ROWS_SUMMED`): about 3.2e147 for float64 and 7.2e16 for float32.
    The same for any number of rows, so a fit that works on a sample works on
    all the data.
    """
    dtype = np.dtype(dtype)
    return float(np.sqrt(np.finfo(dtype).max / _ROWS_SUMMED[dtype])) / _SQUARE_HEADROOM


def _farthest(X: np.ndarray, centre: np.ndarray) -> tuple[float, int, int]:
    """The largest ``|x - centre|`` of the rows ``X`` (n, D), and its (row, column).

    From the column extrema (two reductions, no n x D temporary); the row is
    looked up in the one column that holds it.
    """
    high = X.max(axis=0).astype(np.float64) - centre
    low = centre - X.min(axis=0).astype(np.float64)
    per_column = np.maximum(high, low)
    column = int(np.argmax(per_column))
    largest = float(per_column[column])
    row = int(np.argmax(np.abs(X[:, column].astype(np.float64) - centre[column])))
    return largest, row, column


def magnitude_problem(
    X: np.ndarray, dtype: Any = np.float64, reference: np.ndarray | None = None, first_row: int = 0
) -> str | None:
    """Why the finite rows ``X`` cannot be squared in ``dtype``, or None when they can.

    Parameters
    ----------
    X : ndarray of shape (n, D)
        Finite rows.
    dtype : float32 or float64
        The compute dtype of the E-step. Parameters and statistics are float64
        whatever it is, so ``|x|`` itself must stay below the float64 limit.
    reference : ndarray of shape (D,), optional
        The point rows are shifted by before they are squared (the mixture's
        mean); ``|x - reference|`` must stay below the limit of ``dtype``.
    first_row : int
        Number of the first row of ``X`` in the data, for the message.

    Returns
    -------
    str or None
        E.g. ``"values too large to square in float64 (max |x| = 1e+300, at row 3,
        column 0; the limit is about 3.2e+147)"``.
    """
    if X.size == 0:
        return None
    largest, row, column = _farthest(X, np.zeros(X.shape[1]))
    limit = square_limit(np.float64)
    if largest > limit:
        return (
            f"values too large to square in float64 (max |x| = {largest:.3g}, at row "
            f"{first_row + row}, column {column}; the limit is about {limit:.2g})"
        )
    if reference is None:
        return None
    largest, row, column = _farthest(X, np.asarray(reference, dtype=np.float64))
    dtype = np.dtype(dtype)
    limit = square_limit(dtype)
    if largest > limit:
        return (
            f"values too far apart to square in {dtype.name} (max |x - mean| = {largest:.3g}, "
            f"at row {first_row + row}, column {column}; the limit is about {limit:.2g})"
        )
    return None


def check_magnitude(
    X: np.ndarray,
    dtype: Any = np.float64,
    reference: np.ndarray | None = None,
    what: str = "the data",
) -> None:
    """Raise :class:`ValuesTooLargeError` when :func:`magnitude_problem` finds one.

    Parameters
    ----------
    X : ndarray of shape (n, D)
    dtype, reference
        As in :func:`magnitude_problem`.
    what : str
        Names the rows in the message (e.g. "the initialisation sample").
    """
    problem = magnitude_problem(X, dtype, reference)
    if problem is not None:
        raise ValuesTooLargeError(f"Cannot fit {what}: {problem}. {remedy(dtype)}.")


def remedy(dtype: Any = np.float64) -> str:
    """The way out for values too large in ``dtype``, as a sentence without its full stop."""
    advice = RESCALE_ADVICE[0].upper() + RESCALE_ADVICE[1:]
    if np.dtype(dtype) == np.float32:
        advice += ", or compute in float64 (dtype='float64')"
    return advice


def _likely_cause(location: float) -> str:
    """The cause and way out, from where the components sit (their largest |mean|)."""
    limit = square_limit(np.float64)
    if location > limit:
        return (
            f"The components sit at |x| ~ {location:.3g}: values too large to square in float64 "
            f"(the limit is about {limit:.2g}). {remedy()}."
        )
    return (
        "Likely causes: data values too large to square (|x| or |x - mean| above about "
        f"{limit:.2g} in float64, {square_limit(np.float32):.2g} in float32), or a component "
        f"collapsing onto a point. {remedy()}, compute float32 data in float64 "
        "(dtype='float64'), or increase reg_covar."
    )


def _bad_components(array: np.ndarray, n_components: int) -> list[int]:
    """Components (leading axis of length K) holding a non-finite value."""
    finite = np.isfinite(array.reshape(n_components, -1)).all(axis=1)
    return [int(k) for k in np.flatnonzero(~finite)]


def _describe(arrays: dict[str, np.ndarray], n_components: int, shared: set[str]) -> str:
    """"component 1: scatter is nan" for the first non-finite entry of ``arrays``."""
    for label, array in arrays.items():
        if np.isfinite(array).all():
            continue
        value = array.ravel()[int(np.argmin(np.isfinite(array).ravel()))]
        if label in shared or array.ndim == 0:
            return f"the {label} is {value}"
        bad = _bad_components(array, n_components)
        which = f"component {bad[0]}" if len(bad) == 1 else f"components {bad}"
        return f"{which}: {label} is {value}"
    return "no entry"


def statistics_finite(stats: Any) -> bool:
    """Whether reduced statistics hold no NaN or inf (one ``isfinite`` per K-sized array)."""
    return bool(
        np.isfinite(stats.log_likelihood)
        and np.isfinite(stats.n).all()
        and np.isfinite(stats.s1).all()
        and np.isfinite(stats.s2).all()
    )


def check_finite_statistics(stats: Any, step: str) -> None:
    """Raise :class:`NonFiniteModelError` if the reduced statistics hold NaN or inf.

    Parameters
    ----------
    stats : SufficientStatistics
        K-sized merged statistics (one pass, or a stepwise blend).
    step : str
        Names the step, e.g. "EM iteration 3".
    """
    if statistics_finite(stats):
        return
    arrays = {
        "log-likelihood": np.asarray(stats.log_likelihood),
        "responsibility mass": stats.n,
        "weighted sum": stats.s1,
        "scatter": stats.s2,
    }
    shared = {"scatter"} if stats.covariance_type == "tied" else set()
    where = _describe(arrays, stats.n_components, shared)
    location = float(np.abs(stats.shift).max()) if np.isfinite(stats.shift).all() else np.inf
    raise NonFiniteModelError(
        f"The statistics of {step} are not finite ({where}); no model is returned. "
        + _likely_cause(location)
    )


def check_finite_parameters(
    weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str, step: str
) -> None:
    """Raise :class:`NonFiniteModelError` if new parameters hold NaN or inf.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray
        Shape by ``covariance_type``.
    covariance_type : str
    step : str
        Names the step, e.g. "EM iteration 3".
    """
    if np.isfinite(weights).all() and np.isfinite(means).all() and np.isfinite(covariances).all():
        return
    arrays = {"weight": weights, "mean": means, "covariance": covariances}
    shared = {"covariance"} if covariance_type == "tied" else set()
    where = _describe(arrays, means.shape[0], shared)
    finite_means = means[np.isfinite(means)]
    location = float(np.abs(finite_means).max()) if finite_means.size else np.inf
    raise NonFiniteModelError(
        f"The parameters from {step} are not finite ({where}); no model is returned. "
        + _likely_cause(location)
    )
