"""The batch_fit flow, run for real under a Prefect test server on small Zarr and Parquet data.

Each run is checked against a direct ``streamgmm.GaussianMixture`` fit with the same
settings: the published parameters must be bitwise equal (same data, seed and chunking;
the scheduler does not matter). Then the registry version, its metadata, the
predictions, the plots and the Prefect artifacts are checked.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import streamgmm
from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_harness")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def flows_module() -> Any:
    """``streamgmm.orchestration.batch_fit``, imported once the test server is up."""
    return importlib.import_module("streamgmm.orchestration.batch_fit")


def _direct_fit(config: Any) -> streamgmm.GaussianMixture:
    rows = streamgmm.open_rows(config.data.uri, **config.data.open_options())
    return streamgmm.GaussianMixture(
        **config.model.estimator_params(), nan_policy=config.data.nan_policy
    ).fit(rows)


def _assert_same_parameters(published: Any, direct: Any) -> None:
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(published, name), getattr(direct, name), err_msg=name)


def _assert_artifacts(result: Any) -> None:
    from prefect.artifacts import Artifact

    assert len(result.artifacts) == 2
    for key, artifact_id in result.artifacts.items():
        stored = Artifact.get(key)
        assert stored is not None, key
        assert str(stored.id) == artifact_id
    table = Artifact.get(f"batch-fit-{result.model}-metrics")
    assert table.type == "table"
    assert "bic" in str(table.data)
    summary = Artifact.get(f"batch-fit-{result.model}-summary")
    assert summary.type == "markdown"
    assert f"{result.model}:{result.version}" in summary.data
    assert result.location in summary.data
    for title, path in result.plots.items():
        assert str(path) in summary.data
        assert f"![{title}](data:image/png;base64," in summary.data  # shown in Prefect's UI


def test_batch_fit_on_zarr(flows_module, small_zarr, batch_fit_document, write_config):
    path = write_config(batch_fit_document({"uri": str(small_zarr), "variable": "X"}))
    config = load_config(path)

    result = flows_module.batch_fit(str(path))

    direct = _direct_fit(config)
    registry = ModelRegistry(path.parent / "registry")
    version = registry.load("small", "candidate")
    assert (version.name, version.version) == ("small", 1) == (result.model, result.version)
    assert version.location == result.location
    _assert_same_parameters(version.parameters, direct.parameters_)

    meta = version.metadata
    assert meta.metrics.n_iter == direct.n_iter_
    assert meta.metrics.converged is True
    assert meta.metrics.lower_bound == direct.lower_bound_
    assert meta.metrics.n_samples == 6_000
    assert meta.metrics.bic == pytest.approx(direct.bic(str(small_zarr)), rel=1e-10)
    assert meta.feature_names == ("x0", "x1", "x2")
    assert meta.training_config["job"] == "batch_fit"
    assert meta.training_config["model"]["seed"] == 3
    assert meta.data_source["uri"] == str(small_zarr)

    predictions = zarr.open_group(path.parent / "predictions.zarr", mode="r")
    np.testing.assert_array_equal(
        predictions["labels"][:], direct.predict(str(small_zarr)).compute()
    )
    assert predictions["responsibilities"].shape == (6_000, 3)

    assert set(result.plots) == {
        "Log-likelihood per EM iteration", "Clusters on the first two principal axes",
    }
    for png in result.plots.values():
        assert Path(png).parent == path.parent / "reports"
        assert Path(png).read_bytes()[:8] == PNG_SIGNATURE
    _assert_artifacts(result)

    # The same job again: the next version, bitwise the same model, predictions refused
    # before any work because overwrite is off.
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: outputs.predictions: .* already exists"):
        flows_module.batch_fit(str(path))
    assert registry.list_versions("small") == [1]


def test_batch_fit_on_parquet_local_cluster(
    flows_module, small_parquet, batch_fit_document, write_config
):
    """Parquet columns, NaN rows dropped, a real 2-worker LocalCluster: same model as threads."""
    document = batch_fit_document(
        {
            "uri": str(small_parquet),
            "format": "parquet",
            "columns": ["x0", "x1", "x2"],
            "nan_policy": "drop",
        },
        compute={"scheduler": "local-cluster", "n_workers": 2, "threads_per_worker": 1},
        outputs={"predictions": "predictions.zarr", "overwrite": True},
    )
    path = write_config(document)
    config = load_config(path)

    first = flows_module.batch_fit(str(path))
    second = flows_module.batch_fit(str(path))

    direct = _direct_fit(config)  # threads, in this process
    registry = ModelRegistry(path.parent / "registry")
    assert registry.list_versions("small") == [1, 2]
    assert (first.version, second.version) == (1, 2)
    for number in (1, 2):
        _assert_same_parameters(registry.load("small", number).parameters, direct.parameters_)
    metrics = registry.load("small").metadata.metrics
    assert metrics.n_samples == 6_000 - 2
    assert metrics.extra["n_invalid_rows"] == 2
    assert np.isfinite(metrics.bic)
    assert zarr.open_group(path.parent / "predictions.zarr", mode="r")["labels"].shape == (6_000,)
    _assert_artifacts(second)


def test_batch_fit_with_config_object(flows_module, small_zarr, batch_fit_document, tmp_path):
    """The flow that takes a config built in Python; nothing optional configured."""
    document = batch_fit_document(
        {"uri": str(small_zarr)},
        model={"n_components": 2, "covariance_type": "diag", "max_iter": 5, "tol": 0.0},
        compute={"scheduler": "synchronous"},
    )
    del document["outputs"]
    document["checkpoint"] = {"folder": "checkpoints"}
    config = parse_config(document, base_dir=tmp_path)

    result = flows_module.batch_fit_with_config(config)

    assert result.predictions is None
    assert any((tmp_path / "checkpoints").iterdir())
    assert result.metrics.n_iter == 5 and result.metrics.converged is False
    version = ModelRegistry(tmp_path / "registry").load("small")
    assert version.metadata.covariance_type == "diag"
    _assert_same_parameters(version.parameters, _direct_fit(config).parameters_)
    assert all(Path(p).parent == tmp_path / "reports" for p in result.plots.values())


def test_data_errors_fail_the_run_with_the_path(
    flows_module, batch_fit_document, write_config, tmp_path
):
    path = write_config(batch_fit_document({"uri": "missing.zarr"}))
    # Found by the config check in the first task, before any destination is created.
    with pytest.raises(ConfigError, match=r"data\.uri: .*missing\.zarr"):
        flows_module.batch_fit(str(path))
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize(
    ("error", "retried"),
    [(OSError("disk"), True), (TimeoutError("lock"), True), (ValueError("bad"), False),
     (streamgmm.InvalidInputError("no file"), False)],
)
def test_only_io_errors_are_retried(error, retried):
    from prefect.states import Failed

    from streamgmm.orchestration._shared import retry_on_io_error

    state = Failed(data=error)
    assert retry_on_io_error(None, None, state) is retried


def test_publish_is_retried_on_lock_timeouts_only():
    from prefect.states import Failed

    from streamgmm.orchestration._shared import retry_on_lock_timeout
    from streamgmm.registry.errors import RegistryLockTimeoutError

    retry = retry_on_lock_timeout
    assert retry(None, None, Failed(data=RegistryLockTimeoutError("held"))) is True
    assert retry(None, None, Failed(data=OSError("disk full"))) is False
