"""streamgmm.reporting: metrics against the estimator's own BIC/AIC, plots, summaries."""

from __future__ import annotations

import numpy as np
import pytest

import streamgmm
from streamgmm.reporting import (
    component_covariances,
    evaluate_fit,
    markdown_summary,
    metrics_table,
    plot_clusters,
    plot_lower_bounds,
    principal_axes,
    terminal_summary,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -1.0]])
    return np.vstack([c + rng.normal(size=(400, 3)) for c in centres])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_metrics_match_the_estimator(data, covariance_type):
    model = streamgmm.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(data)
    metrics = evaluate_fit(model, data, fit_seconds=1.5)
    assert metrics.bic == pytest.approx(model.bic(data), rel=1e-12)
    assert metrics.aic == pytest.approx(model.aic(data), rel=1e-12)
    assert metrics.mean_log_likelihood == pytest.approx(model.score(data), rel=1e-12)
    assert (metrics.n_samples, metrics.n_iter, metrics.converged) == (1200, model.n_iter_, True)
    assert metrics.lower_bounds[-1] == metrics.lower_bound == model.lower_bound_
    registry = metrics.registry_metrics()
    assert registry["extra"]["n_parameters"] == model.parameters_.n_parameters
    assert len(component_covariances(model.parameters_)) == 3


def test_principal_axes_are_orthonormal_with_a_fixed_sign(data):
    params = streamgmm.GaussianMixture(3, random_state=0).fit(data).parameters_
    centre, axes = principal_axes(params)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(centre, data.mean(axis=0), atol=1e-6)
    assert all(axes[np.argmax(np.abs(axes[:, j])), j] > 0 for j in range(2))


def test_plots_are_pngs_even_for_one_feature(tmp_path, data):
    model = streamgmm.GaussianMixture(3, random_state=0).fit(data)
    one = streamgmm.GaussianMixture(2, random_state=0).fit(data[:, :1])
    paths = [
        plot_lower_bounds(model.lower_bounds_, tmp_path / "ll.png", converged=True),
        plot_clusters(model.parameters_, tmp_path / "c.png", sample=data,
                      sample_labels=model.predict(data)),
        plot_clusters(one.parameters_, tmp_path / "sub" / "one.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert not list(tmp_path.glob(".*partial"))


def test_summaries_name_version_location_and_metrics(tmp_path, data):
    model = streamgmm.GaussianMixture(3, random_state=0).fit(data)
    metrics = evaluate_fit(model, data, fit_seconds=0.25)
    rows = metrics_table(metrics)
    assert {row["metric"] for row in rows} >= {"bic", "lower_bound", "n_iter", "converged"}
    plot_lower_bounds(model.lower_bounds_, tmp_path / "ll.png")
    text = markdown_summary(
        model="demo", version=4, location="/reg/models/demo/4", metrics=metrics,
        data={"uri": "d.zarr", "shape": [1200, 3], "format": "zarr3"},
        estimator=model.get_params(), aliases=["candidate"], predictions="p.zarr",
        plots={"Log-likelihood": tmp_path / "ll.png"},
    )
    for fragment in ("demo:4", "/reg/models/demo/4", "candidate", "p.zarr", "| bic |", "ll.png",
                     "![Log-likelihood](data:image/png;base64,"):
        assert fragment in text
    lines = terminal_summary(model="demo", version=4, location="/reg/models/demo/4",
                             metrics=metrics, predictions=None)
    assert lines[0] == "model demo version 4" and any("BIC" in line for line in lines)
