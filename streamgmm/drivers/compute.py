"""Where Dask passes run: a context manager that yields a ``scheduler`` value.

``compute_scheduler(...)`` turns a compute setting (usually the ``compute``
section of a job config) into what ``GaussianMixture(scheduler=...)`` and
``write_predictions(scheduler=...)`` accept:

=================  ============================================================
scheduler          yields
=================  ============================================================
"auto"             "threads" or "local-cluster", by the data's size
                   (:func:`choose_scheduler`; ``data_nbytes`` is needed)
"threads"          "threads" (Dask's thread pool; ``n_workers`` threads if set)
"processes"        "processes" (a process per core)
"synchronous"      "synchronous" (one thread, for debugging)
"local-cluster"    a ``distributed.Client`` of a ``LocalCluster`` started here
                   and closed on exit (``n_workers`` default 2, one thread each)
"tcp://host:port"  a ``distributed.Client`` connected to that running scheduler
=================  ============================================================

The fitted model does not depend on the choice (see :mod:`.dask_rows`).

``"auto"`` (the default of a job's ``compute.scheduler``) runs the passes on
threads unless the data are large enough for a local cluster to pay for itself:
at least :data:`AUTO_CLUSTER_MIN_BYTES` and more than one core. A local cluster
of 2 workers costs about 1.5–2 s to start and stop on 2 cores, while a pass over
the example job's 12.8 MB takes 0.1 s on threads (whose kernels release the GIL):
below a gigabyte, passes take about a second or less, and the start-up would be
a large share of the job whatever the cluster saves. What a cluster adds (worker
processes, per-worker memory limits and spilling, a dashboard for long passes)
is worth its start-up for data of that size and more. The model is the same.

A local cluster listens on the loopback interface only (``host`` default
``127.0.0.1``): its scheduler, its workers and nannies, and its dashboard (on a
free port). Nothing is reachable from another machine unless ``host`` (and
``dashboard_address``) say so; ``dashboard_address=False`` starts no dashboard.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from ..config.network import DEFAULT_HOST, check_host, dashboard_listen_address, is_loopback
from ..core.errors import InvalidParameterError
from ..io.sizes import format_bytes

__all__ = [
    "AUTO_CLUSTER_MIN_BYTES",
    "LOCAL_SCHEDULERS",
    "choose_scheduler",
    "compute_scheduler",
    "describe_scheduler",
    "started_ahead",
]

logger = logging.getLogger(__name__)

LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
DEFAULT_CLUSTER_WORKERS = 2
#: ``"auto"`` starts a local cluster only for data of at least this many bytes (1 GiB).
AUTO_CLUSTER_MIN_BYTES = 2**30


def choose_scheduler(data_nbytes: int, cores: int | None = None) -> str:
    """What ``scheduler="auto"`` runs on: ``"local-cluster"`` or ``"threads"``.

    Parameters
    ----------
    data_nbytes : int
        Size of the rows as the passes hold them (rows x features x itemsize).
    cores : int, optional
        Cores of this machine (default ``os.cpu_count()``).

    Returns
    -------
    str
        ``"local-cluster"`` when the data take at least :data:`AUTO_CLUSTER_MIN_BYTES`
        and there is more than one core; ``"threads"`` otherwise (a cluster could
        not win back its start-up; on one core it runs nothing in parallel).
    """
    if cores is None:
        cores = os.cpu_count() or 1
    if data_nbytes >= AUTO_CLUSTER_MIN_BYTES and cores > 1:
        return "local-cluster"
    return "threads"


#: Settings of the clusters started here. The workers' statistical profiler (a stack
#: sample every 10 ms) and the GIL-contention monitor (every 1 ms) feed dashboard
#: panels; together they cost about 14% of the workers' CPU in an EM pass (measured
#: with 2 single-threaded workers on 2 cores), time the passes need. A cluster
#: started elsewhere and given by address keeps its own settings.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
}


@contextlib.contextmanager
def compute_scheduler(
    scheduler: str = "threads",
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
    host: str | None = None,
    dashboard_address: str | bool | None = None,
    connect_timeout: float = 30.0,
    data_nbytes: int | None = None,
) -> Iterator[Any]:
    """Start (or connect to) what runs the passes; stop what was started on exit.

    Parameters
    ----------
    scheduler : str, default "threads"
        "auto", "threads", "processes", "synchronous", "local-cluster", or the
        address of a running Dask scheduler (``tcp://...``, ``tls://...``).
    n_workers : int, optional
        Workers of the local cluster (default 2), or the size of the thread pool.
    threads_per_worker : int, optional
        Threads per local-cluster worker (default 1).
    memory_limit : str or int, optional
        Memory per local-cluster worker ("4GB", bytes, "auto"; default "auto").
    host : str, optional
        Interface the local cluster's scheduler, workers and nannies listen on
        (default ``127.0.0.1``: this machine only). "0.0.0.0" exposes them to the
        network.
    dashboard_address : str or bool, optional
        Where the local cluster's dashboard listens: ``"HOST:PORT"``, or ``":PORT"``
        on ``host``; default (None or True) a free port on ``host``; False: no
        dashboard.
    connect_timeout : float, default 30
        Seconds to wait for a remote scheduler.
    data_nbytes : int, optional
        Size of the data the passes will read; required by "auto"
        (:func:`choose_scheduler`), ignored otherwise.

    Yields
    ------
    str or distributed.Client
        The ``scheduler`` to pass to the library.

    Raises
    ------
    InvalidParameterError
        An unknown scheduler name, or options that do not apply to it.
    OSError
        The remote scheduler cannot be reached (the message names its address).
    """
    cluster_only = (threads_per_worker, memory_limit, host, dashboard_address)
    scheduler = _resolve(scheduler, data_nbytes, cluster_only)
    ahead = _STARTED_AHEAD.get((scheduler, n_workers, *cluster_only))
    if ahead is not None:
        yield ahead
        return
    if scheduler in LOCAL_SCHEDULERS:
        if any(value is not None for value in cluster_only):
            raise InvalidParameterError(
                f"threads_per_worker, memory_limit, host and dashboard_address apply to "
                f"'local-cluster' only, not to scheduler {scheduler!r}"
            )
        if n_workers is not None and scheduler != "threads":
            raise InvalidParameterError(
                f"n_workers applies to 'threads' and 'local-cluster' only, not to {scheduler!r}"
            )
        import dask

        options = {} if n_workers is None else {"num_workers": int(n_workers)}
        with dask.config.set(options):
            yield scheduler
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler == "local-cluster":
        listen = check_host(DEFAULT_HOST if host is None else host)
        dashboard = dashboard_listen_address(listen, dashboard_address)
        if not is_loopback(listen):
            logger.warning(
                "The local Dask cluster listens on %s (compute.host): reachable from other "
                "machines, without authentication", listen,
            )
        with _quiet_distributed_logs(), dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=DEFAULT_CLUSTER_WORKERS if n_workers is None else int(n_workers),
                threads_per_worker=1 if threads_per_worker is None else int(threads_per_worker),
                memory_limit="auto" if memory_limit is None else memory_limit,
                processes=True,
                host=listen,  # scheduler, workers and nannies
                # Dask binds a bare ":PORT" to every interface, whatever ``host`` says:
                # always give the interface. Port 0: never clash with another cluster.
                # Without a dashboard the scheduler still serves its health and metrics
                # routes over HTTP: on ``host`` too, on a free port.
                dashboard_address=dashboard or dashboard_listen_address(listen, None),
                scheduler_kwargs={"dashboard": dashboard is not None},
                silence_logs=logging.WARNING,
            )
            try:
                with Client(cluster) as client:
                    logger.info("Started %s", describe_scheduler(client))
                    yield client
            finally:
                cluster.close()
        return
    if "://" not in scheduler:
        raise InvalidParameterError(
            f"scheduler={scheduler!r} is not known; use one of {', '.join(LOCAL_SCHEDULERS)}, "
            "'local-cluster', or the address of a running Dask scheduler such as 'tcp://host:8786'"
        )
    if n_workers is not None or any(value is not None for value in cluster_only):
        raise InvalidParameterError(
            f"n_workers, threads_per_worker, memory_limit, host and dashboard_address cannot be "
            f"set for the running cluster at {scheduler}; its workers are managed where it was "
            "started"
        )
    try:
        client = Client(scheduler, timeout=connect_timeout)
    except OSError as exc:
        raise OSError(
            f"Cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s: {exc}. "
            "Check that it runs and the address, or use scheduler 'local-cluster'."
        ) from exc
    with client:
        logger.info("Connected to %s", describe_scheduler(client))
        yield client


def _resolve(scheduler: str, data_nbytes: int | None, cluster_only: tuple[Any, ...]) -> str:
    """The scheduler to run: ``scheduler`` itself, or what "auto" chooses for the data."""
    if scheduler != "auto":
        return scheduler
    if any(value is not None for value in cluster_only):
        raise InvalidParameterError(
            "threads_per_worker, memory_limit, host and dashboard_address apply to "
            "'local-cluster' only; choose scheduler 'local-cluster' to set them"
        )
    if data_nbytes is None:
        raise InvalidParameterError("scheduler 'auto' needs data_nbytes, the size of the data")
    chosen = choose_scheduler(data_nbytes)
    logger.info("Scheduler 'auto': %s for %s of data", chosen, format_bytes(data_nbytes))
    return chosen


#: The parameters of :func:`compute_scheduler` that only a local cluster takes.
_CLUSTER_ONLY = ("threads_per_worker", "memory_limit", "host", "dashboard_address")
#: Clusters started by :func:`started_ahead`, by the parameters that started them.
_STARTED_AHEAD: dict[tuple[Any, ...], Any] = {}


@contextlib.contextmanager
def started_ahead(scheduler: str = "threads", **options: Any) -> Iterator[None]:
    """Start now what ``compute_scheduler`` would start with these parameters; reuse it inside.

    A command starts its job's cluster while Prefect's API server starts (each takes
    seconds); the flow's own :func:`compute_scheduler` call with the same parameters
    then yields this cluster instead of starting another, and leaves it running. It
    is closed when this context exits. Threads, processes and the synchronous
    scheduler start nothing: for them this does nothing.

    Parameters
    ----------
    scheduler, **options
        As :func:`compute_scheduler` takes them.
    """
    cluster_only = tuple(options.get(name) for name in _CLUSTER_ONLY)
    resolved = _resolve(scheduler, options.pop("data_nbytes", None), cluster_only)
    key = (resolved, options.get("n_workers"), *cluster_only)
    if resolved in LOCAL_SCHEDULERS or key in _STARTED_AHEAD:
        yield
        return
    with compute_scheduler(resolved, **options) as client:
        _STARTED_AHEAD[key] = client
        try:
            yield
        finally:
            del _STARTED_AHEAD[key]


@contextlib.contextmanager
def _quiet_distributed_logs() -> Iterator[None]:
    """Warnings only from ``distributed`` while our own cluster runs, then as before.

    The in-process scheduler of a ``LocalCluster`` logs every connection and worker
    start/stop at INFO (and a traceback at INFO when a worker closes first on
    shutdown); that drowns a job's own progress lines.
    """
    import dask

    quiet = logging.getLogger("distributed")
    previous = quiet.level
    quiet.setLevel(max(logging.WARNING, previous))
    # Worker processes configure their logging when they import distributed, before
    # any setting arrives from the nanny; an environment variable set around their
    # spawn reaches them in time.
    spawn_environ = {"distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": "warning"}
    try:
        with dask.config.set(spawn_environ):
            yield
    finally:
        quiet.setLevel(previous)


def describe_scheduler(scheduler: Any) -> str:
    """One line naming the scheduler and, for a cluster, its workers and threads."""
    if isinstance(scheduler, str):
        return f"Dask '{scheduler}' scheduler"
    threads = scheduler.nthreads()
    return (
        f"Dask cluster at {scheduler.scheduler.address} "
        f"({len(threads)} workers, {sum(threads.values())} threads)"
    )
