"""Aliases move atomically and gc never removes what an alias names."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import make_parameters

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.errors import ArtifactIntegrityError, ModelNotFoundError


def _publish(registry, count: int, name: str = "m") -> None:
    for seed in range(count):
        registry.publish(name, make_parameters("diag", seed=seed))


def test_latest_follows_publish_and_promote_sets_user_aliases(registry):
    _publish(registry, 3)
    assert registry.aliases("m") == {"latest": 3}
    assert registry.promote("m", 2, "production") == 2
    assert registry.promote("m", "production", "staging") == 2
    _publish(registry, 1)
    assert registry.aliases("m") == {"latest": 4, "production": 2, "staging": 2}
    assert registry.load("m", "production").version == 2
    assert registry.remove_alias("m", "staging") == 2
    assert registry.aliases("m") == {"latest": 4, "production": 2}


def test_latest_is_reserved_and_unknown_targets_are_refused(registry):
    _publish(registry, 1)
    with pytest.raises(InvalidParameterError, match="maintained by the registry"):
        registry.promote("m", 1, "latest")
    with pytest.raises(InvalidParameterError, match="maintained by the registry"):
        registry.remove_alias("m", "latest")
    with pytest.raises(ModelNotFoundError, match="no version 9"):
        registry.promote("m", 9, "production")
    with pytest.raises(ModelNotFoundError, match="no alias 'nope'"):
        registry.remove_alias("m", "nope")


def test_promote_refuses_a_damaged_version(registry):
    _publish(registry, 2)
    path = Path(registry.root) / "models" / "m" / "1" / "parameters.npz"
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:100] + bytes([data[100] ^ 0x01]) + data[101:])
    with pytest.raises(ArtifactIntegrityError, match="failed verification"):
        registry.promote("m", 1, "production")
    assert "production" not in registry.aliases("m")


def test_gc_keeps_the_newest_and_every_aliased_version(registry):
    _publish(registry, 6)
    registry.promote("m", 2, "production")
    registry.promote("m", 4, "staging")
    dry = registry.gc("m", keep_last=1, dry_run=True)
    assert dry.removed == (1, 3, 5) and dry.kept == (2, 4, 6)
    assert registry.list_versions("m") == [1, 2, 3, 4, 5, 6]  # a dry run deletes nothing

    report = registry.gc("m", keep_last=1)
    assert report.removed == (1, 3, 5)
    assert registry.list_versions("m") == [2, 4, 6]
    for version in (2, 4, 6):
        registry.load("m", version)  # what is left is intact
    model_dir = Path(registry.root) / "models" / "m"
    assert list((model_dir / ".trash").iterdir()) == []
    assert registry.gc("m", keep_last=1).removed == ()  # all that is left is aliased


def test_gc_keep_last_counts_newest_versions(registry):
    _publish(registry, 5)
    assert registry.gc("m", keep_last=2).removed == (1, 2, 3)
    assert registry.list_versions("m") == [4, 5]


def test_version_numbers_are_not_reused_after_gc(registry):
    _publish(registry, 3)
    registry.gc("m", keep_last=1)
    assert registry.list_versions("m") == [3]
    assert registry.publish("m", make_parameters("diag")).version == 4


def test_gc_arguments_are_checked(registry):
    _publish(registry, 1)
    with pytest.raises(InvalidParameterError, match="keep_last must be an integer >= 1"):
        registry.gc("m", keep_last=0)
    with pytest.raises(ModelNotFoundError, match="No model named 'other'"):
        registry.gc("other", keep_last=1)
