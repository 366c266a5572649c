"""Replay a recorded dataset as a live stream (for demos, examples and tests).

:func:`stream_order` puts the frames of a :class:`~streamgmm.datasets.FrameTable` in
stream order (label after label: speaker after speaker, activity after activity),
and two writers produce what real producers produce: :class:`ZarrAppender` grows an
append-only Zarr store with xarray's ``to_zarr(append_dim="sample")``, and
:class:`LandingFolderWriter` drops Parquet files into a folder, each written under a
hidden name and renamed when complete. For message brokers, :func:`paced_rows` and
:func:`encoded_messages` give the paced messages that each broker module's
``produce`` sends (``streamgmm replay``, :mod:`streamgmm.cli.replay`).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..datasets import FrameTable
from ..io.atomic import atomic_write_bytes
from .messages import encode_rows

__all__ = [
    "stream_order", "label_changes", "ZarrAppender", "LandingFolderWriter", "replay", "paced_rows",
    "encoded_messages",
]


def stream_order(table: FrameTable) -> np.ndarray:
    """Row order of the stream: by label, then training before test, then series, then time."""
    split_rank = (table.split == "test").astype(int)
    return np.lexsort((table.t, table.series, split_rank, table.label))


def label_changes(table: FrameTable, order: np.ndarray) -> np.ndarray:
    """Stream rows (indices into ``order``) where the label changes."""
    labels = table.label[order]
    return np.flatnonzero(labels[1:] != labels[:-1]) + 1


class ZarrAppender:
    """Creates a Zarr store (format 3) on the first write and appends along ``sample`` after.

    The store holds ``X`` (sample, feature) and the label and series id as coordinates.
    """

    def __init__(self, target: str | os.PathLike[str], table: FrameTable) -> None:
        self.target = Path(target)
        self.table = table
        if self.target.exists():
            raise FileExistsError(f"{self.target} exists; remove it first (a replay starts a new stream)")
        self._created = False

    def write(self, rows: np.ndarray) -> None:
        import xarray as xr

        table = self.table
        ds = xr.Dataset(
            {"X": (("sample", "feature"), table.X[rows])},
            coords={
                "feature": list(table.feature_names),
                "label": ("sample", table.label[rows].astype(str)),
                "series": ("sample", table.series[rows]),
            },
        )
        if not self._created:
            ds.to_zarr(self.target, zarr_format=3, mode="w-", consolidated=False,
                       encoding={"X": {"chunks": (len(rows), len(table.feature_names))}})
            self._created = True
        else:
            ds.drop_vars("feature").to_zarr(self.target, append_dim="sample", consolidated=False)


class LandingFolderWriter:
    """Drops one Parquet file per write into a folder, complete or not at all.

    Names sort in arrival order (a UTC timestamp and a counter); columns are the
    features plus ``series``.
    """

    def __init__(self, target: str | os.PathLike[str], table: FrameTable) -> None:
        self.target = Path(target)
        self.target.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.count = 0

    def write(self, rows: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = self.table
        columns = {name: table.X[rows, j] for j, name in enumerate(table.feature_names)}
        columns["series"] = table.series[rows]
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{self.count:06d}.parquet"
        encoded = io.BytesIO()
        pq.write_table(pa.table(columns), encoded)
        atomic_write_bytes(self.target / name, encoded.getvalue())  # complete, or not at all
        self.count += 1


def paced_rows(
    table: FrameTable, rows_per_write: int, *, rate: float | None = None, limit: int | None = None
) -> Iterator[np.ndarray]:
    """The table's row indices in stream order, ``rows_per_write`` at a time, paced at ``rate`` rows/s.

    Parameters
    ----------
    table : FrameTable
    rows_per_write : int
        Rows per append, file or message.
    rate : float, optional
        Rows per second (each block is yielded when a live producer would send it).
    limit : int, optional
        Only the first ``limit`` rows.

    Yields
    ------
    ndarray of int, shape (<= rows_per_write,)
    """
    order = stream_order(table)[:limit]
    started = time.monotonic()
    for start in range(0, len(order), rows_per_write):
        if rate:
            delay = started + start / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield order[start : start + rows_per_write]


def encoded_messages(table: FrameTable, blocks: Iterable[np.ndarray], fmt: str) -> Iterator[bytes]:
    """Each block of rows as one broker message in ``fmt`` (Arrow columns named by the features)."""
    columns = list(table.feature_names) if fmt == "arrow" else None
    for rows in blocks:
        yield encode_rows(np.asarray(table.X[rows], dtype=np.float64), fmt, columns=columns)


def replay(
    table: FrameTable,
    writer: ZarrAppender | LandingFolderWriter,
    rows_per_write: int,
    *,
    rate: float | None = None,
    limit: int | None = None,
) -> int:
    """Write the table's frames in stream order; returns the number of writes.

    Parameters
    ----------
    table : FrameTable
    writer : ZarrAppender or LandingFolderWriter
    rows_per_write : int
        Rows per append or file.
    rate : float, optional
        Rows per second (paces the writes like a live producer).
    limit : int, optional
        Replay only the first ``limit`` rows.
    """
    writes = 0
    for rows in paced_rows(table, rows_per_write, rate=rate, limit=limit):
        writer.write(rows)
        writes += 1
    return writes
