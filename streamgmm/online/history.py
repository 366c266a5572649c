"""A per-batch log of a stream, for monitoring and plots: ``batches.csv`` beside the state.

One line per committed batch: ``batch, rows_read, mean_log_likelihood, step_size,
anomalies, drift_alarm, time``, in batch order.

The committed state is authoritative and the log is derived from it: the runner
builds a batch's line *before* the commit and commits it inside the state
(``RunnerState.history_row``), then appends it here. A crash between the commit
and the append, or in the middle of the append, therefore loses nothing: when the
runner starts, :meth:`BatchHistory.reconcile` cuts a torn last line and any line
past the committed batch, and appends the committed batch's line if it is
missing. After any crash, the log holds exactly one line per committed batch
(for streams committed by this version; a line lost by an older version cannot be
rebuilt and is reported). The repair reads only the end of the file.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["BatchHistory", "read_history", "history_row", "HISTORY_FILENAME"]

logger = logging.getLogger("streamgmm.online")

HISTORY_FILENAME = "batches.csv"
_COLUMNS = ("batch", "rows_read", "mean_log_likelihood", "step_size", "anomalies", "drift_alarm", "time")
#: Bytes read at a time when looking for the last lines.
_TAIL_BLOCK = 1 << 16


def history_row(
    state: Any, batch_log_likelihood: float, step_size: float, anomalies: int, alarm: bool
) -> tuple[str, ...]:
    """The log line of the batch that ``state`` (its counters after the batch) commits."""
    return (
        str(state.count("batches")), str(state.count("rows_read")), repr(float(batch_log_likelihood)),
        repr(float(step_size)), str(int(anomalies)), str(int(bool(alarm))), f"{time.time():.3f}",
    )


def _line(row: Sequence[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow(row)  # "\r\n"-terminated, as the log has always been written
    return text.getvalue().encode()


def _batch_of(line: bytes) -> int | None:
    """The batch number of a complete log line, None for the header or a malformed line."""
    fields = line.decode(errors="replace").rstrip("\r\n").split(",")
    if len(fields) != len(_COLUMNS):
        return None
    try:
        return int(fields[0])
    except ValueError:
        return None


class BatchHistory:
    """The ``batches.csv`` of one stream, kept in step with its committed state.

    Parameters
    ----------
    state_dir : path-like
        The stream's state folder.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / HISTORY_FILENAME

    def append(self, row: Sequence[str]) -> None:
        """Append one batch's line (after its commit); the header first in a new file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as stream:
            if stream.tell() == 0:
                stream.write(_line(_COLUMNS))
            stream.write(_line(row))

    def set_aside(self) -> Path | None:
        """Rename a log left without a committed state (the stream restarts afresh).

        Its lines describe batches that no state holds any more (the state was
        deleted or moved); they are kept, under ``batches-before-<time>.csv``,
        not mixed into the new stream's log. Returns the new name, if any.
        """
        if not self.path.exists():
            return None
        target = self.path.with_name(f"batches-before-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9}.csv")
        os.replace(self.path, target)
        logger.warning("%s belongs to no committed state: kept as %s; the new stream logs afresh", self.path, target)
        return target

    def reconcile(self, committed_batches: int, committed_row: Sequence[str] | None) -> None:
        """Make the log end exactly at the committed batch.

        Cuts a last line torn by a crash and every line of a batch after
        ``committed_batches`` (uncommitted work, or a state restored from an
        older copy), then appends ``committed_row`` if the log ends one batch
        short (a crash between the commit and the append).

        Parameters
        ----------
        committed_batches : int
            The committed state's batch counter.
        committed_row : sequence of str or None
            The committed state's ``history_row`` (None in a state written by an
            older version, or before the first batch).
        """
        if not self.path.exists():
            if committed_row is not None and committed_batches > 0:
                if committed_batches > 1:
                    logger.warning(
                        "%s is missing; batches 1-%d of the committed stream cannot be logged again, "
                        "only batch %d", self.path, committed_batches - 1, committed_batches,
                    )
                self.append(committed_row)
            return
        last = self._cut_after(committed_batches)
        if last == committed_batches:
            return
        if committed_row is not None and int(committed_row[0]) == committed_batches and committed_batches > 0:
            if last is not None and last < committed_batches - 1:
                logger.warning(
                    "%s ends at batch %d but the state committed batch %d; batches %d-%d cannot be "
                    "logged again (lost by an older streamgmm)",
                    self.path, last, committed_batches, last + 1, committed_batches - 1,
                )
            logger.info("logging committed batch %d again in %s (lost by a crash)", committed_batches, self.path)
            self.append(committed_row)
        elif committed_batches > 0:
            logger.warning(
                "%s ends at batch %s but the state committed batch %d (a state of an older "
                "streamgmm without its log line); the missing lines cannot be rebuilt",
                self.path, last, committed_batches,
            )

    def _cut_after(self, committed_batches: int) -> int | None:
        """Truncate a torn last line and lines past ``committed_batches``; the last batch kept.

        Reads backwards from the end, a block at a time: only the lines to cut and
        the last kept one are read, whatever the length of the log.
        """
        header = _line(_COLUMNS).rstrip(b"\r\n")
        last: int | None = None
        with open(self.path, "r+b") as stream:
            size = stream.seek(0, os.SEEK_END)
            end = scan = size  # the log is kept up to ``end``; lines before ``scan`` are unread
            while scan > 0:
                start = _line_start(stream, scan)
                stream.seek(start)
                line = stream.read(scan - start)
                if line.rstrip(b"\r\n") == header:
                    break
                batch = _batch_of(line) if line.endswith(b"\n") else None
                if not line.endswith(b"\n") or (batch is not None and batch > committed_batches):
                    end = start  # a torn line, or one of an uncommitted batch: cut from it
                elif batch is not None:
                    last = batch
                    break
                # A malformed complete line (torn by an older version) is kept and passed.
                scan = start
            if end < size:
                logger.info(
                    "cut %d byte(s) of %s after committed batch %d (uncommitted or torn lines)",
                    size - end, self.path, committed_batches,
                )
                stream.truncate(end)
        if end == 0:  # nothing, not even the header, is left: the next append starts afresh
            self.path.unlink()
        return last


def _line_start(stream: Any, end: int) -> int:
    """Offset where the line that ends at ``end`` (its newline included) starts."""
    position = end - 1  # past the line's own newline
    while position > 0:
        start = max(0, position - _TAIL_BLOCK)
        stream.seek(start)
        found = stream.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


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
