"""The per-model lock: exclusive between open files, with a timeout that names the holder."""

from __future__ import annotations

import os
import sys

import pytest
from registry_helpers import make_parameters

from streamgmm.registry.errors import RegistryLockTimeoutError
from streamgmm.registry import ModelRegistry
from streamgmm.registry.locking import model_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")


def test_a_held_lock_times_out_naming_the_holder(tmp_path):
    lock = tmp_path / ".lock"
    # flock conflicts between separate opens even in one process, as between processes.
    with (
        model_lock(lock),
        pytest.raises(RegistryLockTimeoutError, match=f"process {os.getpid()} holds it"),
        model_lock(lock, timeout=0.05),
    ):
        pass
    with model_lock(lock, timeout=0.05):  # released on exit
        pass


def test_publish_waits_for_the_lock_then_gives_up_clearly(tmp_path):
    registry = ModelRegistry(tmp_path / "registry", lock_timeout=0.05)
    registry.publish("m", make_parameters("diag"))
    with (
        model_lock(tmp_path / "registry" / "models" / "m" / ".lock"),
        pytest.raises(RegistryLockTimeoutError, match=r"Could not lock .*\.lock within"),
    ):
        registry.publish("m", make_parameters("diag"))
    # The failed publish left nothing behind: no version, no staging folder.
    assert registry.list_versions("m") == [1]
    assert list((tmp_path / "registry" / "models" / "m" / ".staging").iterdir()) == []
