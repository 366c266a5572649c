"""``compute.scheduler: auto``: threads for small data, a local cluster from 1 GiB on; the same model.

The decision (:func:`streamgmm.drivers.compute.choose_scheduler`) is checked at its
boundaries; ``compute_scheduler("auto", ...)`` starts what it chose for real; and the
batch_fit flow under the Prefect test harness publishes bitwise the same model with
``auto`` as with a ``distributed`` local cluster.
"""

from __future__ import annotations

import importlib
from typing import Any

import dask
import numpy as np
import pytest

from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.core.errors import InvalidParameterError
from streamgmm.drivers.compute import (
    AUTO_CLUSTER_MIN_BYTES,
    choose_scheduler,
    compute_scheduler,
    started_ahead,
)
from streamgmm.registry import ModelRegistry

GIB = 2**30


@pytest.mark.parametrize(
    ("n_bytes", "cores", "expected"),
    [
        (0, 2, "threads"),
        (12_800_000, 2, "threads"),  # the example: 200,000 x 8 float64
        (AUTO_CLUSTER_MIN_BYTES - 1, 64, "threads"),
        (AUTO_CLUSTER_MIN_BYTES, 2, "local-cluster"),
        (100 * GIB, 16, "local-cluster"),
        (100 * GIB, 1, "threads"),  # one core: a cluster runs nothing in parallel
    ],
)
def test_the_rule_at_its_boundaries(n_bytes, cores, expected):
    assert choose_scheduler(n_bytes, cores=cores) == expected


def test_the_rule_counts_this_machines_cores_by_default():
    import os

    big = choose_scheduler(AUTO_CLUSTER_MIN_BYTES)
    assert big == ("local-cluster" if (os.cpu_count() or 1) > 1 else "threads")


def test_auto_on_small_data_runs_threads_with_n_workers_threads():
    before = dask.config.get("num_workers", None)
    with compute_scheduler("auto", n_workers=3, data_nbytes=1000) as scheduler:
        assert scheduler == "threads"
        assert dask.config.get("num_workers") == 3
    assert dask.config.get("num_workers", None) == before


def test_auto_on_large_data_starts_a_local_cluster():
    with compute_scheduler("auto", n_workers=1, data_nbytes=AUTO_CLUSTER_MIN_BYTES) as client:
        assert not isinstance(client, str)
        assert len(client.nthreads()) == 1
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "needs data_nbytes"),
        ({"data_nbytes": 10, "threads_per_worker": 1}, "choose scheduler 'local-cluster'"),
        ({"data_nbytes": 10, "memory_limit": "1GB"}, "choose scheduler 'local-cluster'"),
    ],
)
def test_auto_refuses_what_it_cannot_honour(options, match):
    with pytest.raises(InvalidParameterError, match=match):
        with compute_scheduler("auto", **options):
            pass


def _document(**compute: Any) -> dict[str, Any]:
    return {
        "data": {"uri": "data.zarr"},
        "model": {"n_components": 2},
        "registry": {"model": "m"},
        **({"compute": compute} if compute else {}),
    }


def test_auto_is_the_default_of_a_job():
    assert parse_config(_document()).compute.scheduler == "auto"
    assert parse_config(_document(scheduler="auto", n_workers=4)).compute.n_workers == 4


def test_a_local_cluster_key_with_auto_names_the_key_and_the_way_out():
    with pytest.raises(ConfigError, match=r"compute\.threads_per_worker.*'local-cluster'"):
        parse_config(_document(scheduler="auto", threads_per_worker=1))


@pytest.mark.usefixtures("prefect_harness")
def test_batch_fit_with_auto_publishes_the_model_of_a_local_cluster(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    """The same config run with ``auto`` (threads, for these few rows) and with a
    ``distributed`` local cluster: bitwise the same published parameters."""
    flows = importlib.import_module("streamgmm.orchestration.batch_fit")
    data = {"uri": str(small_zarr), "variable": "X"}
    auto = write_config(batch_fit_document(data, compute={"scheduler": "auto", "n_workers": 2}))
    cluster_folder = tmp_path / "cluster"
    cluster_folder.mkdir()
    cluster = cluster_folder / "batch_fit.yaml"
    cluster.write_text(
        auto.read_text().replace("scheduler: auto", "scheduler: local-cluster")
    )
    assert load_config(cluster).compute.scheduler == "local-cluster"

    flows.batch_fit(str(auto))
    flows.batch_fit(str(cluster))

    on_auto = ModelRegistry(auto.parent / "registry").load("small", "candidate")
    on_cluster = ModelRegistry(cluster_folder / "registry").load("small", "candidate")
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(
            getattr(on_auto.parameters, name), getattr(on_cluster.parameters, name), err_msg=name
        )
    assert on_auto.metadata.metrics.n_iter == on_cluster.metadata.metrics.n_iter


def test_a_cluster_started_ahead_is_reused_and_outlives_the_inner_context():
    """What a command starts while Prefect's API starts is what the flow's
    ``compute_scheduler`` call with the same parameters yields, not a second cluster."""
    with started_ahead("auto", n_workers=1, data_nbytes=AUTO_CLUSTER_MIN_BYTES):
        with compute_scheduler("auto", n_workers=1, data_nbytes=AUTO_CLUSTER_MIN_BYTES) as client:
            first = client
        assert first.status == "running"  # the inner context left it running
        with compute_scheduler("local-cluster", n_workers=1) as client:
            assert client is first
        with compute_scheduler("local-cluster", n_workers=2) as other:
            assert other is not first  # other parameters: a cluster of their own
    assert first.status == "closed"


def test_nothing_is_started_ahead_for_threads():
    with started_ahead("auto", n_workers=2, data_nbytes=1000):
        with compute_scheduler("auto", n_workers=2, data_nbytes=1000) as scheduler:
            assert scheduler == "threads"
