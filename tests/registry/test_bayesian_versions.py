"""Bayesian model versions: the whole variational posterior, its priors, and scikit-learn.

A posterior fitted by scikit-learn's ``BayesianGaussianMixture`` is published,
loaded back (verified), and exported again: predictions are identical (bitwise)
at each step, for all covariance types and both weight priors. Gaussian
versions keep metadata schema 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.mixture import GaussianMixture as SkGM

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry import ModelRegistry, from_sklearn, from_sklearn_bayesian, to_sklearn_bayesian
from streamgmm.registry.errors import ArtifactIntegrityError


def _blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    return centres[rng.integers(0, 3, 600)] + rng.normal(scale=0.6, size=(600, 2))


def _assert_same_predictions(a, b, X) -> None:
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_sklearn_posterior_round_trips_through_a_version(tmp_path, covariance_type, prior_type):
    X = _blobs()
    fitted = SkBGM(
        n_components=6, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
        weight_concentration_prior=0.01, random_state=0, max_iter=200,
    ).fit(X)
    posterior, priors = from_sklearn_bayesian(fitted)
    registry = ModelRegistry(tmp_path / "registry")
    published = registry.publish(
        "bgm", posterior, priors=priors, metrics={"lower_bound": float(np.ravel(fitted.lower_bound_)[0]), "n_iter": fitted.n_iter_}
    )
    version = registry.load("bgm")
    assert version.kind == "bayesian" and published.kind == "bayesian"
    assert version.metadata.schema_version == 2
    in_use = int(np.count_nonzero(fitted.weights_ >= 0.01))
    assert version.components_in_use == in_use
    assert version.metadata.mixture["weight_concentration_prior_type"] == prior_type
    np.testing.assert_array_equal(version.posterior.mean_precision, fitted.mean_precision_)
    np.testing.assert_array_equal(version.priors.mean_prior, fitted.mean_prior_)
    np.testing.assert_array_equal(version.parameters.weights, fitted.weights_)
    exported = version.to_sklearn()
    assert isinstance(exported, SkBGM)
    assert exported.lower_bound_ == float(np.ravel(fitted.lower_bound_)[0])  # an array for tied
    _assert_same_predictions(fitted, exported, X)
    # and back again: the same posterior
    again, again_priors = from_sklearn_bayesian(exported)
    np.testing.assert_array_equal(np.asarray(again.weight_concentration), np.asarray(posterior.weight_concentration))
    np.testing.assert_array_equal(again_priors.covariance_prior, priors.covariance_prior)
    # an exported model continues learning in scikit-learn (warm start)
    exported.set_params(warm_start=True, max_iter=5)
    exported.fit(X)


def test_gaussian_versions_keep_schema_one(tmp_path):
    X = _blobs()
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("gm", from_sklearn(SkGM(3, random_state=0).fit(X)))
    version = registry.load("gm")
    assert version.kind == "gaussian" and version.posterior is None
    assert version.components_in_use == 3
    document = json.loads((tmp_path / "registry" / "models" / "gm" / "1" / "metadata.json").read_text())
    assert document["schema_version"] == 1 and "mixture" not in document


def test_posterior_without_priors_is_refused_before_writing(tmp_path):
    fitted = SkBGM(n_components=3, random_state=0).fit(_blobs())
    posterior, _ = from_sklearn_bayesian(fitted)
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(InvalidParameterError, match="priors="):
        registry.publish("bgm", posterior)
    assert not (tmp_path / "registry").exists() or registry.list_models() == []


def test_a_bayesian_archive_missing_its_posterior_is_refused(tmp_path):
    from streamgmm.registry.parameter_file import decode_variational, encode_parameters

    fitted = SkBGM(n_components=3, random_state=0).fit(_blobs())
    posterior, _ = from_sklearn_bayesian(fitted)
    data = encode_parameters(posterior.mixture)  # the point estimate only
    with pytest.raises(ArtifactIntegrityError, match="expected"):
        decode_variational(
            data, covariance_type="full", weight_concentration_prior_type="dirichlet_process",
            source="parameters.npz",
        )


def test_to_sklearn_bayesian_refuses_a_conflicting_parameter():
    fitted = SkBGM(n_components=3, random_state=0).fit(_blobs())
    posterior, priors = from_sklearn_bayesian(fitted)
    with pytest.raises(InvalidParameterError, match="n_components is fixed"):
        to_sklearn_bayesian(posterior, priors, n_components=5)


def test_models_show_displays_the_kind_and_the_components_in_use(tmp_path, capsys):
    from streamgmm.cli.models import main

    X = _blobs()
    fitted = SkBGM(n_components=6, weight_concentration_prior=0.01, random_state=0, max_iter=300).fit(X)
    posterior, priors = from_sklearn_bayesian(fitted)
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("bgm", posterior, priors=priors)
    registry.publish("gm", from_sklearn(SkGM(3, random_state=0).fit(X)))
    assert main(["show", "--root", str(tmp_path / "registry"), "bgm"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kind"] == "bayesian"
    assert shown["components_in_use"] == int(np.count_nonzero(fitted.weights_ >= 0.01)) == 3
    assert main(["show", "--root", str(tmp_path / "registry"), "gm"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kind"] == "gaussian" and shown["components_in_use"] == 3


def test_streamgmm_bayesian_version_predicts_identically_and_continues_learning(tmp_path):
    from streamgmm import BayesianGaussianMixture, GaussianMixture

    X = _blobs()
    fitted = BayesianGaussianMixture(6, weight_concentration_prior=0.01, random_state=0, max_iter=300).fit(X)
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish(
        "bgm", fitted.posterior_, priors=fitted.priors_, weight_threshold=fitted.weight_threshold,
        metrics={"lower_bound": fitted.lower_bound_},
    )
    version = registry.load("bgm")
    assert version.components_in_use == fitted.n_active_components_
    loaded = BayesianGaussianMixture.from_version(version)
    _assert_same_predictions(fitted, loaded, X)
    assert loaded.lower_bound_ == fitted.lower_bound_
    # scikit-learn's export predicts the same
    np.testing.assert_array_equal(version.to_sklearn().predict(X), fitted.predict(X))
    # continues learning: SVI steps, and a warm-started batch fit under the same priors
    online = BayesianGaussianMixture.from_version(version, step_size=0.1)
    online.partial_fit(_blobs(seed=1))
    assert online.n_steps_ == 1 and online.online_state_.weight_seen == pytest.approx(1200, rel=1e-9)
    warm = BayesianGaussianMixture.from_version(version, warm_start=True, max_iter=50)
    warm.fit(_blobs(seed=2))
    np.testing.assert_array_equal(warm.mean_prior_, fitted.mean_prior_)
    np.testing.assert_array_equal(warm.covariance_prior_, fitted.covariance_prior_)
    with pytest.raises(InvalidParameterError, match="GaussianMixture.from_version"):
        BayesianGaussianMixture.from_version(
            registry.load(registry.publish("gm", from_sklearn(SkGM(3).fit(X))).name)
        )
    assert GaussianMixture.from_version(version).predict(X).shape == (600,)
