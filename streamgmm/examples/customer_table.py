"""A synthetic customer table in Parquet: four behaviour columns, four overlapping segments.

Columns: ``customer_id`` (int64), ``annual_spend`` (currency per year),
``visits_per_month``, ``basket_size`` (items per visit), ``days_since_last_purchase``,
and ``true_segment`` (int32, the segment a row was drawn from; a real table would
not have it, the example uses it to score the clustering).

Each segment is a Gaussian with its own means and standard deviations and one
shared correlation pattern (big spenders visit more and fill bigger baskets;
frequent visitors bought recently). ``spread`` scales every standard deviation:
1 gives the realistic overlap the example shows, smaller values separate the
segments. Rows with a non-positive value are drawn again, so every value is
plausible (the segments are Gaussians truncated far in their tails).

Files ``part-00000.parquet``, ... hold ``rows_per_file`` rows each, drawn from
``default_rng([seed, file])``: the table depends on the seed and the file size only.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FEATURES", "SEGMENTS", "Segment", "segment_covariance", "write_customer_table"]

FEATURES = ("annual_spend", "visits_per_month", "basket_size", "days_since_last_purchase")

#: Correlations between the features inside a segment (same order as FEATURES).
CORRELATION = np.array([
    [1.0, 0.5, 0.4, -0.2],
    [0.5, 1.0, 0.0, -0.4],
    [0.4, 0.0, 1.0, 0.0],
    [-0.2, -0.4, 0.0, 1.0],
])


@dataclass(frozen=True)
class Segment:
    """One customer segment: its share of customers, means and standard deviations."""

    name: str
    weight: float
    means: tuple[float, float, float, float]
    sds: tuple[float, float, float, float]


SEGMENTS = (
    Segment("occasional", 0.35, (450.0, 1.2, 12.0, 40.0), (200.0, 0.55, 5.0, 18.0)),
    Segment("regular", 0.30, (1_400.0, 3.4, 17.0, 11.0), (450.0, 1.1, 6.0, 6.0)),
    Segment("bulk buyer", 0.20, (2_300.0, 1.8, 38.0, 22.0), (650.0, 0.7, 11.0, 10.0)),
    Segment("lapsing", 0.15, (800.0, 0.7, 18.0, 120.0), (360.0, 0.35, 7.0, 42.0)),
)


def segment_covariance(segment: Segment, spread: float = 1.0) -> np.ndarray:
    """The segment's (4, 4) covariance with every standard deviation times ``spread``."""
    sds = np.asarray(segment.sds) * spread
    return CORRELATION * np.outer(sds, sds)


def _draw(rng: np.random.Generator, segment: Segment, count: int, spread: float) -> np.ndarray:
    """``count`` rows of one segment, every value positive (rejected rows drawn again)."""
    factor = np.linalg.cholesky(segment_covariance(segment, spread))
    rows = np.empty((0, len(FEATURES)))
    while len(rows) < count:
        draws = np.asarray(segment.means) + rng.standard_normal((count, len(FEATURES))) @ factor.T
        rows = np.concatenate([rows, draws[(draws > 0).all(axis=1)]])
    return rows[:count]


def _table_part(first_id: int, count: int, spread: float, rng: np.random.Generator) -> dict:
    weights = np.array([s.weight for s in SEGMENTS])
    labels = rng.choice(len(SEGMENTS), size=count, p=weights / weights.sum())
    values = np.empty((count, len(FEATURES)))
    for k, segment in enumerate(SEGMENTS):
        members = labels == k
        values[members] = _draw(rng, segment, int(members.sum()), spread)
    columns: dict = {"customer_id": np.arange(first_id, first_id + count, dtype=np.int64)}
    columns.update({name: values[:, j] for j, name in enumerate(FEATURES)})
    columns["true_segment"] = labels.astype(np.int32)
    return columns


def write_customer_table(
    path: str | os.PathLike[str],
    n_customers: int,
    *,
    spread: float = 1.0,
    rows_per_file: int = 100_000,
    seed: int = 0,
) -> Path:
    """Write the table as a folder of Parquet files (replacing the folder).

    Parameters
    ----------
    path : path
        The folder.
    n_customers : int
    spread : float, default 1
        Multiplies every segment's standard deviations.
    rows_per_file : int, default 100,000
    seed : int, default 0

    Returns
    -------
    Path
        The folder.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    for index, first in enumerate(range(0, n_customers, rows_per_file)):
        count = min(rows_per_file, n_customers - first)
        rng = np.random.default_rng([seed, index])
        part = _table_part(1_000_000 + first, count, spread, rng)
        pq.write_table(pa.table(part), path / f"part-{index:05d}.parquet")
    return path
