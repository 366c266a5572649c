"""Whether a fit holds the rows in memory between its passes, and why.

Out of core, every EM iteration reads the data again: memory stays bounded by a
few chunks, and the read is a large part of each iteration (about 40% of a diag
iteration on local Zstandard Zarr). When the rows fit comfortably in the memory
of whoever runs the passes, reading them into that memory once, before the
first pass, makes every pass compute-only. That is opt-in (``persist=True``), or decided from the
data's size (``persist="auto"``): only when it clearly fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..io.sizes import format_bytes

# The parameter's domain is checked with the other estimator parameters.
from ..validation import PERSIST_CHOICES, check_persist

__all__ = ["PERSIST_CHOICES", "AUTO_PERSIST_FRACTION", "PersistDecision", "check_persist",
           "decide_persist"]

#: ``persist="auto"`` holds the rows only when they take at most this fraction of
#: the memory that would hold them: the rest is for the chunks in flight, Dask's
#: own bookkeeping and whatever else runs on the machine.
AUTO_PERSIST_FRACTION = 0.25


@dataclass(frozen=True)
class PersistDecision:
    """Whether to persist, and a sentence saying why (for the fit's log)."""

    persist: bool
    reason: str


def active_client(scheduler: Any) -> Any:
    """The ``distributed.Client`` the passes run on, or None for a local scheduler."""
    if scheduler is not None:
        return scheduler if hasattr(scheduler, "scheduler_info") else None
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:  # no client registered: Dask's local default scheduler
        return None


def _memory_budget(scheduler: Any) -> tuple[int | None, str]:
    """Bytes that could hold persisted rows, and where they would be held."""
    client = active_client(scheduler)
    if client is not None:
        workers = list(client.scheduler_info().get("workers", {}).values())
        limits = [int(w.get("memory_limit") or 0) for w in workers]
        if not limits or not all(limits):
            return None, "the workers' memory (some have no memory limit to check against)"
        return sum(limits), f"the memory limit of {len(limits)} worker(s)"
    import psutil

    return int(psutil.virtual_memory().available), "the memory available on this machine"


def decide_persist(setting: bool | str, n_bytes: int, scheduler: Any) -> PersistDecision:
    """Apply ``persist`` to a dataset of ``n_bytes`` (as computed) on ``scheduler``.

    Parameters
    ----------
    setting : {False, True, "auto"}
    n_bytes : int
        Size of the rows in memory, in their compute dtype.
    scheduler : str, distributed.Client or None
        As given to ``dask.compute``; None is the active scheduler.

    Returns
    -------
    PersistDecision
    """
    if setting is False:
        return PersistDecision(False, "persist=False: every pass reads the data")
    if setting is True:
        return PersistDecision(
            True, f"persist=True: {format_bytes(n_bytes)} of rows read into memory once, before the first pass"
        )
    if scheduler == "processes":
        return PersistDecision(
            False, "persist='auto' does not hold rows for the processes scheduler: they would "
            "be sent to its workers on every pass (use a local cluster, or persist=True)",
        )
    budget, where = _memory_budget(scheduler)
    if budget is None:
        return PersistDecision(False, f"persist='auto' cannot size {where}; every pass reads the data")
    limit = AUTO_PERSIST_FRACTION * budget
    if n_bytes <= limit:
        return PersistDecision(
            True, f"persist='auto': {format_bytes(n_bytes)} of rows fit within {AUTO_PERSIST_FRACTION:.0%} "
            f"of {where} ({format_bytes(budget)}); read into memory once, before the first pass",
        )
    return PersistDecision(
        False, f"persist='auto': {format_bytes(n_bytes)} of rows exceed {AUTO_PERSIST_FRACTION:.0%} of "
        f"{where} ({format_bytes(budget)}); every pass reads the data",
    )
