"""A per-batch log of a stream, for monitoring and plots: ``batches.csv`` beside the state.

One line per committed batch: ``batch, rows_read, mean_log_likelihood, step_size,
anomalies, drift_alarm, time``. It is appended *after* each commit, so a crash can
leave a batch out (it is written again when the batch is repeated) or, if the crash
falls between a later commit and its line, repeat one; :func:`read_history` keeps
the last line of each batch. The committed state, not this log, is authoritative.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BatchHistory", "read_history", "HISTORY_FILENAME"]

HISTORY_FILENAME = "batches.csv"
_COLUMNS = ("batch", "rows_read", "mean_log_likelihood", "step_size", "anomalies", "drift_alarm", "time")


class BatchHistory:
    """Appends one line per committed batch to ``<state_dir>/batches.csv``."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / HISTORY_FILENAME

    def append(self, state: Any, batch_log_likelihood: float, step_size: float, anomalies: int, alarm: bool) -> None:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as stream:
            writer = csv.writer(stream)
            if new:
                writer.writerow(_COLUMNS)
            writer.writerow([
                state.count("batches"), state.count("rows_read"), repr(float(batch_log_likelihood)),
                repr(float(step_size)), anomalies, int(bool(alarm)), f"{time.time():.3f}",
            ])


def read_history(state_dir: str | Path) -> dict[str, np.ndarray]:
    """The log as columns (one entry per batch, in batch order; the last line of a batch wins).

    Returns
    -------
    dict of str to ndarray
        ``batch``, ``rows_read``, ``mean_log_likelihood``, ``step_size``, ``anomalies``,
        ``drift_alarm`` (bool), ``time``; empty arrays if nothing was logged.
    """
    path = Path(state_dir) / HISTORY_FILENAME
    rows: dict[int, list[str]] = {}
    if path.exists():
        with open(path, newline="") as stream:
            reader = csv.reader(stream)
            next(reader, None)
            for line in reader:
                if len(line) == len(_COLUMNS):  # a line torn by a crash is skipped
                    rows[int(line[0])] = line
    ordered = [rows[b] for b in sorted(rows)]
    columns = list(zip(*ordered)) if ordered else [() for _ in _COLUMNS]
    kinds = (int, int, float, float, int, bool, float)
    return {
        name: np.array([kind(int(v)) if kind is bool else kind(v) for v in values], dtype=kind if kind is not bool else bool)
        for name, kind, values in zip(_COLUMNS, kinds, columns)
    }
