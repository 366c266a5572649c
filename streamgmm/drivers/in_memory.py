"""Chunked EM passes over an array held in memory, parallel over threads.

The array is cut into fixed ``chunk_size`` row ranges. Each chunk's kernel runs
on a worker thread (numpy's BLAS and ufuncs release the GIL) with BLAS held to
one thread, and the per-chunk statistics are merged in a fixed tree over chunk order. The result
therefore depends on the chunking only, never on the number of threads or on
which thread finished first: bitwise reproducible.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from collections.abc import Sequence
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from ..core.errors import ValuesTooLargeError
from ..core.estep import NaturalForm, chunk_posteriors, chunk_statistics, chunk_weighted_log_prob
from ..core.finite import magnitude_problem, remedy, statistics_finite
from ..core.sampling import key_threshold, merge_samples, sample_chunk
from ..core.statistics import SufficientStatistics, merge_in_order

__all__ = ["ChunkedArray", "available_cores", "single_threaded_blas"]

T = TypeVar("T")


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _blas_pools() -> tuple:
    """The process's BLAS thread pools (numpy's and scipy's), found once.

    Finding them scans the loaded shared libraries (milliseconds), and even
    threadpoolctl's context manager costs tens of microseconds per use: both
    would dominate small batches such as ``partial_fit``'s. numpy and scipy load
    their BLAS when streamgmm is imported, before the first call.
    """
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread: parallelism comes from chunks, not from inside a GEMM."""
    pools = _blas_pools()
    previous = [pool.get_num_threads() for pool in pools]
    for pool in pools:
        pool.set_num_threads(1)
    try:
        yield
    finally:
        for pool, n_threads in zip(pools, previous):
            pool.set_num_threads(n_threads)


