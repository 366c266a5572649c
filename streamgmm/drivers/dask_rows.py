"""Map-reduce EM passes over a Dask array of rows, on any Dask scheduler.

One EM iteration is one ``dask.compute``: every row chunk is read and reduced
to its sufficient statistics by the fused kernel, and the statistics are
merged pairwise in a fixed tree over chunk order. Only the small statistics
travel; memory is bounded by a few chunks per worker, never by N. Several
models (model selection) share one pass: each chunk is read once and every
model's kernel runs on it in the same task (:meth:`DaskRows.statistics_many`).
The tree
shape (not the scheduler, not the number of workers, not the order in which
tasks finish) fixes the floating-point result, and every kernel runs with a
single BLAS thread, so threads, processes and ``dask.distributed`` give the
same model bit for bit, equal to the in-memory driver's on the same chunking.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..core.errors import InvalidInputError, ValuesTooLargeError
from ..core.estep import NaturalForm, chunk_posteriors, chunk_statistics
from ..core.finite import magnitude_problem, remedy, statistics_finite
from ..core.sampling import RowSample, key_threshold, merge_samples, sample_chunk
from ..core.statistics import SufficientStatistics
from ..validation import finite_row_mask
from .in_memory import single_threaded_blas
from .persist import check_persist, decide_persist

__all__ = ["DaskRows", "NAN_POLICIES", "limit_blas_in_worker"]

NAN_POLICIES = ("raise", "drop")

logger = logging.getLogger(__name__)

# Processes that drive a fit (they wrap every compute in a BLAS limit of their own).
_DRIVER_PIDS: set[int] = set()
_WORKER_LIMITED = False


def limit_blas_in_worker() -> None:
    """Hold BLAS to one thread in a worker process, once per process.

    Worker processes (Dask's process pool, ``distributed`` workers) start
    with the library default (all cores); with several workers per machine
    that oversubscribes the cores and, worse, can change rounding. The driver
    process itself is left alone: it limits BLAS only around its own computes.
    """
    global _WORKER_LIMITED
    if _WORKER_LIMITED or os.getpid() in _DRIVER_PIDS:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    _WORKER_LIMITED = True


@dataclass(frozen=True)
class InvalidRows:
    """Rows with NaN or infinite values found in a pass.

    Attributes
    ----------
    count : int
    first_row : int or None
        Global index of the first such row.
    first_chunk : int or None
        Chunk that holds it.
    """

    count: int = 0
    first_row: int | None = None
    first_chunk: int | None = None

    def merge(self, other: "InvalidRows") -> "InvalidRows":
        if self.first_row is None or (other.first_row is not None and other.first_row < self.first_row):
            first_row, first_chunk = other.first_row, other.first_chunk
        else:
            first_row, first_chunk = self.first_row, self.first_chunk
        return InvalidRows(self.count + other.count, first_row, first_chunk)


def _valid_rows(block: np.ndarray, offset: int, chunk: int) -> tuple[np.ndarray | None, InvalidRows]:
    """Mask of finite rows (None when all are) and the invalid-row report."""
    finite = finite_row_mask(block)
    if finite is None:
        return None, InvalidRows()
    first = int(np.argmin(finite))
    return finite, InvalidRows(int((~finite).sum()), offset + first, chunk)


@dataclass(frozen=True)
class _RowRange:
    """Rows ``start..stop-1`` of a storage reader, read inside the task that uses them."""

    reader: Any
    start: int
    stop: int

    def read(self) -> np.ndarray:
        return self.reader.read_rows(self.start, self.stop)


def _materialise(block: Any) -> np.ndarray:
    return block.read() if isinstance(block, _RowRange) else np.asarray(block)


def _weights_block(weights: Any) -> np.ndarray | None:
    return None if weights is None else np.asarray(weights, dtype=np.float64).ravel()


def _valid_block(block: Any, weights: Any, offset: int, chunk: int
                 ) -> tuple[np.ndarray, np.ndarray | None, InvalidRows]:
    """Read a chunk and keep its finite rows (and their weights)."""
    block = _materialise(block)
    weights = _weights_block(weights)
    mask, invalid = _valid_rows(block, offset, chunk)
    if mask is not None:
        block = block[mask]
        weights = None if weights is None else weights[mask]
    return block, weights, invalid


def _chunk_pass(block: np.ndarray, weights: Any, form: NaturalForm, offset: int, chunk: int,
                drop: bool) -> tuple[SufficientStatistics, InvalidRows]:
    """Kernel of one chunk: statistics of its valid rows, plus its invalid-row report."""
    limit_blas_in_worker()
    block, weights, invalid = _valid_block(block, weights, offset, chunk)
    return chunk_statistics(block, form, weights), invalid


def _chunk_magnitude(block: Any, dtype: np.dtype, shift: np.ndarray, offset: int) -> str | None:
    """Why a chunk's finite rows cannot be squared in ``dtype``, or None (rows numbered globally)."""
    limit_blas_in_worker()
    block = _materialise(block)
    finite = finite_row_mask(block)
    if finite is not None:  # rows NaN/inf are skipped (set to the reference), keeping row numbers
        block = np.array(block, copy=True)
        block[~finite] = shift
    return magnitude_problem(block, dtype, shift, offset)


def _merge_pass(a: tuple, b: tuple) -> tuple:
    return a[0].merge(b[0]), a[1].merge(b[1])


def _chunk_pass_many(block: Any, weights: Any, forms: Sequence[NaturalForm], offset: int,
                     chunk: int) -> tuple[tuple[SufficientStatistics, ...], InvalidRows]:
    """Kernel of one chunk for several models: the chunk is read once, each model reduces it.

    Each model's statistics are exactly what :func:`_chunk_pass` gives for it alone.
    """
    limit_blas_in_worker()
    block, weights, invalid = _valid_block(block, weights, offset, chunk)
    return tuple(chunk_statistics(block, form, weights) for form in forms), invalid


def _merge_pass_many(a: tuple, b: tuple) -> tuple:
    return tuple(x.merge(y) for x, y in zip(a[0], b[0])), a[1].merge(b[1])


def _chunk_log_likelihood_many(block: Any, forms: Sequence[NaturalForm], offset: int,
                               chunk: int) -> tuple[np.ndarray, int, InvalidRows]:
    """Per-model sums of the row log-likelihoods of a chunk's finite rows, and their count."""
    limit_blas_in_worker()
    block, _, invalid = _valid_block(block, None, offset, chunk)
    sums = np.array([float(chunk_posteriors(block, form)[0].sum()) for form in forms])
    return sums, len(block), invalid


def _merge_log_likelihood_many(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], a[2].merge(b[2])


def _chunk_sample(block: np.ndarray, weights: Any, offset: int, chunk: int, seed: int,
                  size: int, threshold: int) -> tuple[RowSample, InvalidRows, int]:
    block = _materialise(block)
    weights = _weights_block(weights)
    rows = np.arange(offset, offset + len(block), dtype=np.int64)
    mask, invalid = _valid_rows(block, offset, chunk)
    if mask is not None:
        block, rows = block[mask], rows[mask]
        weights = None if weights is None else weights[mask]
    return sample_chunk(block, rows, seed, size, weights, threshold), invalid, len(block)


def _merge_sample_pair(a: tuple, b: tuple, size: int) -> tuple:
    return merge_samples([a[0], b[0]], size), a[1].merge(b[1]), a[2] + b[2]


def _tree(parts: list, merge: Callable) -> Any:
    """Pairwise merge of delayed parts, the same tree as ``merge_in_order``."""
    import dask

    merge_delayed = dask.delayed(merge, pure=True)
    level = list(parts)
    while len(level) > 1:
        level = [
            merge_delayed(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


class DaskRows:
    """A lazy (n, D) Dask array as a source of EM passes.

    Parameters
    ----------
    array : dask.array.Array of shape (n, D)
        One chunk along the features.
    sample_weight : dask.array.Array of shape (n,), numpy array or None
    nan_policy : {"raise", "drop"}
        What to do with rows holding NaN or infinite values.
    where : str
        Description of the data for error messages (path, URL).
    scheduler : str, distributed.Client or None
        Passed to ``dask.compute``; None uses the active Dask scheduler.
    reader : object with ``read_rows(start, stop)``, optional
        The storage reader behind ``array`` (:class:`streamgmm.io.sources.ZarrRows`,
        ``ParquetRows``). With it, each task reads the chunk it reduces: a separate
        read task lets the scheduler read ahead of the reductions and hold many
        chunks at once.
    persist : {False, True, "auto"}
        Hold the rows in the scheduler's memory (the workers', for ``distributed``)
        from before the first pass, so that passes stop reading the data; "auto" does
        so only when they take at most a quarter of that memory (see
        :mod:`streamgmm.drivers.persist`). Decided at the first pass; see
        :attr:`persisted`. The passes give the same results either way.
    feature_names : sequence of str of length D, optional
        Column or coordinate names of the features, when the source has them.

    A :class:`streamgmm.engine.Driver`.
    """

    #: Every pass reads the rows from storage (or from where ``persist`` put them).
    out_of_core = True

    def __init__(self, array: Any, sample_weight: Any = None, nan_policy: str = "raise",
                 where: str = "the data", scheduler: Any = None, reader: Any = None,
                 persist: bool | str = False, *, feature_names: Sequence[str] | None = None
                 ) -> None:
        import dask.array as da

        if nan_policy not in NAN_POLICIES:
            raise InvalidInputError(
                f"nan_policy={nan_policy!r} is invalid: choose one of {', '.join(NAN_POLICIES)}"
            )
        check_persist(persist)
        self.array = array
        self.n_samples, self.n_features = (int(s) for s in array.shape)
        self.feature_names = None if feature_names is None else list(feature_names)
        self.nan_policy = nan_policy
        self.where = where
        self.scheduler = scheduler
        self.reader = reader
        self.offsets = np.concatenate([[0], np.cumsum(array.chunks[0])]).astype(np.int64)
        if sample_weight is not None:
            weights = sample_weight if isinstance(sample_weight, da.Array) else da.from_array(
                np.asarray(sample_weight, dtype=np.float64), chunks=(array.chunks[0],))
            if weights.shape != (self.n_samples,):
                raise InvalidInputError(
                    f"sample_weight has shape {weights.shape}; expected ({self.n_samples},)"
                )
            sample_weight = weights.rechunk((array.chunks[0],))
        self.sample_weight = sample_weight
        self.invalid_rows = InvalidRows()
        self.persist = persist
        self.persisted: bool | None = None  # decided at the first pass
        self._stored: tuple[Any, Any] | None = None  # (array, reader) before persisting
        self._pool = None
        _DRIVER_PIDS.add(os.getpid())

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of the rows."""
        return np.dtype(self.array.dtype)

    @property
    def n_invalid_rows(self) -> int:
        """Rows with NaN or infinite values found by the last pass (dropped or refused)."""
        return int(self.invalid_rows.count)

    def _compute_kwargs(self) -> dict[str, Any]:
        """Arguments for ``dask.compute``.

        Dask's "processes" scheduler starts (and imports everything into) a new
        process pool on every compute unless given one; a fit computes once per
        iteration, so the driver keeps one pool for its lifetime (see :meth:`close`).
        """
        if self.scheduler is None:
            return {}
        if self.scheduler == "processes":
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                from .in_memory import available_cores

                self._pool = ProcessPoolExecutor(
                    available_cores(), mp_context=multiprocessing.get_context("spawn")
                )
            return {"scheduler": "processes", "pool": self._pool}
        return {"scheduler": self.scheduler}

    def close(self) -> None:
        """Release the rows held in memory and the process pool, if any."""
        if self._stored is not None:
            self.array, self.reader = self._stored
            self._stored = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "DaskRows":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _hold_in_memory(self) -> None:
        """Apply ``persist`` once, before the first pass."""
        if self.persisted is not None:
            return
        n_bytes = self.n_samples * self.n_features * np.dtype(self.array.dtype).itemsize
        decision = decide_persist(self.persist, n_bytes, self.scheduler)
        self.persisted = decision.persist
        if self.persist is not False:
            logger.info("%s: %s", self.where, decision.reason)
        if not decision.persist:
            return
        import dask

        with single_threaded_blas():
            (held,) = dask.persist(self.array, **self._compute_kwargs())
        self._stored = (self.array, self.reader)
        self.array, self.reader = held, None

    def _blocks(self) -> list:
        """One item per row chunk: a (start, stop) read request, or a delayed block."""
        self._hold_in_memory()
        if self.reader is not None:
            return [_RowRange(self.reader, int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        return list(self.array.to_delayed().ravel())

    def _weight_blocks(self) -> list:
        if self.sample_weight is None:
            return [None] * len(self.offsets[:-1])
        return list(self.sample_weight.to_delayed().ravel())

    def _compute(self, root: Any) -> Any:
        import dask

        with single_threaded_blas():
            return dask.compute(root, **self._compute_kwargs())[0]

    def _check_invalid(self, invalid: InvalidRows) -> None:
        if invalid.count and self.nan_policy == "raise":
            chunk = invalid.first_chunk
            raise InvalidInputError(
                f"{self.where} contains NaN or infinite values in {invalid.count} row(s); the "
                f"first is row {invalid.first_row} (chunk {chunk}, rows "
                f"{self.offsets[chunk]}-{self.offsets[chunk + 1] - 1}). Clean the data, or set "
                "nan_policy='drop' to skip such rows (their number is recorded)."
            )
        self.invalid_rows = invalid

    # ------------------------------------------------------------------ passes
    def statistics(self, form: NaturalForm) -> SufficientStatistics:
        """One E-step pass over every chunk; merged statistics of the valid rows."""
        import dask

        form_key = dask.delayed(form, pure=True)
        kernel = dask.delayed(_chunk_pass, pure=True)
        drop = self.nan_policy == "drop"
        parts = [
            kernel(block, weights, form_key, int(self.offsets[i]), i, drop)
            for i, (block, weights) in enumerate(zip(self._blocks(), self._weight_blocks()))
        ]
        stats, invalid = self._compute(_tree(parts, _merge_pass))
        self._check_invalid(invalid)
        if not statistics_finite(stats):  # K-sized: free; the diagnosis pass only on failure
            self._raise_magnitude(form)
        return stats  # other non-finite statistics: the M-step names the iteration

    def _raise_magnitude(self, form: NaturalForm) -> None:
        """Raise ``ValuesTooLargeError`` naming the first chunk whose values cannot be squared.

        One more pass, made only when a pass's statistics were not finite: each chunk
        reports :func:`~streamgmm.core.finite.magnitude_problem` of its finite rows.
        """
        import dask

        kernel = dask.delayed(_chunk_magnitude, pure=True)
        problems = self._compute([
            kernel(block, form.dtype, form.shift, int(self.offsets[i]))
            for i, block in enumerate(self._blocks())
        ])
        for i, problem in enumerate(problems):
            if problem is not None:
                raise ValuesTooLargeError(
                    f"Cannot fit {self.where}, chunk {i} (rows {self.offsets[i]}-"
                    f"{self.offsets[i + 1] - 1}): {problem}. {remedy(form.dtype)}."
                )

    def statistics_many(self, forms: Sequence[NaturalForm]) -> list[SufficientStatistics]:
        """One E-step pass for several models at once: their statistics, in order.

        Every chunk is read once, in one task that runs each model's kernel on it,
        and each model's statistics are merged in the same tree as :meth:`statistics`
        uses: the result for a model is bitwise what :meth:`statistics` gives for it
        alone.
        """
        import dask

        if not forms:
            return []
        forms_key = dask.delayed(tuple(forms), pure=True)
        kernel = dask.delayed(_chunk_pass_many, pure=True)
        parts = [
            kernel(block, weights, forms_key, int(self.offsets[i]), i)
            for i, (block, weights) in enumerate(zip(self._blocks(), self._weight_blocks()))
        ]
        stats, invalid = self._compute(_tree(parts, _merge_pass_many))
        self._check_invalid(invalid)
        return list(stats)

    def log_likelihood_many(self, forms: Sequence[NaturalForm]) -> tuple[np.ndarray, int]:
        """One pass: the summed row log-likelihood of the valid rows under each model.

        Row log-likelihoods are those of ``score_samples`` (unweighted); rows with
        NaN or infinite values are left out (or raise, by ``nan_policy``).

        Returns
        -------
        sums : ndarray of shape (len(forms),)
        n_valid : int
            Rows that entered the sums.
        """
        import dask

        forms_key = dask.delayed(tuple(forms), pure=True)
        kernel = dask.delayed(_chunk_log_likelihood_many, pure=True)
        parts = [
            kernel(block, forms_key, int(self.offsets[i]), i)
            for i, block in enumerate(self._blocks())
        ]
        sums, n_valid, invalid = self._compute(_tree(parts, _merge_log_likelihood_many))
        self._check_invalid(invalid)
        return np.asarray(sums, dtype=np.float64), int(n_valid)

    def init_sample(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, int]:
        """A seeded uniform sample of at most ``size`` valid rows, in one pass.

        Returns
        -------
        values : ndarray of shape (m, D)
        weights : ndarray of shape (m,) or None
        n_valid : int
            Valid rows in the whole dataset.
        """
        import dask

        kernel = dask.delayed(_chunk_sample, pure=True)
        # With invalid rows dropped, rows past the threshold may be needed to fill the
        # sample; then fall back to keeping each chunk's own `size` smallest keys.
        threshold = (
            key_threshold(seed, self.n_samples, size) if self.nan_policy == "raise" else None
        )
        parts = [
            kernel(block, weights, int(self.offsets[i]), i, seed, size, threshold)
            for i, (block, weights) in enumerate(zip(self._blocks(), self._weight_blocks()))
        ]
        sample, invalid, n_valid = self._compute(_tree(parts, functools.partial(_merge_sample_pair, size=size)))
        self._check_invalid(invalid)
        return sample.values, sample.weights, int(n_valid)

    def posteriors(self, form: NaturalForm) -> tuple[Any, Any]:
        """Lazy row log-likelihoods (n,) and responsibilities (n, K), chunk by chunk."""
        def log_likelihood(block: np.ndarray) -> np.ndarray:
            limit_blas_in_worker()
            return chunk_posteriors(block, form)[0]

        def responsibilities(block: np.ndarray) -> np.ndarray:
            limit_blas_in_worker()
            return chunk_posteriors(block, form)[1]

        ll = self.array.map_blocks(log_likelihood, drop_axis=1, dtype=np.float64)
        resp = self.array.map_blocks(
            responsibilities, chunks=(self.array.chunks[0], (form.n_components,)), dtype=np.float64
        )
        return ll, resp

    def log_likelihood(self, form: NaturalForm) -> Any:
        """Lazy row log-likelihoods, shape (n,)."""
        return self.posteriors(form)[0]

    def responsibilities(self, form: NaturalForm) -> Any:
        """Lazy responsibilities, shape (n, K)."""
        return self.posteriors(form)[1]

    def labels(self, form: NaturalForm) -> Any:
        """Lazy most probable component of every row, shape (n,)."""
        return self.posteriors(form)[1].argmax(axis=1)

    def compute(self, *arrays: Any) -> Any:
        """Compute lazy results with this driver's scheduler and BLAS limits."""
        import dask

        with single_threaded_blas():
            return dask.compute(*arrays, **self._compute_kwargs())
