"""The score flow, run for real under the Prefect test server on small Zarr and Parquet data.

A registry (conftest ``published_registry``) holds model ``small``: version 1 (K=3,
alias production) and version 2 (K=2). Scores must equal the estimator's own
``predict``/``score_samples``; the summary, the artifacts (read back through the
Prefect API) and every mistake (missing model, bad alias, wrong features) are checked.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
from typing import Any

import numpy as np
import pytest
import zarr

import streamgmm
from streamgmm.config import ConfigError, load_config
from streamgmm.registry import ModelRegistry
from streamgmm.reporting import model_log_likelihood_quantile

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def flows_module() -> Any:
    """``streamgmm.orchestration.score``, imported once the test server is up."""
    return importlib.import_module("streamgmm.orchestration.score")


def test_score_zarr_with_an_alias_beside_the_input(
    flows_module, small_zarr, published_registry, score_document, write_config, tmp_path
):
    from prefect.artifacts import Artifact

    data = tmp_path / "incoming.zarr"
    shutil.copytree(small_zarr, data)
    document = score_document(
        {"uri": str(data), "variable": "X"}, published_registry, anomaly={"quantile": 0.01}
    )
    del document["outputs"]  # the default: beside the input, named after it
    path = write_config(document, "score.yaml")

    result = flows_module.score(str(path))

    version = ModelRegistry(published_registry).load("small", "production")
    model = streamgmm.GaussianMixture.from_version(version)
    assert (result.model, result.version, result.location) == ("small", 1, version.location)
    assert result.predictions == str(tmp_path / "incoming-scores.zarr")
    scores = zarr.open_group(result.predictions, mode="r")
    np.testing.assert_array_equal(scores["labels"][:], model.predict(str(data)).compute())
    np.testing.assert_array_equal(
        scores["log_likelihood"][:], model.score_samples(str(data)).compute()
    )
    assert scores["responsibilities"].shape == (6_000, 3)

    summary = result.summary
    assert (summary.n_rows, summary.n_scored, summary.n_invalid) == (6_000, 6_000, 0)
    assert sum(summary.label_counts) == 6_000 and len(summary.label_counts) == 3
    np.testing.assert_array_equal(
        summary.label_counts, np.bincount(scores["labels"][:], minlength=3)
    )
    assert summary.mean_log_likelihood == pytest.approx(model.score(str(data)), rel=1e-12)
    threshold = model_log_likelihood_quantile(version.parameters, 0.01)
    assert summary.threshold == threshold
    assert summary.n_below == int((scores["log_likelihood"][:] < threshold).sum())
    assert 0 < summary.n_below < 6_000 * 0.05  # the data follow the model: about 1% below

    table = Artifact.get("score-small-summary-table")
    assert table.type == "table" and str(table.id) == result.artifacts[table.key]
    rows = {r["metric"]: r["value"] for r in json.loads(table.data)}
    assert rows["rows scored"] == 6_000 and rows["rows below threshold"] == summary.n_below
    assert [rows[f"label {k}"] for k in range(3)] == list(summary.label_counts)
    markdown = Artifact.get("score-small-summary")
    assert markdown.type == "markdown"
    assert "small:1" in markdown.data and result.predictions in markdown.data
    assert "quantile 0.01" in markdown.data

    lines = result.summary_lines()
    assert lines[0] == "scored 6,000 of 6,000 rows with model small version 1"
    assert any(line.strip().startswith("anomalies") for line in lines)

    # The same job again: the scores exist, and overwrite is off.
    with pytest.raises(ConfigError, match=r"outputs.predictions \(default: beside the input\)"):
        flows_module.score(str(path))


def test_score_parquet_by_version_number_with_nan_rows(
    flows_module, small_parquet, published_registry, score_document, write_config
):
    data = {"uri": str(small_parquet), "columns": ["x0", "x1", "x2"], "nan_policy": "drop"}
    document = score_document(data, published_registry, anomaly={"threshold": -8.0})
    document["registry"]["version"] = 2
    path = write_config(document, "score.yaml")

    result = flows_module.score(str(path))

    assert result.version == 2
    summary = result.summary
    assert (summary.n_rows, summary.n_scored, summary.n_invalid) == (6_000, 5_998, 2)
    assert len(summary.label_counts) == 2 and sum(summary.label_counts) == 5_998
    scores = zarr.open_group(result.predictions, mode="r")["log_likelihood"][:]
    assert np.isnan(scores).sum() == 2
    assert summary.n_below == int((scores[np.isfinite(scores)] < -8.0).sum())
    assert summary.mean_log_likelihood == pytest.approx(np.nanmean(scores), rel=1e-12)

    # With nan_policy raise (the default) the same data fail the run, saying how many rows.
    document["data"]["nan_policy"] = "raise"
    document["outputs"]["overwrite"] = True
    path = write_config(document, "score-raise.yaml")
    with pytest.raises(streamgmm.InvalidInputError, match="2 row.* NaN or infinite"):
        flows_module.score(str(path))


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        (["x0", "x1"], r"has 2 features \(x0, x1\) .* trained on 3 .*\(data.columns"),
        (["x1", "x0", "x2"], r"has features \['x1', 'x0', 'x2'\] .* \['x0', 'x1', 'x2'\], in that order"),
    ],
)
def test_features_must_be_the_models(
    flows_module, small_parquet, published_registry, score_document, write_config, tmp_path,
    columns, match,
):
    document = score_document(
        {"uri": str(small_parquet), "columns": columns, "nan_policy": "drop"}, published_registry
    )
    with pytest.raises(streamgmm.InvalidInputError, match=match):
        flows_module.score(str(write_config(document, "score.yaml")))
    assert not (tmp_path / "scores.zarr").exists()


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ({"model": "nope"}, ["registry.model", "No model named 'nope'", "small"]),
        ({"version": "staging"}, ["registry.version", "no alias 'staging'", "production"]),
        ({"version": 7}, ["registry.version", "no version 7", "1, 2"]),
        ({"root": "empty-registry"},
         ["registry.root: no model registry at", "does not exist", "run a fit first"]),
    ],
)
def test_missing_model_version_or_alias_is_a_config_error(
    flows_module, small_zarr, published_registry, score_document, write_config, registry, expected
):
    document = score_document({"uri": str(small_zarr)}, published_registry)
    document["registry"].update(registry)
    path = write_config(document, "score.yaml")
    with pytest.raises(ConfigError) as caught:
        flows_module.preflight(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for fragment in expected:
        assert fragment in message, message


def test_data_at_a_url_needs_an_explicit_output(score_document, write_config, published_registry,
                                                flows_module):
    document = score_document({"uri": "s3://bucket/data.zarr"}, published_registry)
    del document["outputs"]
    path = write_config(document, "score.yaml")
    assert load_config(path, kind="score").predictions_target is None
    with pytest.raises(ConfigError, match=re.escape("outputs.predictions: the data are at a URL")):
        flows_module.preflight(str(path))
