"""One factory from any accepted input to a :class:`~streamgmm.engine.Driver`.

Accepted inputs: array-likes in memory (numpy, lists, pandas DataFrames), and
out of core Dask, xarray and zarr arrays, :class:`~streamgmm.io.sources.RowData`,
and Zarr/Parquet paths or URLs (see :func:`streamgmm.io.sources.open_rows`).
In memory the rows are validated here (scikit-learn's dtype and shape rules,
the NaN policy, sample weights); out of core every pass checks its chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _get_feature_names

from ..drivers.dask_rows import DaskRows
from ..drivers.in_memory import ChunkedArray, available_cores
from ..io.detect import is_out_of_core
from ..io.sources import RowData, open_rows
from ..validation import check_finite_rows, check_sample_weight, finite_row_mask
from .driver import Driver

__all__ = ["DriverOptions", "OpenedData", "content_hash", "n_threads", "open_driver"]

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


@dataclass(frozen=True, kw_only=True)
class DriverOptions:
    """How the passes run (the estimator parameters that do not change the model).

    Attributes
    ----------
    chunk_size : int
        Rows per chunk in memory (out of core, the storage's chunks).
    n_jobs : int or None
        Threads in memory; None or -1 uses every available core.
    nan_policy : {"raise", "drop"}
    scheduler : str, distributed.Client or None
        Dask scheduler out of core.
    persist : {False, True, "auto"}
        Out of core: hold the rows in memory between passes.
    """

    chunk_size: int = 16384
    n_jobs: int | None = None
    nan_policy: str = "raise"
    scheduler: Any = None
    persist: bool | str = False


@dataclass(frozen=True)
class OpenedData:
    """A driver, and the description of its data for checkpoint keys.

    Attributes
    ----------
    driver : Driver
    describe : callable
        Returns a JSON-able description of the data (format, shape, a content hash
        or the stored files' signature, the sample weights'). Computed on demand:
        hashing the data is only worth it for a checkpoint.
    """

    driver: Driver
    describe: Callable[[], dict[str, Any]]


def n_threads(n_jobs: int | None) -> int:
    """Worker threads for ``n_jobs`` (None or -1: every available core)."""
    return available_cores() if n_jobs in (None, -1) else max(1, int(n_jobs))


def content_hash(array: np.ndarray) -> str:
    """sha256 of an in-memory array's shape, dtype and bytes (a fit's identity for checkpoints)."""
    digest = hashlib.sha256(str((array.shape, array.dtype.str)).encode())
    flat = np.ascontiguousarray(array).reshape(-1)
    step = 1 << 22
    for start in range(0, flat.size, step):
        digest.update(flat[start : start + step].tobytes())
    return digest.hexdigest()


def _weights_fingerprint(sample_weight: Any) -> str | None:
    """Identity of out-of-core sample weights: a Dask array's name, or an in-memory hash."""
    if sample_weight is None:
        return None
    name = getattr(sample_weight, "name", None)
    if type(sample_weight).__module__.startswith("dask") and name:
        return f"dask:{name}"
    return content_hash(np.asarray(sample_weight, dtype=np.float64))


def _in_memory(X: Any, sample_weight: Any, options: DriverOptions, estimator_name: str
               ) -> OpenedData:
    """Validated rows (n, D) as float32/float64, without copying when possible."""
    names = None
    if not (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES and min(X.shape) > 0):
        # Anything but a plain float array (which check_array would return as is, and
        # which predictions on small batches pass often) goes through scikit-learn.
        names = _get_feature_names(X)
        X = check_array(
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
            input_name="X",
            estimator=estimator_name,
        )
    if options.nan_policy == "raise":
        check_finite_rows(X)
    weights = check_sample_weight(sample_weight, X.shape[0])
    n_invalid = 0
    if options.nan_policy == "drop":
        finite = finite_row_mask(X)
        if finite is not None:
            n_invalid = int((~finite).sum())
            X = X[finite]
            weights = None if weights is None else weights[finite]
    driver: Driver = ChunkedArray(
        X, weights, options.chunk_size, n_threads(options.n_jobs),
        feature_names=None if names is None else list(names), n_invalid_rows=n_invalid,
    )

    def describe() -> dict[str, Any]:
        return {
            "format": "numpy", "shape": list(X.shape), "dtype": str(X.dtype),
            "content": content_hash(X),
            "sample_weight": None if weights is None else content_hash(weights),
        }

    return OpenedData(driver, describe)


def _out_of_core(X: Any, sample_weight: Any, options: DriverOptions) -> OpenedData:
    rows = X if isinstance(X, RowData) else open_rows(X)
    driver: Driver = DaskRows(
        rows.array, sample_weight, options.nan_policy, rows.uri, options.scheduler, rows.reader,
        persist=options.persist, feature_names=rows.feature_names,
    )
    return OpenedData(driver, lambda: {
        "uri": rows.uri, **rows.fingerprint(),
        "sample_weight": _weights_fingerprint(sample_weight),
    })


def open_driver(
    X: Any,
    sample_weight: Any = None,
    options: DriverOptions | None = None,
    *,
    estimator_name: str = "GaussianMixture",
) -> OpenedData:
    """The driver for X: in memory (threads) or out of core (Dask).

    Parameters
    ----------
    X : array-like of shape (n, D), Dask/xarray/zarr array, RowData, path or URL
    sample_weight : array-like of shape (n,) or Dask array, optional
        Non-negative row weights.
    options : DriverOptions, optional
    estimator_name : str
        Named by scikit-learn's input errors ("... is required by GaussianMixture").

    Returns
    -------
    OpenedData
        The driver (use it as a context manager, or ``close()`` it) and the data's
        description for checkpoint keys.

    Raises
    ------
    InvalidInputError
        Rows with NaN or infinite values (``nan_policy="raise"``, in memory), bad
        sample weights, an unreadable path.
    """
    options = options or DriverOptions()
    if is_out_of_core(X):
        return _out_of_core(X, sample_weight, options)
    return _in_memory(X, sample_weight, options, estimator_name)
