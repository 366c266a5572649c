"""The registry's command line, run in-process on a real registry folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from registry_helpers import make_parameters

from streamgmm.core.params import MixtureParameters
from streamgmm.cli.models import ROOT_ENVIRONMENT_VARIABLE, add_models_subcommands, main


@pytest.fixture
def root(registry) -> str:
    parameters = make_parameters("full", n_components=3, seed=1)
    registry.publish("speech", parameters, metrics={"n_samples": 1000, "lower_bound": -2.5})
    swapped = MixtureParameters(
        weights=parameters.weights[[2, 0, 1]],
        means=parameters.means[[2, 0, 1]],
        covariances=parameters.covariances[[2, 0, 1]],
        precisions_cholesky=parameters.precisions_cholesky[[2, 0, 1]],
        covariance_type="full",
    )
    registry.publish("speech", swapped, parent_version=1)
    registry.publish("speech", make_parameters("full", seed=9))
    registry.publish("sensors", make_parameters("diag"))
    return registry.root


def test_list_models_and_versions(root, capsys):
    assert main(["list", "--root", root]) == 0
    out = capsys.readouterr().out
    assert "speech" in out and "sensors" in out and "latest=3" in out
    assert main(["list", "--root", root, "speech"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "CREATED", "(UTC)"]
    assert lines[2].split()[5] == "speech:1"  # lineage column of version 2
    assert lines[-1].split()[-1] == "latest"
    assert main(["list", "--root", root, "speech", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in records] == [1, 2, 3] and records[0]["metrics"][
        "n_samples"
    ] == 1000


def test_show_prints_the_metadata(root, capsys):
    assert main(["show", "--root", root, "speech", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["covariance_type"] == "full" and shown["aliases"] == []
    assert "parameters.npz" in shown["files"]


def test_diff_reports_the_permutation(root, capsys):
    assert main(["diff", "--root", root, "speech", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "permuted" in out and "parent" in out
    assert main(["diff", "--root", root, "speech", "1", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["parameters"]["permutation"] == [1, 2, 0]
    assert result["parameters"]["max_mean_distance"] == 0.0
    assert result["metadata_changes"]["parent"] == {
        "kind": "changed",
        "a": None,
        "b": {"name": "speech", "version": 1},
    }
    assert main(["diff", "--root", root, "speech", "1", "2", "--json", "--full"]) == 0
    full = json.loads(capsys.readouterr().out)["metadata_changes"]
    assert full["parent"] == {"a": None, "b": {"name": "speech", "version": 1}}
    assert full["metrics"]["a"]["n_samples"] == 1000  # the whole field


def test_diff_prints_only_the_keys_that_differ(registry, capsys):
    parameters = make_parameters("diag", n_components=2, seed=4)
    config = {"job": "batch_fit", "model": {"n_components": 2, "tol": 1e-3},
              "data": {"uri": "/data/a.zarr", "columns": ["x0", "x1", "x2"]}}
    metrics = {"extra": {"lower_bounds": [-3.0, -2.5], "fit_seconds": 1.5}}
    registry.publish("m", parameters, training_config=config, metrics=metrics)
    config = {**config, "model": {"n_components": 2, "tol": 1e-5}}
    metrics = {"extra": {"lower_bounds": [-3.0, -2.25], "fit_seconds": 1.5}}
    registry.publish("m", parameters, training_config=config, metrics=metrics)

    assert main(["diff", "--root", registry.root, "m", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "metadata changes (2 keys; --full prints whole fields):" in out
    assert "  training_config.model.tol: 0.001 -> 1e-05\n" in out
    assert "  metrics.extra.lower_bounds: array (2,) float64, max |b - a| 0.25\n" in out
    assert "x2" not in out and "fit_seconds" not in out  # unchanged keys are not dumped

    assert main(["diff", "--root", registry.root, "m", "1", "2", "--full"]) == 0
    full = capsys.readouterr().out
    assert "  training_config: {" in full and "x2" in full  # the whole field, as before


def test_promote_gc_and_verify(root, capsys, monkeypatch):
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, root)  # --root from the environment
    assert main(["promote", "speech", "1", "production"]) == 0
    assert "production -> version 1" in capsys.readouterr().out
    assert main(["gc", "speech", "--keep-last", "1", "--dry-run"]) == 0
    assert "would remove versions 2; kept 1, 3" in capsys.readouterr().out
    assert main(["gc", "speech", "--keep-last", "1"]) == 0
    assert "removed versions 2" in capsys.readouterr().out
    assert main(["verify", "speech"]) == 0
    assert capsys.readouterr().out.split() == ["speech:1", "ok", "speech:3", "ok"]
    assert main(["unalias", "speech", "production"]) == 0


def test_errors_exit_1_with_the_file_named(root, capsys):
    path = Path(root) / "models" / "speech" / "2" / "parameters.npz"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["verify", "--root", root, "speech"]) == 1
    out = capsys.readouterr().out
    assert "speech:1 ok" in out and f"speech:2 FAILED: {path}" in out
    assert main(["show", "--root", root, "nothing"]) == 1
    assert "No model named 'nothing'" in capsys.readouterr().err
    assert main(["promote", "--root", root, "speech", "1", "latest"]) == 1


def test_missing_root_is_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv(ROOT_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./registry here
    assert main(["list"]) == 2
    assert "--root" in capsys.readouterr().err


def test_mounts_under_another_program(root, capsys):
    parser = argparse.ArgumentParser(prog="streamgmm")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models")
    add_models_subcommands(models.add_subparsers(dest="models_command", required=True))
    args = parser.parse_args(["models", "show", "--root", root, "sensors"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["covariance_type"] == "diag"
