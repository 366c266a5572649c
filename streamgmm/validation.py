"""Checks of user input: estimator parameters, arrays and sample weights.

Each message names the parameter or the data, the offending value or
position, what is allowed, and a way out.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np

from .core.covariance import COVARIANCE_TYPES
from .core.errors import InvalidInputError, InvalidParameterError
from .core.init import INIT_METHODS

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


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidParameterError(
            f"{name}={value!r} is invalid: expected an integer >= {minimum}"
            + (" or None" if allow_none else "")
        )


def _check_real(name: str, value: Any, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= minimum:
        raise InvalidParameterError(f"{name}={value!r} is invalid: expected a real number >= {minimum}")


def _check_choice(name: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidParameterError(
            f"{name}={value!r} is invalid: choose one of {', '.join(repr(a) for a in allowed)}"
        )


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name}={value!r} is invalid: expected True or False")


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
    """Validate the constructor parameters of ``GaussianMixture``.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, its value and what is allowed.
    """
    _check_int("n_components", params["n_components"], 1)
    _check_choice("covariance_type", params["covariance_type"], COVARIANCE_TYPES)
    _check_real("tol", params["tol"], 0.0)
    _check_real("reg_covar", params["reg_covar"], 0.0)
    _check_int("max_iter", params["max_iter"], 0)
    _check_int("n_init", params["n_init"], 1)
    _check_choice("init_params", params["init_params"], INIT_METHODS)
    _check_bool("warm_start", params["warm_start"])
    _check_int("verbose", params["verbose"], 0)
    _check_int("verbose_interval", params["verbose_interval"], 1)
    _check_int("chunk_size", params["chunk_size"], 1)
    _check_int("init_sample_size", params["init_sample_size"], 1)
    _check_choice("nan_policy", params["nan_policy"], ("raise", "drop"))
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
        if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InvalidParameterError(
                f"dtype={dtype!r} is invalid: choose 'float32', 'float64' or None (float32 "
                "input is computed in float32, anything else in float64)"
            )
    _check_online_parameters(params)
    if not (
        params["random_state"] is None
        or isinstance(params["random_state"], (numbers.Integral, np.random.RandomState))
    ):
        raise InvalidParameterError(
            f"random_state={params['random_state']!r} is invalid: expected None, an integer "
            "or a numpy.random.RandomState"
        )


def _check_online_parameters(params: dict[str, Any]) -> None:
    """The stepwise-EM parameters used by ``partial_fit``."""
    decay = params["step_decay"]
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0.5 < decay <= 1.0:
        raise InvalidParameterError(
            f"step_decay={decay!r} is invalid: expected a real number in (0.5, 1] (stepwise EM "
            "converges only for such decays; 0.7 is a good default)"
        )
    _check_real("step_offset", params["step_offset"], 0.0)
    step_size = params["step_size"]
    if step_size is not None and (
        isinstance(step_size, bool)
        or not isinstance(step_size, numbers.Real)
        or not 0.0 < step_size <= 1.0
    ):
        raise InvalidParameterError(
            f"step_size={step_size!r} is invalid: expected None (decaying steps) or a constant "
            "step in (0, 1], e.g. 0.05 to forget with a window of about 20 batches"
        )
    average = params["average"]
    if not isinstance(average, (bool, np.bool_)):
        _check_int("average", average, 0)
    _check_int("warm_up_size", params["warm_up_size"], 1, allow_none=True)


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
