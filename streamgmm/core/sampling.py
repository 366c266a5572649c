"""A seeded uniform sample of rows whose content does not depend on chunking.

Every row ``i`` gets a pseudo-random key ``h(seed, i)`` (SplitMix64's
finaliser, vectorised); the sample is the ``m`` rows with the smallest keys.
Keys depend on row indices only, so the driver first finds the ``m``-th
smallest key without reading any data (:func:`key_threshold`, a few hundred
million hashes per second); each chunk then keeps just its rows at or below
it. One pass over any chunking, on any scheduler, selects the same rows, and
the chunks' partial samples add up to ``m`` rows in all, never ``m`` per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["row_keys", "key_threshold", "RowSample", "sample_chunk", "merge_samples"]

#: Rows hashed at a time while searching for the threshold key (32 MB of keys).
_THRESHOLD_BLOCK = 1 << 22

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def row_keys(seed: int, start: int, stop: int) -> np.ndarray:
    """Keys of rows ``start..stop-1`` for ``seed``, shape (stop - start,), uint64."""
    x = np.arange(start, stop, dtype=np.uint64)
    x ^= np.uint64((seed * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF)  # Python ints: no overflow
    with np.errstate(over="ignore"):  # uint64 arithmetic is meant to wrap around
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def key_threshold(seed: int, n_rows: int, size: int) -> int:
    """The ``size``-th smallest key among rows ``0..n_rows-1`` (the largest if fewer rows).

    Reads no data: keys depend on the row index only. Memory is bounded by
    ``size`` plus one block of keys.
    """
    if n_rows <= size:
        return int(np.iinfo(np.uint64).max)
    best = np.empty(0, dtype=np.uint64)
    for start in range(0, n_rows, _THRESHOLD_BLOCK):
        keys = np.concatenate([best, row_keys(seed, start, min(start + _THRESHOLD_BLOCK, n_rows))])
        if len(keys) > size:
            keys = np.partition(keys, size - 1)[:size]
        best = keys
    return int(best.max())


@dataclass(frozen=True)
class RowSample:
    """Sampled rows with their keys and global row indices (sorted by row).

    Attributes
    ----------
    keys : ndarray of shape (m,), uint64
    rows : ndarray of shape (m,), int64
        Global row indices.
    values : ndarray of shape (m, D)
    weights : ndarray of shape (m,) or None
    """

    keys: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    weights: np.ndarray | None


def _keep_smallest(sample: RowSample, size: int) -> RowSample:
    if len(sample.keys) > size:
        # lexsort on (row, key): ties in key are broken by row index, deterministically
        order = np.lexsort((sample.rows, sample.keys))[:size]
    else:
        order = np.arange(len(sample.keys))
    order = order[np.argsort(sample.rows[order], kind="stable")]
    return RowSample(
        keys=sample.keys[order],
        rows=sample.rows[order],
        values=sample.values[order],
        weights=None if sample.weights is None else sample.weights[order],
    )


def sample_chunk(
    values: np.ndarray,
    rows: np.ndarray,
    seed: int,
    size: int,
    weights: np.ndarray | None = None,
    threshold: int | None = None,
) -> RowSample:
    """The rows of one chunk that can be in the sample (at most ``size``).

    Parameters
    ----------
    values : ndarray of shape (n, D)
        The chunk's (valid) rows.
    rows : ndarray of shape (n,)
        Their global row indices.
    seed : int
    size : int
    weights : ndarray of shape (n,), optional
    threshold : int, optional
        :func:`key_threshold` of the whole dataset: rows with larger keys cannot
        be in the sample and are dropped at once.
    """
    rows = np.asarray(rows, dtype=np.int64)
    keys = row_keys(seed, 0, 0) if len(rows) == 0 else _keys_for(seed, rows)
    values = np.asarray(values)
    if threshold is not None:
        keep = keys <= np.uint64(threshold)
        keys, rows, values = keys[keep], rows[keep], values[keep]
        weights = None if weights is None else weights[keep]
    return _keep_smallest(RowSample(keys, rows, values, weights), size)


def _keys_for(seed: int, rows: np.ndarray) -> np.ndarray:
    """Keys of arbitrary (possibly non-contiguous, after dropped rows) row indices."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return row_keys(seed, int(rows[0]), int(rows[-1]) + 1)
    all_keys = row_keys(seed, int(rows.min()), int(rows.max()) + 1)
    return all_keys[rows - rows.min()]


def merge_samples(parts: list[RowSample], size: int) -> RowSample:
    """The ``size`` smallest-key rows of several chunk samples, sorted by row."""
    joined = RowSample(
        keys=np.concatenate([p.keys for p in parts]),
        rows=np.concatenate([p.rows for p in parts]),
        values=np.concatenate([p.values for p in parts]),
        weights=None if parts[0].weights is None else np.concatenate([p.weights for p in parts]),
    )
    return _keep_smallest(joined, size)
