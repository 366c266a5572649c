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
from typing import Callable, Iterator, TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from ..core.errors import ValuesTooLargeError
from ..core.estep import NaturalForm, chunk_statistics
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

    Parameters
    ----------
    X : ndarray of shape (n, D)
    sample_weight : ndarray of shape (n,) or None
    chunk_size : int
        Rows per chunk; the unit of parallel work and of reduction.
    n_jobs : int
        Worker threads.
    """

    def __init__(
        self, X: np.ndarray, sample_weight: np.ndarray | None, chunk_size: int, n_jobs: int
    ) -> None:
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)
        self.n_jobs = int(n_jobs)
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

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

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
