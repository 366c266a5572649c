"""``streamgmm fit DATA --n-components K``: no YAML first, the same config and flow as YAML.

The run goes through the real ``streamgmm`` entry point in a subprocess: first on the
temporary Prefect API the command starts itself (with Prefect's telemetry setting left
unset, as a user has it), then the config it wrote runs again with ``--quiet`` against
the session's test server. Both must publish bitwise the same model, and stderr must
carry no harmless warning (Zarr's consolidated metadata, Prefect's telemetry).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamgmm.cli import build_parser
from streamgmm.cli import main as streamgmm_main
from streamgmm.cli.fit import config_from_options
from streamgmm.config import ConfigError, load_config
from streamgmm.registry import ModelRegistry
from streamgmm.registry.jsonvalues import thaw_json
from streamgmm.registry.location import ROOT_ENVIRONMENT_VARIABLE

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
TIMEOUT = 300
HARMLESS = ("ZarrUserWarning", "Consolidated metadata", "ERROR", "Traceback", "analytics")


def _run(
    args: list[str], cwd: Path, api_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(cwd / "prefect-home"), "MPLBACKEND": "Agg"}
    for name in ("PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED", ROOT_ENVIRONMENT_VARIABLE):
        env.pop(name, None)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run([STREAMGMM, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _options(argv: list[str]) -> argparse.Namespace:
    return build_parser("fit").parse_args(["fit", *argv])


@pytest.mark.slow
def test_fit_from_options_then_its_yaml_give_bitwise_the_same_model(
    small_zarr, tmp_path, prefect_harness
):
    from prefect.settings import PREFECT_API_URL

    first = _run(["fit", str(small_zarr), "--n-components", "3", "--covariance-type", "diag",
                  "--seed", "3", "--max-iter", "50", "--name", "small", "--predictions",
                  "p.zarr", "--overwrite"], tmp_path)

    assert first.returncode == 0, first.stderr[-3000:]
    config_file = tmp_path / "reports" / "small-fit.yaml"
    assert "model small version 1" in first.stdout
    assert f"config        {config_file} (run again: streamgmm fit {config_file})" in first.stdout
    registry = tmp_path / "registry"
    assert f"registry: {registry} (from the default 'registry' folder in {tmp_path}" in first.stderr
    assert "Iteration 1" in first.stderr  # progress, not quiet
    for harmless in HARMLESS:
        assert harmless not in first.stderr, first.stderr[-3000:]

    again = _run(["fit", str(config_file), "--quiet"], tmp_path, api_url=PREFECT_API_URL.value())

    assert again.returncode == 0, again.stderr[-3000:]
    assert "model small version 2" in again.stdout
    assert again.stderr == ""  # --quiet: nothing needed the user
    models = ModelRegistry(registry)
    one, two = models.load("small", 1), models.load("small", 2)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.array_equal(getattr(one.parameters, name), getattr(two.parameters, name)), name
    assert one.metadata.training_config == two.metadata.training_config
    written = load_config(config_file)
    assert written.data.uri == str(small_zarr) and written.data.format == "zarr"
    assert written.model.covariance_type == "diag" and written.registry.root == str(registry)
    # The version's metadata record the very config the file holds.
    assert thaw_json(one.metadata.training_config) == {"job": "batch_fit",
                                                       **written.model_dump(mode="json")}


def test_options_build_the_config_a_yaml_file_would(small_parquet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, "shared/registry")
    config = config_from_options(_options(
        [str(small_parquet), "--n-components", "2", "--columns", "x0, x2", "--nan-policy", "drop",
         "--alias", "candidate", "--reports", "out"]
    ))
    assert config.data.format == "parquet" and config.data.columns == ("x0", "x2")
    assert config.data.nan_policy == "drop" and config.model.n_components == 2
    assert config.registry.model == "small-parquet" and config.registry.aliases == ("candidate",)
    assert config.registry.root == str(tmp_path / "shared" / "registry")  # $STREAMGMM_REGISTRY
    assert config.outputs.reports == str(tmp_path / "out")
    assert config.model.covariance_type == "full" and config.model.seed == 0  # the defaults


def test_mistakes_exit_2_naming_the_option(small_zarr, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="is neither a Zarr store .* nor Parquet"):
        config_from_options(_options([str(tmp_path / "notes"), "--n-components", "2"]))
    with pytest.raises(ConfigError, match=r"model.n_components: 0 is not"):
        config_from_options(_options([str(small_zarr), "--n-components", "0"]))
    assert streamgmm_main(["fit", str(small_zarr), "--n-components", "0"]) == 2
    assert "--n-components (model.n_components): 0 is not allowed" in capsys.readouterr().err

    assert streamgmm_main(["fit", str(small_zarr)]) == 2
    assert "give the number of components" in capsys.readouterr().err
    assert streamgmm_main(["fit", "job.yaml", "--max-iter", "5"]) == 2
    assert "--max-iter set the fit of DATA without a config" in capsys.readouterr().err
    assert streamgmm_main(["fit", str(small_zarr), "--n-components", "2", "--columns", "a"]) == 2
    err = capsys.readouterr().err
    assert "--columns (data.columns)" in err and "data.format is 'zarr'" in err
    assert not (tmp_path / "reports").exists()  # nothing written for a refused run
    inside = small_zarr / "reports"
    assert streamgmm_main(["fit", str(small_zarr), "--n-components", "2", "--reports",
                           str(inside)]) == 2
    err = capsys.readouterr().err
    assert "--reports (outputs.reports)" in err and "input data.uri" in err
    assert not inside.exists()  # the config file is not written into the data
    with pytest.raises(SystemExit):
        _options([str(small_zarr), "--n-components", "2", "--variable", "X", "--columns", "a"])
