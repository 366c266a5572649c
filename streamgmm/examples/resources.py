"""Wall time and peak resident memory of this process and all its children.

A background thread samples the RSS of the process tree (workers of a local
Dask cluster or a process pool are children) a few times per second, so the
peak is a lower bound that misses only spikes shorter than the interval.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

__all__ = ["ResourceMonitor", "ResourceUsage"]


@dataclass(frozen=True)
class ResourceUsage:
    """What a :class:`ResourceMonitor` measured.

    Attributes
    ----------
    wall_seconds : float
    peak_rss_bytes : int
        Largest sum of the resident set sizes of the process and its descendants
        (local Dask workers, process pools, Prefect's ephemeral API server).
    peak_own_rss_bytes : int
        Largest resident set size of this process alone.
    """

    wall_seconds: float
    peak_rss_bytes: int
    peak_own_rss_bytes: int = 0

    def describe(self) -> str:
        """``"12.3 s, peak RSS 456 MiB (process tree), 300 MiB (this process)"``."""
        return (
            f"{self.wall_seconds:.1f} s, peak RSS {self.peak_rss_bytes / 2**20:,.0f} MiB "
            f"(process tree), {self.peak_own_rss_bytes / 2**20:,.0f} MiB (this process)"
        )


def _rss() -> tuple[int, int]:
    """Resident bytes of this process, and of it with all its descendants."""
    import psutil

    process = psutil.Process()
    own = total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:  # a worker that exited between listing and reading
            pass
    return own, total


class ResourceMonitor:
    """Context manager measuring wall time and the peak RSS of the process tree.

    Parameters
    ----------
    interval : float, default 0.2
        Seconds between samples.

    Examples
    --------
    >>> with ResourceMonitor() as monitor:          # doctest: +SKIP
    ...     work()
    >>> print(monitor.usage.describe())             # doctest: +SKIP
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._peak = (0, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.usage: ResourceUsage | None = None

    def _record(self) -> None:
        own, total = _rss()
        self._peak = (max(self._peak[0], own), max(self._peak[1], total))

    def _sample(self) -> None:
        while True:
            self._record()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> ResourceMonitor:
        self._record()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, name="rss-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._record()
        own, total = self._peak
        self.usage = ResourceUsage(elapsed, total, own)
