"""Damaged or foreign files are refused on load, with the file named and a way out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from registry_helpers import make_parameters

from streamgmm.registry.errors import (
    ArtifactIntegrityError,
    ModelNotFoundError,
    UnsupportedSchemaVersionError,
)
from streamgmm.registry.jsonvalues import CHECKSUM_KEY, with_checksum


def _version_dir(registry, name: str = "m", version: int = 1) -> Path:
    return Path(registry.root) / "models" / name / str(version)


def _rewrite(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)  # published files are read-only; corruption does not ask
    path.write_bytes(data)


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    _rewrite(path, bytes(data))


@pytest.mark.parametrize("where", ["header", "middle", "last"])
def test_a_flipped_byte_in_the_parameter_file_is_detected(registry, where):
    registry.publish("m", make_parameters("full"))
    path = _version_dir(registry) / "parameters.npz"
    size = path.stat().st_size
    _flip_byte(path, {"header": 10, "middle": size // 2, "last": size - 1}[where])
    with pytest.raises(
        ArtifactIntegrityError, match=r"parameters\.npz failed verification"
    ) as info:
        registry.load("m")
    assert str(path) in str(info.value)
    assert "restore its folder from a backup" in str(info.value)
    registry.show("m")  # the metadata alone is still fine


def test_a_truncated_or_missing_parameter_file_is_detected(registry):
    registry.publish("m", make_parameters("diag"))
    path = _version_dir(registry) / "parameters.npz"
    _rewrite(path, path.read_bytes()[:-7])
    with pytest.raises(ArtifactIntegrityError, match="failed verification"):
        registry.load("m")
    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match=r"parameters\.npz is missing"):
        registry.load("m")


def test_a_flipped_byte_in_the_metadata_is_detected(registry):
    registry.publish("m", make_parameters("diag"), metrics={"n_iter": 12})
    path = _version_dir(registry) / "metadata.json"
    text = path.read_text()
    _rewrite(path, text.replace('"n_iter": 12', '"n_iter": 13').encode())
    with pytest.raises(ArtifactIntegrityError, match=r"metadata\.json was altered") as info:
        registry.load("m")
    assert str(path) in str(info.value)
    _rewrite(path, text.replace('"n_iter"', '"n_iter', 1).encode())
    with pytest.raises(ArtifactIntegrityError, match=r"metadata\.json is not valid JSON"):
        registry.show("m")


def _rewrite_metadata(path: Path, **changes) -> None:
    document = json.loads(path.read_text())
    document.pop(CHECKSUM_KEY)
    document.update(changes)
    _rewrite(path, with_checksum(document))  # a consistent checksum: only the content is new


def test_an_unknown_future_schema_version_is_refused(registry):
    registry.publish("m", make_parameters("tied"))
    path = _version_dir(registry) / "metadata.json"
    _rewrite_metadata(path, schema_version=3, a_field_from_the_future=[1, 2])
    with pytest.raises(UnsupportedSchemaVersionError, match="schema_version=3, newer") as info:
        registry.load("m")
    assert str(path) in str(info.value) and "Upgrade streamgmm" in str(info.value)


@pytest.mark.parametrize("schema_version", [0, "1", None])
def test_an_invalid_schema_version_is_refused(registry, schema_version):
    registry.publish("m", make_parameters("tied"))
    _rewrite_metadata(_version_dir(registry) / "metadata.json", schema_version=schema_version)
    with pytest.raises(UnsupportedSchemaVersionError, match="expected an integer from 1"):
        registry.load("m")


def test_metadata_breaking_the_schema_is_refused(registry):
    registry.publish("m", make_parameters("spherical"))
    path = _version_dir(registry) / "metadata.json"
    _rewrite_metadata(path, n_components=-1)
    with pytest.raises(
        ArtifactIntegrityError, match="does not follow metadata schema 1: n_components"
    ):
        registry.load("m")
    _rewrite_metadata(path, n_components=3, extra_key=1)
    with pytest.raises(ArtifactIntegrityError, match=r"unknown keys \['extra_key'\]"):
        registry.load("m")


def test_metadata_and_arrays_must_agree(registry):
    registry.publish("m", make_parameters("diag", n_components=3))
    _rewrite_metadata(_version_dir(registry) / "metadata.json", n_components=4)
    with pytest.raises(ArtifactIntegrityError, match="holds 3 components in 2 features"):
        registry.load("m")


def test_a_version_copied_under_another_number_is_refused(registry):
    registry.publish("m", make_parameters("diag"))
    os.rename(_version_dir(registry, version=1), _version_dir(registry, version=7))
    with pytest.raises(ArtifactIntegrityError, match="describes 'm' version 1, not 'm' version 7"):
        registry.load("m", 7)


def test_a_corrupted_alias_file_is_detected(registry):
    registry.publish("m", make_parameters("diag"))
    registry.publish("m", make_parameters("diag"), aliases=["production"])
    path = Path(registry.root) / "models" / "m" / "aliases.json"
    path.write_text(path.read_text().replace('"version": 2', '"version": 1', 1))
    with pytest.raises(ArtifactIntegrityError, match=r"aliases\.json was altered") as info:
        registry.load("m", "production")
    assert "remove this file" in str(info.value)
    path.unlink()  # the documented repair: latest falls back to the newest version
    assert registry.resolve("m") == 2
    with pytest.raises(ModelNotFoundError, match="no alias 'production'"):
        registry.load("m", "production")
