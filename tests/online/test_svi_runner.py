"""The stream runner learning a ``BayesianGaussianMixture`` (``model.kind: bayesian``).

The runner's result equals ``partial_fit`` by hand on the same batches, bit for
bit, from a warm-up and from a published Bayesian version; a version of the
other kind is refused before any row is read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streamgmm import BayesianGaussianMixture, GaussianMixture
from streamgmm.core.errors import StreamGMMError
from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamRunner, StreamSettings
from streamgmm.online.sources import LandingFolderSource
from streamgmm.online.state import StateFile
from streamgmm.registry import ModelRegistry

from online_helpers import mixture_rows

SETUP = ModelSetup(
    kind="bayesian", n_components=6, covariance_type="full", warm_up_size=1500, random_state=0,
    weight_concentration_prior=0.01, max_iter=300,
)


def _settings(tmp_path: Path, setup: ModelSetup = SETUP, **changes) -> StreamSettings:
    return StreamSettings(
        state_dir=str(tmp_path / "state"), batch_size=500, model=setup, drift=None,
        snapshots=SnapshotPolicy(registry_root=str(tmp_path / "registry"), model="stream", every_batches=4),
        **changes,
    )


def _landing(tmp_path: Path, rows: np.ndarray) -> Path:
    land = tmp_path / "land"
    land.mkdir()
    for i, start in enumerate(range(0, rows.shape[0], 1000)):
        np.save(land / f"part-{i:03d}.npy", rows[start:start + 1000])
    return land


def _assert_same_posterior(state, model: BayesianGaussianMixture) -> None:
    expected = model.online_state_
    for name in ("mean_precision", "means", "degrees_of_freedom", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(state.posterior, name), getattr(expected.posterior, name))
    np.testing.assert_array_equal(
        np.asarray(state.posterior.weight_concentration), np.asarray(expected.posterior.weight_concentration)
    )
    assert (state.n_updates, state.weight_seen) == (expected.n_updates, expected.weight_seen)


def test_a_bayesian_stream_equals_partial_fit_by_hand_and_publishes_bayesian_versions(tmp_path):
    rows = mixture_rows(6000, seed=21)
    summary = StreamRunner(LandingFolderSource(_landing(tmp_path, rows)), _settings(tmp_path)).run()
    by_hand = BayesianGaussianMixture(**SETUP.estimator_params())
    for start in range(0, 6000, 500):
        by_hand.partial_fit(rows[start:start + 500])
    _assert_same_posterior(summary.state.online, by_hand)
    assert summary.state.count("batches") == 9  # 3 warm-up batches, then 9 SVI steps
    assert summary.components_in_use == by_hand.n_active_components_ == 3  # the rows hold 3 clusters
    # the commit reads back whole
    committed = StateFile(tmp_path / "state").load(summary.state.stream_key)
    _assert_same_posterior(committed.online, by_hand)
    np.testing.assert_array_equal(committed.online.priors.covariance_prior, by_hand.priors_.covariance_prior)
    registry = ModelRegistry(tmp_path / "registry")
    latest = registry.load("stream")
    assert latest.kind == "bayesian" and latest.components_in_use == by_hand.n_active_components_
    np.testing.assert_array_equal(BayesianGaussianMixture.from_version(latest).predict(rows), by_hand.predict(rows))


def test_a_bayesian_stream_continues_a_published_posterior(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    batch = BayesianGaussianMixture(6, weight_concentration_prior=0.01, random_state=0, max_iter=300)
    batch.fit(mixture_rows(5000, seed=22))
    registry.publish("batch", batch.posterior_, priors=batch.priors_)
    rows = mixture_rows(2000, seed=23)
    start = {"registry_root": str(tmp_path / "registry"), "model": "batch", "ref": "latest"}
    summary = StreamRunner(
        LandingFolderSource(_landing(tmp_path, rows)), _settings(tmp_path, start_from=start)
    ).run()
    by_hand = BayesianGaussianMixture.from_version(registry.load("batch"), **{
        k: v for k, v in SETUP.estimator_params().items() if k != "n_components"
    })
    for begin in range(0, 2000, 500):
        by_hand.partial_fit(rows[begin:begin + 500])
    _assert_same_posterior(summary.state.online, by_hand)
    assert summary.state.online.weight_seen == pytest.approx(7000, rel=1e-9)  # the version's 5,000 rows + 2,000
    version = registry.show("stream", summary.versions[-1])
    assert (version.parent.name, version.parent.version) == ("batch", 1)


def test_a_version_of_the_other_kind_is_refused(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("gm", GaussianMixture(3, random_state=0).fit(mixture_rows(2000, seed=24)).parameters_)
    land = _landing(tmp_path, mixture_rows(1000, seed=25))
    start = {"registry_root": str(tmp_path / "registry"), "model": "gm", "ref": "latest"}
    with pytest.raises(StreamGMMError, match="a gaussian mixture, but the stream learns a bayesian one"):
        StreamRunner(LandingFolderSource(land), _settings(tmp_path, start_from=start)).run()
    assert not StateFile(tmp_path / "state").exists()
    gaussian = replace(SETUP, kind="gaussian", n_components=3)
    assert "weight_concentration_prior" not in gaussian.estimator_params()


def test_a_state_folder_of_a_gaussian_stream_is_refused_to_a_bayesian_one(tmp_path):
    from streamgmm.online.state import RunnerStateError

    land = _landing(tmp_path, mixture_rows(3000, seed=26))
    gaussian = replace(SETUP, kind="gaussian", n_components=3)
    StreamRunner(LandingFolderSource(land), _settings(tmp_path, gaussian)).run()
    with pytest.raises(RunnerStateError, match="the mixture's kind and priors changed"):
        StreamRunner(LandingFolderSource(land), _settings(tmp_path)).run()
