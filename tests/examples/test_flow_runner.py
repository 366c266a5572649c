"""The example configs load, and overrides are validated like a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgmm.config import ConfigError
from streamgmm.examples.checkout import CheckoutNotFoundError, config_file, repository_root
from streamgmm.examples.flow_runner import load_example_config

CONFIGS = ("image_segmentation", "large_image", "customers", "heights")


@pytest.mark.parametrize("name", CONFIGS)
def test_example_configs_are_valid_and_point_into_the_generated_folder(name):
    config = load_example_config(name)
    generated = repository_root() / "data" / "generated" / "examples" / name
    assert Path(config.data.uri).parent == generated
    assert Path(config.registry.root) == generated / "registry"
    assert config.compute.scheduler == "threads"


def test_overrides_replace_only_what_they_name(tmp_path):
    base = load_example_config("image_segmentation")
    config = load_example_config(
        "image_segmentation",
        data={"uri": str(tmp_path / "pixels.zarr")},
        model={"n_components": 3},
    )
    assert config.data.uri == str(tmp_path / "pixels.zarr")
    assert config.data.variable == base.data.variable == "X"
    assert config.model.n_components == 3
    assert config.model.covariance_type == base.model.covariance_type == "tied"
    assert config.registry == base.registry


def test_invalid_overrides_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError, match=r"model\.n_components"):
        load_example_config("image_segmentation", model={"n_components": 0})
    with pytest.raises(ConfigError, match=r"model\.colour"):
        load_example_config("heights", model={"colour": "blue"})


def test_a_missing_config_is_named():
    with pytest.raises(CheckoutNotFoundError, match="nothing.yaml"):
        config_file("nothing")
