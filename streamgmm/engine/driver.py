"""The driver contract: where the passes of a fit or a prediction run.

Two drivers satisfy it today: :class:`streamgmm.drivers.in_memory.ChunkedArray`
(an array in memory, chunks on threads) and
:class:`streamgmm.drivers.dask_rows.DaskRows` (a Dask array of rows, one
``dask.compute`` per pass, on any scheduler). The engine and the estimators see
only this protocol; :func:`streamgmm.engine.open_driver` picks the driver.

Every pass merges the per-chunk statistics in one fixed tree over chunk order,
so for the same chunking both drivers give bitwise the same statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.estep import NaturalForm
from ..core.statistics import SufficientStatistics

__all__ = ["Driver"]


@runtime_checkable
class Driver(Protocol):
    """Rows of data and the passes over them.

    Attributes
    ----------
    n_samples, n_features : int
        Shape (n, D) of the rows (invalid rows included for out-of-core data,
        whose passes find them).
    dtype : numpy.dtype
        Storage dtype of the rows (float32 or float64).
    feature_names : list of str or None
        Names of the D features, when the input had them.
    where : str
        How error messages name the data (a path, a URL, "X").
    out_of_core : bool
        Whether every pass reads the rows from storage (then ``persisted`` says
        whether they were held in memory instead).
    n_invalid_rows : int
        Rows with NaN or infinite values left out (``nan_policy="drop"``).
    persisted : bool or None
        Out of core: whether the rows were held in memory between passes
        (None until the first pass decides). Always None in memory.
    """

    @property
    def n_samples(self) -> int: ...

    @property
    def n_features(self) -> int: ...

    @property
    def where(self) -> str: ...

    @property
    def out_of_core(self) -> bool: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def feature_names(self) -> list[str] | None: ...

    @property
    def n_invalid_rows(self) -> int: ...

    @property
    def persisted(self) -> bool | None: ...

    def statistics(self, form: NaturalForm) -> SufficientStatistics:
        """One E-step pass: the merged statistics of every valid row under ``form``."""
        ...

    def statistics_many(self, forms: Sequence[NaturalForm]) -> list[SufficientStatistics]:
        """One pass for several models; each result bitwise as :meth:`statistics` alone."""
        ...

    def init_sample(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, int]:
        """At most ``size`` rows (m, D), their weights (m,) or None, and the valid-row count.

        Chosen by ``seed`` the same way by every driver, whatever the chunking.
        """
        ...

    def log_likelihood_many(self, forms: Sequence[NaturalForm]) -> tuple[np.ndarray, int]:
        """One pass: the summed row log-likelihood of the valid rows under each model
        (len(forms),), and the number of rows summed."""
        ...

    def posteriors(self, form: NaturalForm) -> tuple[Any, Any]:
        """Row log-likelihoods (n,) and responsibilities (n, K); lazy out of core."""
        ...

    def log_likelihood(self, form: NaturalForm) -> Any:
        """Row log-likelihoods (n,); lazy out of core."""
        ...

    def responsibilities(self, form: NaturalForm) -> Any:
        """Responsibilities (n, K); lazy out of core."""
        ...

    def labels(self, form: NaturalForm) -> Any:
        """Most probable component of every row (n,); lazy out of core."""
        ...

    def compute(self, *arrays: Any) -> tuple[Any, ...]:
        """Compute lazy results with this driver's scheduler (identity in memory)."""
        ...

    def close(self) -> None:
        """Release what the passes held (persisted rows, a process pool)."""
        ...

    def __enter__(self) -> "Driver": ...

    def __exit__(self, *exc_info: Any) -> None: ...
