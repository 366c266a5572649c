"""Per-sample scores of a stream, written at the samples' positions in the stream.

A Zarr group with, along the ``sample`` dimension (row index in the stream):

``log_likelihood`` (float64, NaN for dropped rows), ``labels`` (int32, -1 for
dropped rows), ``anomaly`` (bool) and optionally ``responsibilities``
(float32, sample x component). Rows are written at fixed offsets, so a batch
repeated after a crash rewrites the same values (idempotent). Arrays grow by
doubling, which keeps metadata rewrites rare; rows past the stream's
``rows_read`` (recorded in the runner state and in published versions) are
unwritten fill values. xarray opens the group directly (dimension names are set).
"""

from __future__ import annotations


import numpy as np

__all__ = ["ScoreWriter"]

_CHUNK_ROWS = 65_536


class ScoreWriter:
    """Writes one batch's scores at its stream rows.

    Parameters
    ----------
    path : str
        Zarr store (created if missing).
    n_components : int
    responsibilities : bool
        Also store the (rows, K) responsibilities.
    """

    def __init__(self, path: str, n_components: int, responsibilities: bool = False) -> None:
        import zarr

        self.path = str(path)
        self.n_components = n_components
        self.responsibilities = responsibilities
        group = zarr.open_group(self.path, mode="a")
        specs = {
            "log_likelihood": ((0,), np.float64, np.nan, ("sample",)),
            "labels": ((0,), np.int32, -1, ("sample",)),
            "anomaly": ((0,), np.bool_, False, ("sample",)),
        }
        if responsibilities:
            specs["responsibilities"] = ((0, n_components), np.float32, np.nan, ("sample", "component"))
        self.arrays = {}
        for name, (shape, dtype, fill, dims) in specs.items():
            if name in group:
                self.arrays[name] = group[name]
                continue
            chunks = (_CHUNK_ROWS,) + shape[1:]
            self.arrays[name] = group.create_array(
                name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill, dimension_names=dims
            )

    def _ensure_rows(self, rows: int) -> None:
        for array in self.arrays.values():
            if array.shape[0] < rows:
                capacity = max(rows, 2 * array.shape[0], _CHUNK_ROWS)
                array.resize((capacity,) + array.shape[1:])

    def write(
        self,
        first_row: int,
        valid: np.ndarray,
        scores: np.ndarray,
        responsibilities: np.ndarray,
        flagged: np.ndarray,
    ) -> None:
        """Write the stream rows ``first_row .. first_row + len(valid) - 1``.

        Parameters
        ----------
        first_row : int
            Stream row of the batch's first row as read (dropped rows included).
        valid : ndarray of shape (n_rows,), bool
            Which rows of the batch were kept (and scored).
        scores : ndarray of shape (n_valid,)
        responsibilities : ndarray of shape (n_valid, K)
        flagged : ndarray of shape (n_valid,), bool
        """
        n_rows = valid.size
        stop = first_row + n_rows
        self._ensure_rows(stop)
        index = slice(None) if valid.all() else np.flatnonzero(valid)
        log_likelihood = np.full(n_rows, np.nan)
        labels = np.full(n_rows, -1, dtype=np.int32)
        anomaly = np.zeros(n_rows, dtype=bool)
        log_likelihood[index] = scores
        labels[index] = responsibilities.argmax(axis=1)
        anomaly[index] = flagged
        self.arrays["log_likelihood"][first_row:stop] = log_likelihood
        self.arrays["labels"][first_row:stop] = labels
        self.arrays["anomaly"][first_row:stop] = anomaly
        if self.responsibilities:
            block = np.full((n_rows, self.n_components), np.nan, dtype=np.float32)
            block[index] = responsibilities
            self.arrays["responsibilities"][first_row:stop] = block
