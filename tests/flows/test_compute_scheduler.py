"""``streamgmm.drivers.compute.compute_scheduler``: what it yields and what it refuses.

The LocalCluster case runs for real in the Parquet flow test and in one settings test here.
"""

from __future__ import annotations

import dask
import pytest

from streamgmm.core.errors import InvalidParameterError
from streamgmm.drivers.compute import compute_scheduler, describe_scheduler


@pytest.mark.parametrize("name", ["threads", "processes", "synchronous"])
def test_named_schedulers_are_yielded_as_is(name):
    with compute_scheduler(name) as scheduler:
        assert scheduler == name
        assert describe_scheduler(scheduler) == f"Dask '{name}' scheduler"


def test_thread_count_is_scoped_to_the_context():
    before = dask.config.get("num_workers", None)
    with compute_scheduler("threads", n_workers=3):
        assert dask.config.get("num_workers") == 3
    assert dask.config.get("num_workers", None) == before


@pytest.mark.parametrize(
    ("scheduler", "options", "match"),
    [
        ("threads", {"memory_limit": "1GB"}, "local-cluster"),
        ("processes", {"n_workers": 2}, "n_workers"),
        ("tcp://127.0.0.1:1", {"n_workers": 2}, "managed where it was started"),
        ("thread", {}, "not known"),
    ],
)
def test_options_that_do_not_apply_are_refused(scheduler, options, match):
    with pytest.raises(InvalidParameterError, match=match):
        with compute_scheduler(scheduler, **options):
            pass


def test_unreachable_scheduler_names_its_address():
    with pytest.raises(OSError, match="tcp://127.0.0.1:9"):
        with compute_scheduler("tcp://127.0.0.1:9", connect_timeout=1):
            pass


def test_local_cluster_workers_run_without_profiler_or_gil_monitor():
    """The cluster started here turns off the diagnostics that cost the passes CPU,
    in its worker processes, and leaves this process's settings as they were."""
    profile_before = dask.config.get("distributed.worker.profile.enabled")
    with compute_scheduler("local-cluster", n_workers=1, threads_per_worker=1) as client:
        settings = client.run(
            lambda: (
                dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.system-monitor.gil.enabled"),
            )
        )
        assert list(settings.values()) == [(False, False)]
        assert client.submit(sum, [1, 2, 3]).result() == 6
    assert dask.config.get("distributed.worker.profile.enabled") == profile_before
