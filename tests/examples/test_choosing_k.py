"""Example 2 at its reduced size (20,000 rows), through the real select_k flow.

The data and the fits are seeded. At this size the BIC of the true K = 5 (full
covariance) is about 56 below the next best candidate (K = 6 full) and 120 below the
best diagonal one, orders of magnitude more than floating-point differences between
machines could move it, so the checks on K are exact. The fitted means carry a
standard error of about 0.02 (about 4,000 rows per component, standard deviations
below 1); the tolerance is 0.1.

The flow runs once (module fixture) on the session's Prefect test server.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from example_helpers import assert_small_png

from streamgmm.examples import choosing_k
from streamgmm.examples.checkout import repository_root
from streamgmm.examples.flow_runner import load_example_select_k_config
from streamgmm.registry import ModelRegistry

ALL_CANDIDATES = {(k, t) for t in ("full", "diag") for k in range(1, 11)}


@pytest.fixture(scope="module")
def result(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
           ) -> choosing_k.ChoosingKResult:
    """The example at its reduced size, run once for the checks below."""
    folder = tmp_path_factory.mktemp("choosing_k")
    return choosing_k.run("reduced", out=folder / "out", work=folder / "work")


@pytest.mark.slow
def test_select_k_recovers_the_true_number_of_clusters(result):
    assert result.n_rows == 20_000
    assert result.truth.n_components == choosing_k.TRUE_K == 5
    assert (result.chosen.n_components, result.chosen.covariance_type) == (5, "full")
    assert result.chosen.bic == min(c.bic for c in result.candidates)
    full_bic = result.curve("full", "bic")
    assert min(full_bic, key=full_bic.get) == 5
    # The curve falls to the true K and rises after it.
    assert all(full_bic[k] > full_bic[k + 1] for k in range(1, 5))
    assert all(full_bic[k] < full_bic[k + 1] for k in range(5, 10))

    # Every true centre has a fitted mean next to it (one each: K is right).
    distances = np.linalg.norm(result.truth.means[:, None] - result.winner.means[None], axis=-1)
    nearest = distances.argmin(axis=1)
    assert sorted(nearest) == list(range(5))
    assert distances.min(axis=1).max() < 0.1

    assert_small_png(result.picture)


@pytest.mark.slow
def test_the_published_version_records_every_candidate(result):
    version = ModelRegistry(result.registry).load(result.model, result.version)
    record = version.metadata.metrics.extra["selection"]
    listed = [(c["n_components"], c["covariance_type"]) for c in record["candidates"]]
    assert sorted(listed) == sorted(ALL_CANDIDATES)
    assert all(np.isfinite([c["bic"], c["aic"]]).all() for c in record["candidates"])
    assert dict(record["chosen"]) == {"n_components": 5, "covariance_type": "full"}
    assert record["criterion"] == "bic"
    assert version.parameters.n_components == 5
    assert version.parameters.covariance_type == "full"
    assert version.metadata.metrics.bic == pytest.approx(result.chosen.bic)


def test_the_config_lists_every_candidate_and_points_into_the_generated_folder():
    config = load_example_select_k_config("choosing_k")
    generated = repository_root() / "data" / "generated" / "examples" / "choosing_k"
    assert set(config.model.candidate_models) == ALL_CANDIDATES
    assert config.selection.criterion == "bic"
    assert Path(config.data.uri).parent == generated
    assert Path(config.registry.root) == generated / "registry"
    assert config.compute.scheduler == "threads"


def test_the_command_line_and_the_readme(capsys):
    with pytest.raises(SystemExit) as exit_info:
        choosing_k.main(["--help"])
    assert exit_info.value.code == 0
    assert "--size" in capsys.readouterr().out

    readme = (repository_root() / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Examples\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    assert section, "README.md has no '## Examples' section"
    assert "](data/examples/choosing_k.png)" in section.group(1)
    assert "python -m streamgmm.examples.choosing_k" in section.group(1)
    assert_small_png(repository_root() / "data" / "examples" / "choosing_k.png")
