"""Progress of long Dask passes for people watching a job: chunks done so far.

:class:`ChunkProgress` is a Dask callback for the local schedulers (threads,
processes, synchronous). While a compute runs it counts the chunk kernels that
finished and calls ``report(done, total, seconds)`` at most every ``interval``
seconds, and once more when the pass ends if it reported during it. Passes
shorter than the interval stay silent, so small jobs print nothing extra.

``dask.distributed`` runs tasks on its own scheduler, where local callbacks do
not fire; its dashboard (``Client.dashboard_link``) shows the same progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from dask.callbacks import Callback
from dask.utils import key_split

__all__ = ["CHUNK_TASKS", "ChunkProgress"]

#: Task names (``dask.utils.key_split``) of the per-chunk kernels of a pass: one per chunk.
CHUNK_TASKS = frozenset({
    "chunk_pass", "chunk_pass_many", "chunk_log_likelihood_many", "chunk_sample",
    "log_likelihood", "responsibilities",
})

#: ``report(done, total, seconds)``: chunks finished, chunks in the pass, seconds since it began.
ProgressReport = Callable[[int, int, float], None]


def _is_chunk_task(key: Any) -> bool:
    return key_split(key) in CHUNK_TASKS


class ChunkProgress(Callback):
    """Report chunks done during long passes (local Dask schedulers).

    Parameters
    ----------
    report : callable
        ``report(done, total, seconds)``.
    interval : float, default 10
        Seconds between reports within one pass; the first comes after this long.

    Examples
    --------
    >>> with ChunkProgress(lambda d, t, s: print(f"{d}/{t} chunks, {s:.0f} s")):  # doctest: +SKIP
    ...     model.fit("data/big.zarr")
    """

    def __init__(self, report: ProgressReport, interval: float = 10.0) -> None:
        super().__init__()
        self._report = report
        self._interval = float(interval)
        self._lock = threading.Lock()  # threads finish tasks concurrently
        self._total = self._done = 0
        self._started = self._last = 0.0
        self._reported = False

    def _start(self, dsk: Any) -> None:
        with self._lock:
            self._total = sum(1 for key in dsk if _is_chunk_task(key))
            self._done = 0
            self._started = self._last = time.perf_counter()
            self._reported = False

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if not self._total or not _is_chunk_task(key):
            return
        with self._lock:
            self._done += 1
            now = time.perf_counter()
            if now - self._last < self._interval:
                return
            self._last, self._reported = now, True
            done, total, seconds = self._done, self._total, now - self._started
        self._report(done, total, seconds)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._reported and not errored:
            self._report(self._done, self._total, time.perf_counter() - self._started)
