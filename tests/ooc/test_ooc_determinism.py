"""Same seed, data and chunking: bitwise the same model on every Dask scheduler and worker count.

Schedulers: synchronous, threads, processes, and a real ``distributed.LocalCluster`` with two
single-threaded worker processes (and with one). The statistics are merged in a fixed tree over
chunk order, so neither the scheduler, nor the number of workers, nor the order in which tasks
finish may change a single bit.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from ooc_helpers import assert_same_model, estimator, given_init

import streamgmm

# Each fit: (covariance_type, init) on the Zarr v3 data; kmeans exercises the sampling pass too.
SETTINGS = [("full", "kmeans"), ("diag", "given")]


@pytest.fixture(scope="module")
def cluster_client():
    """A real two-worker, process-based LocalCluster (one thread each), shared by the module."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        client.run(_import_streamgmm)  # pay the workers' imports here, not in the first test
        yield client


def _import_streamgmm() -> None:
    import streamgmm.drivers.dask_rows  # noqa: F401
    import streamgmm.io.sources  # noqa: F401


def _fit(X, source, covariance_type, init, scheduler):
    options = {} if init == "kmeans" else given_init(X, covariance_type)
    return estimator(covariance_type=covariance_type, scheduler=scheduler, **options).fit(source)


@pytest.fixture(scope="module")
def references(zarr3_path, X):
    """Synchronous-scheduler fits of each setting, and the in-memory fits they must equal."""
    refs = {}
    for covariance_type, init in SETTINGS:
        sync = _fit(X, str(zarr3_path), covariance_type, init, "synchronous")
        in_memory = _fit(X, X, covariance_type, init, None)
        assert_same_model(sync, in_memory, f"{covariance_type}/{init}: synchronous vs in-memory")
        refs[covariance_type, init] = sync
    return refs


@pytest.mark.parametrize("covariance_type, init", SETTINGS)
def test_threads_scheduler_is_bitwise_equal(references, zarr3_path, X, covariance_type, init):
    got = _fit(X, str(zarr3_path), covariance_type, init, "threads")
    assert_same_model(got, references[covariance_type, init], "threads vs synchronous")


@pytest.mark.slow  # shares the module's LocalCluster (about 5 s to start)
@pytest.mark.parametrize("covariance_type, init", SETTINGS)
def test_distributed_two_workers_is_bitwise_equal(references, cluster_client, zarr3_path, X,
                                                  covariance_type, init):
    with get_task_stream(cluster_client) as tasks:
        got = _fit(X, str(zarr3_path), covariance_type, init, cluster_client)
    assert_same_model(got, references[covariance_type, init], "LocalCluster(2 workers) vs synchronous")
    workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2, f"the chunk tasks ran on {workers}; expected both workers to take part"


@pytest.mark.slow  # shares the module's LocalCluster (about 5 s to start)
@pytest.mark.parametrize("covariance_type, init", SETTINGS)
def test_rows_persisted_in_worker_memory_fit_the_same_model(references, cluster_client, zarr3_path,
                                                            X, covariance_type, init):
    """persist='auto' sizes the data against the workers' memory limits and holds it there."""
    options = {} if init == "kmeans" else given_init(X, covariance_type)
    got = estimator(covariance_type=covariance_type, scheduler=cluster_client, persist="auto",
                    **options).fit(str(zarr3_path))
    assert got.persisted_ is True
    assert_same_model(got, references[covariance_type, init], "persisted on LocalCluster vs synchronous")
    deadline = time.monotonic() + 30  # the fit releases the held chunks when it ends
    while (held := sum(map(len, cluster_client.has_what().values()))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held == 0, f"{held} chunk(s) still held in worker memory after the fit"


@pytest.mark.slow  # shares the module's LocalCluster (about 5 s to start)
def test_distributed_parquet_source_is_bitwise_equal(cluster_client, parquet_path):
    """Parquet readers travel to worker processes too; compare with the synchronous scheduler."""
    rows = streamgmm.open_rows(str(parquet_path), columns=["x0", "x1", "x2"])
    sync = estimator(covariance_type="tied", scheduler="synchronous").fit(rows)
    got = estimator(covariance_type="tied", scheduler=cluster_client).fit(rows)
    assert_same_model(got, sync, "Parquet on LocalCluster vs synchronous")


@pytest.mark.slow  # shares the module's LocalCluster (about 5 s to start)
def test_distributed_predictions_equal_in_memory(cluster_client, zarr3_path, X):
    model = estimator(covariance_type="full", max_iter=3).fit(X)
    lazy = model.predict_proba(str(zarr3_path))
    got = lazy.compute(scheduler=cluster_client)
    assert np.array_equal(got, model.predict_proba(X)), "responsibilities computed on workers differ"


@pytest.mark.slow
def test_distributed_one_worker_is_bitwise_equal(references, zarr3_path, X):
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster, set_as_default=False) as client:
        for covariance_type, init in SETTINGS:
            got = _fit(X, str(zarr3_path), covariance_type, init, client)
            assert_same_model(got, references[covariance_type, init], "LocalCluster(1 worker) vs synchronous")


@pytest.mark.slow
def test_processes_scheduler_is_bitwise_equal(references, zarr3_path, X):
    for covariance_type, init in SETTINGS:
        got = _fit(X, str(zarr3_path), covariance_type, init, "processes")
        assert_same_model(got, references[covariance_type, init], "processes vs synchronous")