class ChunkedArray:
    """An in-memory (n, D) array seen as ordered chunks of rows.

    A :class:`streamgmm.engine.Driver`: the passes of a fit (or a prediction)
    run here, one thread per chunk, merged in chunk order.

    Parameters
    ----------
    X : ndarray of shape (n, D)
        Validated finite rows (invalid rows were already dropped or refused).
    sample_weight : ndarray of shape (n,) or None
    chunk_size : int
        Rows per chunk; the unit of parallel work and of reduction.
    n_jobs : int
        Worker threads.
    feature_names : sequence of str of length D, optional
        Column names of the input, if it had string names.
    n_invalid_rows : int, default 0
        Rows with NaN or infinite values left out of ``X`` by the caller.
    where : str, default "X"
        How error messages name the data.
    """

    #: The rows are the caller's array: nothing to read, nothing to persist.
    out_of_core = False
    persisted: bool | None = None

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        chunk_size: int,
        n_jobs: int,
        *,
        feature_names: Sequence[str] | None = None,
        n_invalid_rows: int = 0,
        where: str = "X",
    ) -> None:
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)
        self.n_jobs = int(n_jobs)
        self.feature_names = None if feature_names is None else list(feature_names)
        self.n_invalid_rows = int(n_invalid_rows)
        self.where = where
        self.bounds = [
            (start, min(start + self.chunk_size, X.shape[0]))
            for start in range(0, X.shape[0], self.chunk_size)
        ]

    def map(self, function: Callable[[int, int], T]) -> list[T]:
        """``function(start, stop)`` for every chunk, results in chunk order."""
        if self.n_jobs <= 1 or len(self.bounds) <= 1:
            return [function(start, stop) for start, stop in self.bounds]
        workers = min(self.n_jobs, len(self.bounds))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="streamgmm") as pool:
            return list(pool.map(lambda bounds: function(*bounds), self.bounds))

    def statistics(self, form: NaturalForm) -> SufficientStatistics:
        """One E-step pass: merged statistics of every chunk, in chunk order."""

        def one_chunk(start: int, stop: int) -> SufficientStatistics:
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            return chunk_statistics(self.X[start:stop], form, weights)

        stats = merge_in_order(self.map(one_chunk))
        if not statistics_finite(stats):  # K-sized: free; the scan below only on failure
            for start, stop in self.bounds:
                problem = magnitude_problem(self.X[start:stop], form.dtype, form.shift, start)
                if problem is not None:
                    raise ValuesTooLargeError(
                        f"Cannot fit rows {start}-{stop - 1}: {problem}. {remedy(form.dtype)}."
                    )
        return stats  # other non-finite statistics: the M-step names the iteration

    def statistics_many(self, forms: Sequence[NaturalForm]) -> list[SufficientStatistics]:
        """One pass for several models: each model's statistics, bitwise as :meth:`statistics`."""

        def one_chunk(start: int, stop: int) -> list[SufficientStatistics]:
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            return [chunk_statistics(self.X[start:stop], form, weights) for form in forms]

        per_chunk = self.map(one_chunk)
        return [merge_in_order([chunk[m] for chunk in per_chunk]) for m in range(len(forms))]

    def log_likelihood_many(self, forms: Sequence[NaturalForm]) -> tuple[np.ndarray, int]:
        """Summed row log-likelihoods under each model (len(forms),), and the rows summed."""

        def one_chunk(start: int, stop: int) -> np.ndarray:
            return np.array([float(chunk_posteriors(self.X[start:stop], form)[0].sum())
                             for form in forms])

        with single_threaded_blas():
            sums = self.map(one_chunk)
        total = np.zeros(len(forms))
        for part in sums:  # chunk order
            total = total + part
        return total, self.n_samples

    def posteriors(self, form: NaturalForm) -> tuple[np.ndarray, np.ndarray]:
        """Row log-likelihoods (n,) and responsibilities (n, K), computed chunk by chunk."""
        log_likelihood = np.empty(self.n_samples)
        responsibilities = np.empty((self.n_samples, form.n_components))

        def one_chunk(start: int, stop: int) -> None:
            log_likelihood[start:stop], responsibilities[start:stop] = chunk_posteriors(
                self.X[start:stop], form
            )

        with single_threaded_blas():
            self.map(one_chunk)
        return log_likelihood, responsibilities

    def log_likelihood(self, form: NaturalForm) -> np.ndarray:
        """Row log-likelihoods (n,), computed chunk by chunk."""
        return self._fill(np.empty(self.n_samples), lambda rows: chunk_posteriors(rows, form)[0])

    def responsibilities(self, form: NaturalForm) -> np.ndarray:
        """Responsibilities (n, K), computed chunk by chunk (temporaries bounded by a chunk)."""
        out = np.empty((self.n_samples, form.n_components))
        return self._fill(out, lambda rows: chunk_posteriors(rows, form)[1])

    def labels(self, form: NaturalForm) -> np.ndarray:
        """Most probable component of every row (n,), chunk by chunk."""
        out = np.empty(self.n_samples, dtype=np.int64)
        return self._fill(out, lambda rows: chunk_weighted_log_prob(rows, form).argmax(axis=1))

    def _fill(self, out: np.ndarray, per_chunk: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``out[start:stop] = per_chunk(X[start:stop])`` for every chunk, on the worker threads."""

        def one_chunk(start: int, stop: int) -> None:
            out[start:stop] = per_chunk(self.X[start:stop])

        with single_threaded_blas():
            self.map(one_chunk)
        return out

    def compute(self, *arrays: Any) -> tuple[Any, ...]:
        """The results as they are: in memory, nothing is lazy."""
        return arrays

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of the rows."""
        return np.dtype(self.X.dtype)

    def close(self) -> None:
        """Nothing to release (the threads live only during a pass)."""

    def __enter__(self) -> "ChunkedArray":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def init_sample(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, int]:
        """At most ``size`` rows, chosen exactly as the Dask driver chooses them.

        Returns
        -------
        values : ndarray of shape (m, D)
        weights : ndarray of shape (m,) or None
        n_valid : int
        """
        if self.n_samples <= size:
            return self.X, self.sample_weight, self.n_samples

        threshold = key_threshold(seed, self.n_samples, size)

        def one_chunk(start: int, stop: int):
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            rows = np.arange(start, stop, dtype=np.int64)
            return sample_chunk(self.X[start:stop], rows, seed, size, weights, threshold)

        sample = merge_samples(self.map(one_chunk), size)
        return sample.values, sample.weights, self.n_samples
