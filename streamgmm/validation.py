"""Checks of user input: estimator parameters, arrays and sample weights.

Each message names the parameter or the data, the offending value or
position, what is allowed, and a way out.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .core.domains import DOMAINS
from .core.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "PERSIST_CHOICES",
    "check_estimator_parameters",
    "check_persist",
    "check_finite_rows",
    "check_sample_weight",
    "finite_row_mask",
    "resolve_dtype",
]

#: Rows per slice when scanning for NaN/inf, so the check never allocates N x D.
_FINITE_CHECK_ROWS = 65_536

#: Parameters checked by their domain alone (:data:`streamgmm.core.domains.DOMAINS`);
#: ``random_state`` and ``dtype`` also take numpy objects and are checked below.
_BY_DOMAIN = tuple(name for name in DOMAINS if name not in ("random_state", "dtype"))


#: Values of ``persist`` (see :mod:`streamgmm.drivers.persist`).
PERSIST_CHOICES = (False, True, "auto")


def check_persist(value: Any) -> None:
    """Refuse anything but False, True and "auto" (1, "yes" or "true" are mistakes)."""
    if value is True or value is False or (isinstance(value, str) and value == "auto"):
        return
    raise InvalidParameterError(
        f"persist={value!r} is invalid: choose False (read the data on every pass), True "
        "(hold the rows in memory) or 'auto' (hold them when they clearly fit)"
    )


def check_estimator_parameters(params: dict[str, Any]) -> None:
    """Validate the constructor parameters of ``GaussianMixture`` or ``BayesianGaussianMixture``.

    Every domain comes from :data:`streamgmm.core.domains.DOMAINS`, the table the
    YAML configs are generated from, so both accept and refuse the same values.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, its value and what is allowed.
    """
    for name in _BY_DOMAIN:
        if name in params:  # each estimator has its own subset of the table
            DOMAINS[name].check(name, params[name])
    check_persist(params["persist"])
    n_jobs = params["n_jobs"]
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
    ):
        raise InvalidParameterError(
            f"n_jobs={n_jobs!r} is invalid: expected None (all cores), a positive number of "
            "threads, or -1 (all cores)"
        )
    dtype = params["dtype"]
    if dtype is not None:
        try:
            resolved = np.dtype(dtype)
        except TypeError:
            resolved = None
        if resolved is None or resolved.name not in DOMAINS["dtype"].choices:
            raise InvalidParameterError(
                f"dtype={dtype!r} is invalid: expected {DOMAINS['dtype'].describe()} (float32 "
                "input is computed in float32, anything else in float64)"
            )
    random_state = params["random_state"]
    if not isinstance(random_state, np.random.RandomState):
        DOMAINS["random_state"].check("random_state", random_state)


def resolve_dtype(dtype: Any, input_dtype: np.dtype) -> np.dtype:
    """Compute dtype: the one asked for, else float32 for float32 input, else float64."""
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.float32) if input_dtype == np.float32 else np.dtype(np.float64)


def _all_finite(X: np.ndarray) -> bool:
    """True when every value of ``X`` is finite, decided by one sum.

    NaN and infinities propagate into the sum, so a finite sum proves every value
    finite: one read of the data with no mask (the per-row mask costs several times
    more). A non-finite sum may also be an overflow of large finite values; callers
    then fall back to the exact per-row check.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(X, dtype=X.dtype if X.dtype.kind == "f" else None)))


def finite_row_mask(X: np.ndarray) -> np.ndarray | None:
    """Which rows of ``X`` (n, D) are entirely finite: None when all are, else a bool (n,) mask."""
    if _all_finite(X):
        return None
    finite = np.isfinite(X).all(axis=1)
    return None if finite.all() else finite


def check_finite_rows(X: np.ndarray, what: str = "X") -> None:
    """Raise if any value is NaN or infinite, with the count and the first position.

    Scans in slices of rows so the boolean mask never has N x D entries.
    """
    if _all_finite(X):
        return
    bad_rows = 0
    first: tuple[int, int] | None = None
    for start in range(0, X.shape[0], _FINITE_CHECK_ROWS):
        block = X[start : start + _FINITE_CHECK_ROWS]
        finite = np.isfinite(block)
        if finite.all():
            continue
        row_ok = finite.all(axis=1)
        bad_rows += int((~row_ok).sum())
        if first is None:
            row = int(np.argmin(row_ok))
            first = (start + row, int(np.argmin(finite[row])))
    if first is not None:
        raise InvalidInputError(
            f"Input {what} contains NaN or infinite values in {bad_rows} row(s); the first is "
            f"row {first[0]} (column {first[1]}, value {X[first]!r}). Remove or impute them "
            "(e.g. sklearn.impute.SimpleImputer) before calling this method."
        )


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validate weights: shape (n,), finite, non-negative, not all zero; float64 or None."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise InvalidInputError(
            f"sample_weight has shape {weights.shape}; expected ({n_samples},), one weight per row of X"
        )
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise InvalidInputError(
            f"sample_weight must be finite and non-negative; {bad.size} value(s) are not, the "
            f"first at row {int(bad[0])} ({weights[bad[0]]!r})"
        )
    if weights.sum() <= 0:
        raise InvalidInputError("sample_weight sums to zero: at least one row must have positive weight")
    return weights
