"""Real processes: concurrent publishers, and publishers killed with SIGKILL mid-publish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from registry_helpers import make_parameters

from streamgmm.registry import ModelRegistry

HERE = Path(__file__).resolve().parent
PUBLISHER = HERE / "publisher_process.py"
TIMEOUT = 120  # generous for a loaded 2-core CI machine; normally a few seconds

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX registry writes")


def _start(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, str(PUBLISHER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen[str]) -> None:
    try:
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr


@pytest.mark.slow
def test_two_processes_publishing_at_once_get_distinct_complete_versions(tmp_path):
    root, go = tmp_path / "registry", tmp_path / "go"
    processes = [_start(str(root), "shared", "50", tag, "--go", str(go)) for tag in ("p", "qq")]
    try:
        for process in processes:  # both imported and waiting: start them together
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        go.touch()
        for process in processes:
            _finish(process)
    finally:
        for process in processes:
            process.kill()

    registry = ModelRegistry(root)
    assert registry.list_versions("shared") == list(range(1, 101))
    published = set()
    for version in range(1, 101):
        loaded = registry.load("shared", version)  # verifies checksums and schema
        assert loaded.metadata.version == version
        published.add(
            (loaded.metadata.training_config["publisher"], loaded.metadata.training_config["index"])
        )
    # Every publish of both processes is there exactly once: nothing lost, nothing doubled.
    assert published == {(tag, i) for tag in ("p", "qq") for i in range(50)}
    assert registry.resolve("shared", "latest") == 100
    assert list((root / "models" / "shared" / ".staging").iterdir()) == []


def _kill_publisher_at(root: Path, event: str) -> None:
    """Publish version 1 normally, then SIGKILL the publisher of version 2 at ``event``."""
    process = _start(str(root), "m", "2", "k", "--pause-at", event)
    try:
        line = process.stdout.readline()
        assert line.startswith("paused"), process.stderr.read()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("event", ["file-written", "staged"])
def test_publisher_killed_before_commit_leaves_no_visible_version(tmp_path, event):
    root = tmp_path / "registry"
    _kill_publisher_at(root, event)
    registry = ModelRegistry(root)
    assert registry.list_versions("m") == [1]
    assert registry.aliases("m") == {"latest": 1}
    assert registry.load("m", "latest").version == 1
    staging = root / "models" / "m" / ".staging"
    assert len(list(staging.iterdir())) == 1  # the dead publisher's leftovers, invisible

    # The kernel released the dead publisher's lock: publishing goes on, with the next number.
    assert registry.publish("m", make_parameters("diag", n_features=3)).version == 2
    assert (
        registry.gc("m", keep_last=5).stale_staging == 0
    )  # young leftovers may be a live publisher
    report = registry.gc("m", keep_last=5, staging_grace=0.0)
    assert report.stale_staging == 1 and report.removed == ()
    assert list(staging.iterdir()) == []


def test_publisher_killed_after_commit_leaves_a_complete_version(tmp_path):
    root = tmp_path / "registry"
    _kill_publisher_at(root, "committed")
    registry = ModelRegistry(root)
    # Renamed into place whole, so visible and verifiable; latest still names a valid version.
    assert registry.list_versions("m") == [1, 2]
    assert registry.load("m", 2).metadata.training_config["index"] == 1
    assert registry.aliases("m") == {"latest": 1}
    assert registry.publish("m", make_parameters("diag", n_features=3)).version == 3
    assert registry.aliases("m") == {"latest": 3}


def test_command_line_runs_as_a_module(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish("m", make_parameters("full"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamgmm",
            "models",
            "list",
            "--root",
            str(tmp_path / "registry"),
            "m",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert "latest" in result.stdout and "full" in result.stdout
