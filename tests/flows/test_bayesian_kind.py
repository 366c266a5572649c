"""``model.kind: bayesian`` in YAML configs: validated keys, and the batch_fit flow end to end.

The flow runs for real under the Prefect test server on a small Zarr store; its
published posterior is compared with a direct ``streamgmm.BayesianGaussianMixture``
fit of the same settings (bitwise), and its artifacts report the components in use.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
import zarr

import streamgmm
from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.online.from_config import build_settings
from streamgmm.registry import ModelRegistry
from streamgmm.reporting import model_log_likelihood_quantile, terminal_summary

BAYESIAN_MODEL = {
    "kind": "bayesian", "n_components": 6, "covariance_type": "full", "tol": 1e-3, "max_iter": 1000,
    "init_params": "k-means++",
    "seed": 3, "init_sample_size": 2_000, "weight_concentration_prior": 0.01,
}


def _batch(model: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"uri": "x.zarr"}, "model": model, "registry": {"root": "r", "model": "m"}}


def _stream(model: dict[str, Any], **step: Any) -> dict[str, Any]:
    return {
        "source": {"kind": "landing-folder", "uri": "land"},
        "model": model, "online": {"state": "state", "step": step},
    }


def _problems(document: dict[str, Any], kind: str, tmp_path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as error:
        parse_config(document, kind, base_dir=tmp_path)
    return error.value.problems


def test_kind_defaults_to_gaussian_and_bayesian_settings_reach_the_estimator(tmp_path):
    assert parse_config(_batch({"n_components": 3}), "batch_fit", base_dir=tmp_path).model.kind == "gaussian"
    config = parse_config(
        _batch({**BAYESIAN_MODEL, "mean_prior": [0, 1, 2], "covariance_prior": [[1, 0], [0, 1]]}),
        "batch_fit", base_dir=tmp_path,
    )
    params = config.model.estimator_params()
    assert params["weight_concentration_prior"] == 0.01 and params["mean_prior"] == [0.0, 1.0, 2.0]
    assert params["covariance_prior"] == [[1.0, 0.0], [0.0, 1.0]]
    streamgmm.BayesianGaussianMixture(**params)  # every key is a constructor parameter
    stream = parse_config(
        _stream({**BAYESIAN_MODEL, "total_samples": 5000}, decay=0.6), "online_update", base_dir=tmp_path
    )
    setup = build_settings(stream).model
    assert (setup.kind, setup.total_samples, setup.step_decay) == ("bayesian", 5000.0, 0.6)
    assert "average" not in setup.estimator_params()
    streamgmm.BayesianGaussianMixture(**setup.estimator_params())
    gaussian = build_settings(parse_config(_stream({"n_components": 2}), "online_update", base_dir=tmp_path))
    assert "total_samples" not in gaussian.model.estimator_params()
    streamgmm.GaussianMixture(**gaussian.model.estimator_params())


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"n_components": 3, "kind": "bayes"}, "model.kind: 'bayes' is not allowed"),
        ({"n_components": 3, "weight_concentration_prior": 0.1}, "model.weight_concentration_prior is a setting"),
        ({**BAYESIAN_MODEL, "weight_concentration_prior": -1}, "model.weight_concentration_prior: -1 is not allowed"),
        ({**BAYESIAN_MODEL, "weight_concentration_prior_type": "pitman-yor"},
         "model.weight_concentration_prior_type"),
        ({**BAYESIAN_MODEL, "mean_precision_prior": 0}, "model.mean_precision_prior: 0 is not allowed"),
        ({**BAYESIAN_MODEL, "covariance_prior": [[1, 0], [0, "a"]]}, "model.covariance_prior: "),
        ({**BAYESIAN_MODEL, "weight_threshold": 1.5}, "model.weight_threshold: 1.5 is not allowed"),
    ],
)
def test_bad_bayesian_keys_are_named(tmp_path, model, expected):
    problems = _problems(_batch(model), "batch_fit", tmp_path)
    assert any(expected in p for p in problems), problems


def test_stream_configs_refuse_what_svi_does_not_have(tmp_path):
    problems = _problems(_stream(BAYESIAN_MODEL, average=True), "online_update", tmp_path)
    assert any("online.step.average applies to model.kind: gaussian" in p for p in problems), problems
    problems = _problems(_stream({"n_components": 2, "total_samples": 100}), "online_update", tmp_path)
    assert any("model.total_samples is a setting of the Bayesian mixture" in p for p in problems), problems
    problems = _problems(_stream({**BAYESIAN_MODEL, "total_samples": 0}), "online_update", tmp_path)
    assert any(p.startswith("model.total_samples: 0 is not allowed") for p in problems), problems


@pytest.mark.usefixtures("prefect_harness")
def test_batch_fit_flow_publishes_the_posterior_and_reports_components_in_use(
    small_zarr, batch_fit_document, write_config
):
    from prefect.artifacts import Artifact

    flows_module = importlib.import_module("streamgmm.orchestration.batch_fit")
    document = batch_fit_document({"uri": str(small_zarr), "variable": "X"}, model=BAYESIAN_MODEL)
    document["registry"]["model"] = "small-bayesian"
    path = write_config(document)
    config = load_config(path)

    result = flows_module.batch_fit(str(path))

    rows = streamgmm.open_rows(config.data.uri, **config.data.open_options())
    direct = streamgmm.BayesianGaussianMixture(**config.model.estimator_params()).fit(rows)
    version = ModelRegistry(path.parent / "registry").load("small-bayesian")
    assert version.kind == "bayesian" and version.metadata.schema_version == 2
    assert version.components_in_use == direct.n_active_components_ == 3  # the data hold 3
    for name in ("mean_precision", "means", "degrees_of_freedom", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(version.posterior, name), getattr(direct.posterior_, name))
    np.testing.assert_array_equal(version.priors.covariance_prior, direct.priors_.covariance_prior)
    assert version.metadata.metrics.lower_bound == direct.lower_bound_
    assert result.metrics.components_in_use == 3
    assert version.metadata.metrics.extra["components_in_use"] == 3

    # predictions are the Bayesian mixture's, not its point estimate's
    predictions = zarr.open_group(path.parent / "predictions.zarr", mode="r")
    np.testing.assert_array_equal(predictions["labels"][:], direct.predict(rows).compute())
    np.testing.assert_array_equal(predictions["log_likelihood"][:], direct.score_samples(rows).compute())

    table = Artifact.get("batch-fit-small-bayesian-metrics")
    assert "components_in_use" in str(table.data)
    summary = Artifact.get("batch-fit-small-bayesian-summary")
    assert "3 components in use" in summary.data
    # the expected weights, sorted, with the threshold: on disk and embedded in the summary
    weights_plot = result.plots["Expected weights; components in use above the threshold"]
    assert weights_plot.name == "small-bayesian-v1-weights.png" and weights_plot.stat().st_size > 0
    assert "Expected weights; components in use above the threshold" in summary.data
    lines = terminal_summary(model="m", version=1, location="here", metrics=result.metrics, predictions=None)
    assert "  in use        3 components (Bayesian mixture)" in lines


@pytest.mark.usefixtures("prefect_harness")
def test_score_flow_scores_with_a_bayesian_version_as_its_estimator_does(
    small_zarr, score_document, write_config, tmp_path
):
    flows_module = importlib.import_module("streamgmm.orchestration.score")
    rows = streamgmm.open_rows(str(small_zarr), variable="X")
    fitted = streamgmm.BayesianGaussianMixture(
        6, weight_concentration_prior=0.01, init_params="k-means++", random_state=3, max_iter=1000
    ).fit(rows)
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("small", fitted.posterior_, priors=fitted.priors_, aliases=["production"])
    document = score_document({"uri": str(small_zarr), "variable": "X"}, tmp_path / "registry",
                              anomaly={"quantile": 0.01})
    result = flows_module.score(str(write_config(document, "score.yaml")))

    scores = zarr.open_group(result.predictions, mode="r")
    np.testing.assert_array_equal(scores["labels"][:], fitted.predict(rows).compute())
    np.testing.assert_array_equal(scores["log_likelihood"][:], fitted.score_samples(rows).compute())
    # the threshold: rows drawn from the point estimate, scored as scikit-learn's export scores them
    threshold = model_log_likelihood_quantile(fitted.posterior_, 0.01, seed=0)
    sample, _ = streamgmm.GaussianMixture.from_parameters(fitted.parameters_, random_state=0).sample(100_000)
    exported = registry.load("small").to_sklearn()
    assert threshold == pytest.approx(float(np.quantile(exported.score_samples(sample), 0.01)), rel=1e-9)
    assert result.summary.threshold == threshold


def test_preflight_refuses_a_start_from_version_of_the_other_kind(tmp_path):
    from sklearn.mixture import GaussianMixture as SkGM

    from streamgmm.preflight import check_job
    from streamgmm.registry import from_sklearn

    (tmp_path / "land").mkdir()
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("gm", from_sklearn(SkGM(2, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 2)))))
    document = _stream({**BAYESIAN_MODEL, "start_from": {"model": "gm"}})
    document["registry"] = {"root": "registry", "model": "stream"}
    config = parse_config(document, "online_update", base_dir=tmp_path)
    with pytest.raises(ConfigError) as error:
        check_job(config, "s.yaml")
    assert any(
        p.startswith("model.start_from.model: gm:1 is a gaussian mixture, but the stream learns a bayesian one")
        for p in error.value.problems
    ), error.value.problems
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (_batch({"n_components": 3}), "batch_fit"),
        (_batch(BAYESIAN_MODEL), "batch_fit"),
        (_stream({"n_components": 2}), "online_update"),
        (_stream({**BAYESIAN_MODEL, "total_samples": 5000}, decay=0.6), "online_update"),
    ],
)
def test_a_dumped_config_validates_again(tmp_path, document, kind):
    """Every key at its default is no setting: a config written out whole (as `streamgmm fit
    DATA` saves the one it ran, or the examples re-validate theirs) parses to the same config."""
    config = parse_config(document, kind, base_dir=tmp_path)
    again = parse_config(config.model_dump(mode="json"), kind, base_dir=tmp_path)
    assert again == config
