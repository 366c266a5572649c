"""The select_k flow, run for real under the Prefect test server on small Zarr and Parquet data.

The winner must be the data's true K, bitwise equal to a direct fit of that candidate
alone; its registry metadata must record every candidate's BIC and AIC; the artifacts
(read back through the Prefect API), plots and predictions are checked.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import streamgmm
from streamgmm.config import ConfigError, load_config
from streamgmm.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_harness")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def flows_module() -> Any:
    """``streamgmm.orchestration.select_k``, imported once the test server is up."""
    return importlib.import_module("streamgmm.orchestration.select_k")


def _direct_fit(config: Any, k: int, covariance_type: str) -> streamgmm.GaussianMixture:
    rows = streamgmm.open_rows(config.data.uri, **config.data.open_options())
    return streamgmm.GaussianMixture(
        k, covariance_type=covariance_type, nan_policy=config.data.nan_policy,
        **config.model.common_params(),
    ).fit(rows)


def _table_rows(artifact: Any) -> list[dict[str, Any]]:
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else list(data)


def test_select_k_on_zarr_recovers_k_and_publishes_the_winner(
    flows_module, small_zarr, select_k_document, write_config
):
    from prefect.artifacts import Artifact

    document = select_k_document(
        {"uri": str(small_zarr), "variable": "X"},
        outputs={"predictions": "predictions.zarr", "reports": "reports"},
    )
    path = write_config(document, "select_k.yaml")
    config = load_config(path, kind="select_k")

    result = flows_module.select_k(str(path))

    assert result.candidates == ((2, "full"), (3, "full"), (4, "full"),
                                 (2, "diag"), (3, "diag"), (4, "diag"))
    assert result.candidates[result.chosen] == (3, "full")  # the data's true K
    bics = [m.bic for m in result.metrics]
    assert result.chosen == int(np.argmin(bics)) and result.criterion == "bic"
    assert 1 <= result.n_passes <= config.model.max_iter

    direct = _direct_fit(config, 3, "full")
    registry = ModelRegistry(path.parent / "registry")
    version = registry.load("small-selected", "candidate")
    assert (version.version, result.version, result.location) == (1, 1, version.location)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(
            getattr(version.parameters, name), getattr(direct.parameters_, name), err_msg=name
        )
    meta = version.metadata
    assert meta.training_config["job"] == "select_k"
    assert list(meta.training_config["model"]["n_components"]) == [2, 3, 4]
    assert meta.metrics.bic == pytest.approx(direct.bic(str(small_zarr)), rel=1e-10)
    assert meta.metrics.n_iter == direct.n_iter_ and meta.metrics.lower_bound == direct.lower_bound_
    selection = meta.metrics.extra["selection"]
    assert selection["criterion"] == "bic"
    assert dict(selection["chosen"]) == {"n_components": 3, "covariance_type": "full"}
    recorded = [(c["n_components"], c["covariance_type"]) for c in selection["candidates"]]
    assert recorded == [tuple(c) for c in result.candidates]
    assert [c["bic"] for c in selection["candidates"]] == pytest.approx(bics)
    assert all(isinstance(c["aic"], float) for c in selection["candidates"])

    predictions = zarr.open_group(path.parent / "predictions.zarr", mode="r")
    np.testing.assert_array_equal(
        predictions["labels"][:], direct.predict(str(small_zarr)).compute()
    )

    assert set(result.plots) == {
        "BIC and AIC per number of components",
        "Clusters of the chosen model on the first two principal axes",
    }
    for png in result.plots.values():
        assert Path(png).parent == path.parent / "reports"
        assert Path(png).read_bytes()[:8] == PNG_SIGNATURE

    table = Artifact.get("select-k-small-selected-candidates")
    assert table.type == "table" and str(table.id) == result.artifacts[table.key]
    rows = _table_rows(table)
    assert [(r["n_components"], r["covariance_type"]) for r in rows] == recorded
    assert [r["chosen"] for r in rows] == ["", "yes", "", "", "", ""]
    assert rows[1]["delta_bic"] == 0.0 and all(r["delta_bic"] >= 0 for r in rows)
    summary = Artifact.get("select-k-small-selected-summary")
    assert summary.type == "markdown"
    assert "K=3 (full) chosen by BIC" in summary.data
    assert "small-selected:1" in summary.data and result.location in summary.data
    for title, png in result.plots.items():
        assert str(png) in summary.data
        assert f"![{title}](data:image/png;base64," in summary.data  # shown in Prefect's UI

    lines = result.summary_lines()
    assert lines[0] == "model small-selected version 1"
    assert any("K=3 full by BIC among 6 candidates" in line for line in lines)
    assert sum("<- chosen" in line for line in lines) == 1


def test_select_k_on_parquet_by_aic_with_nan_rows_dropped(
    flows_module, small_parquet, select_k_document, write_config
):
    document = select_k_document(
        {"uri": str(small_parquet), "columns": ["x0", "x1", "x2"], "nan_policy": "drop"},
        selection={"criterion": "aic"},
        compute={"scheduler": "synchronous"},
    )
    document["model"]["covariance_type"] = "full"
    path = write_config(document, "select_k.yaml")

    result = flows_module.select_k(str(path))

    assert result.criterion == "aic" and len(result.candidates) == 3
    aics = [m.aic for m in result.metrics]
    assert result.chosen == int(np.argmin(aics))
    assert all(m.n_samples == 6_000 - 2 and m.n_invalid_rows == 2 for m in result.metrics)
    k, covariance_type = result.candidates[result.chosen]
    version = ModelRegistry(path.parent / "registry").load("small-selected")
    assert (version.metadata.n_components, version.metadata.covariance_type) == (k, covariance_type)
    assert version.metadata.metrics.extra["selection"]["criterion"] == "aic"
    assert result.predictions is None


def test_existing_predictions_are_refused_before_any_work(
    flows_module, small_zarr, select_k_document, write_config, tmp_path
):
    (tmp_path / "p.zarr").mkdir()
    path = write_config(
        select_k_document({"uri": str(small_zarr)}, outputs={"predictions": "p.zarr"}),
        "select_k.yaml",
    )
    with pytest.raises(ConfigError, match=re.escape(f"{path}: outputs.predictions:")):
        flows_module.select_k(str(path))
    assert not (tmp_path / "registry").exists()
