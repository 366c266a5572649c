"""A ``distributed`` worker process killed with SIGKILL in the middle of an EM pass.

A real two-worker, process-based ``LocalCluster``: while a checkpointed fit runs on it, a
watcher thread waits until the fit has completed some iterations and a worker is executing
tasks of the current pass, then ``kill -9``\\s that worker's process (twice, at different
iterations, not waiting for the nanny's replacement of the first victim). Dask must recompute what the dead worker held
(its running tasks, and with ``persist=True`` the rows it kept in memory), and the fit must
end bitwise equal to an uninterrupted synchronous fit. If the scheduler gives up instead
(``KilledWorker``), the fit must fail with that error and resume from its checkpoint to the
same model.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

from ooc_helpers import assert_same_model, estimator

from streamgmm.drivers.checkpoint import FitCheckpoint

MAX_ITER = 16
KILL_AT_ITERATIONS = (2, 5)
WAIT = 120.0  # seconds; generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def cluster_client():
    """A real two-worker, process-based LocalCluster, one thread per worker."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=WAIT)
        yield client


def _completed_iterations(checkpoint: Path) -> int:
    # Read the file itself: a FitCheckpoint is a writer and checks the folder it may write.
    path = checkpoint / "fit-checkpoint.npz"
    if not path.exists():
        return 0
    with np.load(path, allow_pickle=False) as arrays:  # replaced atomically: always whole
        return int(arrays["current_lower_bounds"].size) if "current_lower_bounds" in arrays else 0


class WorkerKiller(threading.Thread):
    """SIGKILL a busy worker process once the fit has completed each of ``at`` iterations."""

    def __init__(self, client: Client, checkpoint: Path, at: tuple[int, ...]) -> None:
        super().__init__(daemon=True)
        self.client, self.checkpoint, self.at = client, checkpoint, at
        self.killed: list[tuple[int, int, int]] = []  # (iteration, pid, tasks it was running)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for iteration in self.at:
                while _completed_iterations(self.checkpoint) < iteration:
                    if self.stop.wait(0.002):
                        return
                while True:  # a worker in the middle of this pass's tasks
                    busy = {a: keys for a, keys in self.client.processing().items() if keys}
                    if busy or self.stop.is_set():
                        break
                    time.sleep(0.001)
                if not busy:
                    return
                address, keys = next(iter(busy.items()))
                # run() executes in the worker's event loop, beside the busy task thread
                pid = self.client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                self.killed.append((_completed_iterations(self.checkpoint), pid, len(keys)))
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.mark.slow
@pytest.mark.parametrize("persist", [False, True], ids=["reading", "persisted"])
def test_worker_killed_mid_pass_gives_the_uninterrupted_model(cluster_client, zarr_data, tmp_path, persist):
    options = dict(max_iter=MAX_ITER, persist=persist)
    reference = estimator(scheduler="synchronous", **options).fit(str(zarr_data))
    checkpoint = tmp_path / "checkpoint"
    killer = WorkerKiller(cluster_client, checkpoint, KILL_AT_ITERATIONS)
    killer.start()
    try:
        fitted = estimator(scheduler=cluster_client, **options).fit(str(zarr_data), checkpoint=checkpoint)
        outcome = "completed despite the kills"
    except Exception as error:  # noqa: BLE001 - the clear failure allowed by the promise
        assert "KilledWorker" in type(error).__name__ or "worker" in str(error).lower(), error
        cluster_client.wait_for_workers(2, timeout=WAIT)
        fitted = estimator(scheduler=cluster_client, **options).fit(str(zarr_data), checkpoint=checkpoint)
        outcome = f"failed clearly ({type(error).__name__}) and resumed from its checkpoint"
    finally:
        killer.stop.set()
        killer.join(timeout=WAIT)
    assert killer.error is None, killer.error
    assert len(killer.killed) == len(KILL_AT_ITERATIONS), (
        f"the fit ended before every kill: {killer.killed}"
    )
    assert all(tasks > 0 for _, _, tasks in killer.killed), killer.killed
    print(f"workers killed at (iteration, pid, running tasks) {killer.killed}; the fit {outcome}")
    assert_same_model(fitted, reference, f"workers killed at {killer.killed}, fit {outcome}")
