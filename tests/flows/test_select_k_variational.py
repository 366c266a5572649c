"""select_k with ``selection.compare_variational``: a Dirichlet-process mixture beside BIC's K.

Run for real under the Prefect test server on the small Zarr data: the comparison is the
direct ``fit_variational`` of the same rows (bitwise), recorded in the winner's registry
metadata, drawn as a PNG, added to the markdown artifact and the closing summary; the
winner is the same as without it.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import streamgmm
from streamgmm.config import ConfigError, load_config
from streamgmm.registry import ModelRegistry
from streamgmm.registry.jsonvalues import thaw_json
from streamgmm.selection import fit_variational

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def flows_module() -> Any:
    return importlib.import_module("streamgmm.orchestration.select_k")


def test_variational_comparison_is_recorded_beside_the_criterion(
    flows_module, small_zarr, select_k_document, write_config
):
    from prefect.artifacts import Artifact

    document = select_k_document(
        {"uri": str(small_zarr), "variable": "X"},
        selection={"criterion": "bic", "compare_variational": True,
                   "variational_components": 5, "weight_threshold": 0.05},
        registry={"root": "registry", "model": "small-dp", "aliases": ["candidate"]},
    )
    path = write_config(document, "select_k.yaml")
    config = load_config(path, kind="select_k")

    result = flows_module.select_k(str(path))

    assert result.candidates[result.chosen] == (3, "full")  # unchanged by the comparison
    direct = fit_variational(
        streamgmm.open_rows(str(small_zarr), variable="X"), 5, "full", weight_threshold=0.05,
        nan_policy=config.data.nan_policy, **config.model.common_params(),
    )
    record = result.variational
    assert record is not None
    assert record["weights"] == [float(w) for w in direct.weights_]
    assert record["components_in_use"] == [int(k) for k in direct.active_components_]
    assert record["n_components_in_use"] == direct.n_active_components_
    assert (record["n_components"], record["covariance_type"], record["weight_threshold"]) == (
        5, "full", 0.05)
    assert (record["criterion"], record["criterion_n_components"]) == ("bic", 3)
    assert record["agrees"] == (direct.n_active_components_ == 3)
    assert (record["n_iter"], record["converged"]) == (direct.n_iter_, direct.converged_)

    version = ModelRegistry(path.parent / "registry").load("small-dp", "candidate")
    assert thaw_json(version.metadata.metrics.extra["variational"]) == record

    plot = result.plots["Expected weights of the Dirichlet-process mixture"]
    assert plot.name == "small-dp-v1-variational.png"
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    summary = Artifact.get("select-k-small-dp-summary")
    assert "## Variational comparison (Dirichlet-process prior)" in summary.data
    assert f"**Components in use:** {record['n_components_in_use']} of 5" in summary.data
    assert any(line.strip().startswith(f"variational   {record['n_components_in_use']} of 5")
               for line in result.summary_lines())


def test_without_the_option_nothing_variational_is_fitted(
    flows_module, small_zarr, select_k_document, write_config
):
    document = select_k_document(
        {"uri": str(small_zarr), "variable": "X"},
        model={"n_components": [2, 3], "covariance_type": "diag", "max_iter": 10, "seed": 3,
               "init_sample_size": 2_000},
        registry={"root": "registry", "model": "small-plain", "aliases": ["candidate"]},
    )
    path = write_config(document, "select_k.yaml")
    result = flows_module.select_k(str(path))
    assert result.variational is None
    assert not any("variational" in str(p) for p in result.plots.values())
    version = ModelRegistry(path.parent / "registry").load("small-plain", "candidate")
    assert "variational" not in version.metadata.metrics.extra
    assert "selection" in version.metadata.metrics.extra


@pytest.mark.parametrize("selection, problem", [
    ({"compare_variational": True, "variational_components": 0}, "integer >= 1"),
    ({"compare_variational": True, "weight_threshold": 1.0}, r"\[0, 1\)"),
    ({"compare_variatonal": True}, "compare_variatonal"),
])
def test_bad_variational_settings_name_the_key(small_zarr, select_k_document, write_config,
                                               selection, problem):
    document = select_k_document({"uri": str(small_zarr), "variable": "X"},
                                 selection={"criterion": "bic", **selection})
    with pytest.raises(ConfigError, match=problem) as error:
        load_config(write_config(document, "select_k.yaml"), kind="select_k")
    assert "selection." in str(error.value)
