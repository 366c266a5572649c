"""``streamgmm.drivers.compute.compute_scheduler``: what it yields and what it refuses.

The LocalCluster case runs for real in the Parquet flow test and in one settings test here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import dask
import psutil
import pytest

from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.config.network import dashboard_listen_address
from streamgmm.core.errors import InvalidParameterError
from streamgmm.drivers.compute import compute_scheduler, describe_scheduler

REPO = Path(__file__).resolve().parents[2]


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


def _listening(process: psutil.Process) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket of ``process`` and its children."""
    found = []
    for member in [process, *process.children(recursive=True)]:
        for connection in member.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                found.append((member.pid, connection.laddr.ip, connection.laddr.port))
    return found


def test_local_cluster_of_the_shipped_config_listens_on_loopback_only():
    """configs/select_k.yaml starts a local cluster: its scheduler, workers, nannies and
    dashboard all listen on 127.0.0.1 (the dashboard used to bind to 0.0.0.0)."""
    config = load_config(REPO / "configs" / "select_k.yaml", kind="select_k")
    assert config.compute.scheduler == "local-cluster"
    with compute_scheduler(**config.compute.scheduler_params()) as client:
        listening = _listening(psutil.Process())
        dashboard_port = client.scheduler_info()["services"]["dashboard"]
        assert urlparse(client.dashboard_link).port == dashboard_port
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        with urlopen(f"http://127.0.0.1:{dashboard_port}/status", timeout=10) as answer:
            assert answer.status == 200
    ports = {port for _, _, port in listening}
    assert dashboard_port in ports  # the dashboard runs, and was looked at
    assert len({pid for pid, _, _ in listening}) >= 3  # this process and the two workers
    assert [entry for entry in listening if entry[1] != "127.0.0.1"] == []


def test_dashboard_can_be_turned_off_and_placed():
    with compute_scheduler("local-cluster", n_workers=1, dashboard_address=False) as client:
        # The scheduler's HTTP server (health, metrics) still runs, on loopback and a
        # free port (not Dask's default 8787). (Whether /status answers is not checked:
        # distributed keeps a dashboard route of an earlier cluster in its config.)
        port = client.scheduler_info()["services"]["dashboard"]
        assert port != 8787
        with urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200
        listening = _listening(psutil.Process())
        assert all(address == "127.0.0.1" for _, address, _ in listening)
        assert client.submit(sum, [1, 2]).result() == 3
    assert dashboard_listen_address("127.0.0.1", ":8787") == "127.0.0.1:8787"
    assert dashboard_listen_address("::1", None) == "[::1]:0"
    assert dashboard_listen_address("127.0.0.1", "0.0.0.0:80") == "0.0.0.0:80"


@pytest.mark.parametrize(
    ("compute", "match"),
    [
        ({"scheduler": "local-cluster", "host": "tcp://127.0.0.1"}, "not an IP address or a host name"),
        ({"scheduler": "local-cluster", "dashboard_address": "8787"}, "not HOST:PORT or :PORT"),
        ({"scheduler": "local-cluster", "dashboard_address": "x:99999"}, "not HOST:PORT or :PORT"),
        ({"scheduler": "threads", "host": "127.0.0.1"}, "local-cluster"),
        ({"scheduler": "tcp://10.0.0.5:8786", "dashboard_address": False}, "local-cluster"),
    ],
)
def test_listen_addresses_are_validated_in_the_config(compute, match):
    with pytest.raises(ConfigError, match=match) as caught:
        parse_config({"data": {"uri": "x.zarr"}, "model": {"n_components": 2}, "compute": compute})
    assert "compute." in str(caught.value)


def test_listen_addresses_are_checked_by_compute_scheduler_too():
    with pytest.raises(InvalidParameterError, match="host"):
        with compute_scheduler("threads", host="127.0.0.1"):
            pass
    with pytest.raises(InvalidParameterError, match="not an IP address"):
        with compute_scheduler("local-cluster", host="http://me"):
            pass
