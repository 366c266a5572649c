"""A registry root that does not exist is a mistake, not an empty registry.

``streamgmm models list --root /nonexistent`` used to print "no models in /nonexistent" and
exit 0, so a mistyped root looked like an empty registry. Run through the real ``streamgmm``
command (the installed entry point) in a subprocess, and in-process for the other commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry_helpers import make_parameters

from streamgmm.cli.models import ROOT_ENVIRONMENT_VARIABLE, main
from streamgmm.registry import ModelRegistry

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")


def _streamgmm(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != ROOT_ENVIRONMENT_VARIABLE}
    environment.update(env)
    return subprocess.run(
        [STREAMGMM, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def test_models_list_on_a_missing_root_exits_2_naming_it(tmp_path):
    root = tmp_path / "nonexistent"
    result = _streamgmm(["models", "list", "--root", str(root)], tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "no models" not in result.stdout
    assert f"no model registry at {root}: the path does not exist" in result.stderr
    assert "(it came from --root)" in result.stderr  # where it came from
    assert "first publish" in result.stderr and "streamgmm fit" in result.stderr  # the way out
    assert not root.exists()  # reading never creates it


def test_a_root_that_is_a_file_given_by_the_environment_exits_2(tmp_path):
    root = tmp_path / "registry.txt"
    root.write_text("not a registry\n", encoding="utf-8")
    result = _streamgmm(["models", "list"], tmp_path, **{ROOT_ENVIRONMENT_VARIABLE: str(root)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"no model registry at {root}: the path is not a folder" in result.stderr
    assert f"(it came from ${ROOT_ENVIRONMENT_VARIABLE})" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["show", "speech"], ["list", "speech"], ["verify", "speech"], ["gc", "speech", "--keep-last", "1"], ["promote", "speech", "1", "prod"]],
)
def test_every_command_refuses_a_missing_root(tmp_path, capsys, args):
    root = tmp_path / "nonexistent"
    assert main([args[0], "--root", str(root), *args[1:]]) == 2
    assert f"no model registry at {root}" in capsys.readouterr().err
    assert not root.exists()


def test_an_empty_registry_folder_still_lists_no_models(tmp_path, capsys):
    assert main(["list", "--root", str(tmp_path)]) == 0
    assert f"no models in {tmp_path}" in capsys.readouterr().out


def test_without_root_or_environment_the_working_directory_registry_is_used(tmp_path):
    """After the main job (which writes ./registry), `models list` needs no --root."""
    ModelRegistry(tmp_path / "registry").publish("found", make_parameters("diag"))
    result = _streamgmm(["models", "list"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "found" in result.stdout
    default = f"(from the default 'registry' folder in {tmp_path}"
    assert f"registry: {tmp_path / 'registry'} {default}" in result.stderr
    quiet = _streamgmm(["models", "list", "--quiet"], tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "" and "found" in quiet.stdout
    explicit = _streamgmm(["models", "list", "--root", str(tmp_path / "registry")], tmp_path)
    assert explicit.returncode == 0 and explicit.stderr == ""


def test_without_root_a_missing_default_registry_says_how_to_make_one(tmp_path):
    result = _streamgmm(["models", "list"], tmp_path)
    assert result.returncode == 2
    assert f"no model registry at {tmp_path / 'registry'}: the path does not exist" in result.stderr
    assert f"the default 'registry' folder in {tmp_path}" in result.stderr
    assert "--root PATH" in result.stderr and "streamgmm fit" in result.stderr
