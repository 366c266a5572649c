"""Where the registry is: one rule (``streamgmm.registry.location``) for commands and configs."""

from __future__ import annotations

import pytest

from streamgmm.cli._registry import announce_config_registry, config_registry_location
from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.preflight import check_job
from streamgmm.registry.location import (
    ROOT_ENVIRONMENT_VARIABLE,
    RegistryNotFoundError,
    locate_registry,
    require_registry,
)


def test_given_then_environment_then_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, "from-env")
    given = locate_registry("given", given_by="--registry")
    assert (given.root, given.origin, given.explicit) == (
        str(tmp_path / "given"), "--registry", True)
    found = locate_registry()
    assert found.root == str(tmp_path / "from-env") and not found.explicit
    assert found.origin == f"${ROOT_ENVIRONMENT_VARIABLE}"
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, "s3://bucket/registry")
    assert locate_registry().root == "s3://bucket/registry"  # URLs as given
    monkeypatch.delenv(ROOT_ENVIRONMENT_VARIABLE)
    default = locate_registry()
    assert default.root == str(tmp_path / "registry")
    assert default.origin == f"the default 'registry' folder in {tmp_path}"
    beside = locate_registry(default_base=tmp_path / "configs")
    assert beside.root == str(tmp_path / "configs" / "registry")


def test_a_missing_root_names_the_path_its_origin_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, str(tmp_path / "typo"))
    with pytest.raises(RegistryNotFoundError) as caught:
        require_registry(locate_registry())
    message = str(caught.value)
    assert f"no model registry at {tmp_path / 'typo'}: the path does not exist" in message
    assert f"(it came from ${ROOT_ENVIRONMENT_VARIABLE})" in message
    assert "streamgmm fit DATA --n-components K" in message and "--root PATH" in message
    (tmp_path / "typo").mkdir()
    assert require_registry(locate_registry()).root == str(tmp_path / "typo")


def _fit_document(**registry):
    return {"data": {"uri": "x.zarr"}, "model": {"n_components": 2},
            "registry": {"model": "m", **registry}}


def test_a_config_without_root_finds_the_registry_by_the_same_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = tmp_path / "configs"
    monkeypatch.delenv(ROOT_ENVIRONMENT_VARIABLE, raising=False)
    default = parse_config(_fit_document(), base_dir=configs).registry.root
    assert default == str(configs / "registry")
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, "shared")
    # The environment is relative to the working directory, not to the config file.
    assert parse_config(_fit_document(), base_dir=configs).registry.root == str(tmp_path / "shared")
    explicit = parse_config(_fit_document(root="mine"), base_dir=configs)
    assert explicit.registry.root == str(configs / "mine")  # the key wins over the environment


def test_config_commands_say_how_the_registry_was_found(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENVIRONMENT_VARIABLE, str(tmp_path / "shared"))
    path = tmp_path / "job.yaml"
    path.write_text("data: {uri: x.zarr}\nmodel: {n_components: 2}\nregistry: {model: m}\n",
                    encoding="utf-8")
    location = config_registry_location(load_config(path), str(path))
    assert location.root == str(tmp_path / "shared") and not location.explicit
    assert location.announcement("registry.root in the config") == (
        f"registry: {tmp_path / 'shared'} (from ${ROOT_ENVIRONMENT_VARIABLE}; "
        "registry.root in the config chooses another)")
    path.write_text("data: {uri: x.zarr}\nmodel: {n_components: 2}\n"
                    "registry: {model: m, root: here}\n", encoding="utf-8")
    location = config_registry_location(load_config(path), str(path))
    assert location.explicit and location.origin == f"registry.root in {path}"


def test_score_refuses_a_registry_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENVIRONMENT_VARIABLE, raising=False)
    config = parse_config({"data": {"uri": "x.zarr"}, "registry": {"model": "m"}}, "score",
                          base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_job(config, "score.yaml")
    message = str(caught.value)
    missing = f"no model registry at {tmp_path / 'registry'}: the path does not exist"
    assert f"registry.root: {missing}" in message
    assert "run a fit first" in message


def test_flow_commands_announce_a_registry_the_config_does_not_name(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ROOT_ENVIRONMENT_VARIABLE, raising=False)
    path = tmp_path / "score.yaml"
    path.write_text("data: {uri: x.zarr}\nregistry: {model: m}\n", encoding="utf-8")
    announce_config_registry(str(path), "score", quiet=False)
    assert capsys.readouterr().err == (
        f"registry: {tmp_path / 'registry'} (from the default 'registry' folder in {tmp_path}; "
        "registry.root in the config chooses another)\n")
    announce_config_registry(str(path), "score", quiet=True)
    announce_config_registry(str(tmp_path / "missing.yaml"), "score", quiet=False)
    assert capsys.readouterr().err == ""  # quiet; an unreadable config is reported by the run
