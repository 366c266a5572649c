"""``kill -9`` in the middle of a publish, a predictions write, a registry gc and a datagen write.

Two ways to land the kill:

- at an exact step: the writer runs under ``strace``, which delivers SIGKILL on entry to the
  N-th ``rename`` or ``fsync`` of its main thread. Enumerating N = 1, 2, ... until the writer
  completes visits every commit step of its protocol, including windows of microseconds that a
  timer would almost never hit on a loaded machine (see :mod:`fault_helpers`);
- at a random moment: the test polls for the writer's hidden temporary folder, waits a random
  delay and sends SIGKILL itself (several repetitions, fixed seeds).

After every kill: the registry lists only complete versions that pass its own checksum
verification, ``latest`` resolves, the old predictions are intact or the new ones complete,
the datagen target is absent or complete; and a rerun succeeds with the expected result.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from streamgmm.io.atomic import remove_debris

from fault_helpers import (
    CHILD_TIMEOUT,
    child_env,
    kill_at_syscall,
    killed,
    needs_strace,
    python_child,
    run_child,
    verified_versions,
)
from fault_process import save_parameters
from ooc_helpers import tree_digest
from registry_helpers import make_parameters

from streamgmm import GaussianMixture, write_predictions
from streamgmm.io.datagen import generate_mixture_dataset
from streamgmm.registry import ModelRegistry

HERE = Path(__file__).resolve().parent
PUBLISHER = HERE.parent / "registry" / "publisher_process.py"
FAULT_PROCESS = HERE / "fault_process.py"
MAX_KILL_POINTS = 40  # a guard against a writer that never finishes; none needs half as many

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def _kill_at_every(command: list[str], syscall: str, check) -> int:
    """Kill ``command`` at its 1st, 2nd, ... ``syscall`` until it completes; ``check(n)`` after each.

    Returns the number of kills made (a test asserts a minimum, so it cannot pass vacuously).
    """
    for nth in range(1, MAX_KILL_POINTS):
        done = kill_at_syscall(command, syscall, nth)
        if not killed(done):
            assert done.returncode == 0, f"unkilled run failed:\n{done.stderr}"
            check(None)
            return nth - 1
        check(nth)
    raise AssertionError(f"still making {syscall} calls after {MAX_KILL_POINTS} kills")


# ---------------------------------------------------------------------------------- publish
@needs_strace
@pytest.mark.slow
def test_publisher_killed_at_every_rename(tmp_path):
    """Rename 1 is the commit (staging folder -> version folder), rename 2 moves ``latest``.

    Kills before 1 (every write done, lock held), between 1 and 2, and a run to completion.
    """
    root = tmp_path / "registry"
    ModelRegistry(root).publish("m", make_parameters("diag", n_features=3))
    seen = {1}

    def check(nth: int | None) -> None:
        versions = verified_versions(root, "m")  # every visible version passes its checksums
        assert seen <= set(versions), f"kill at rename #{nth} lost versions {seen - set(versions)}"
        new = set(versions) - seen
        assert len(new) <= 1, f"one publish made versions {sorted(new)}"
        latest = ModelRegistry(root).resolve("m", "latest")
        assert latest in (max(seen), max(versions)), latest
        seen.update(versions)

    kills = _kill_at_every(python_child(PUBLISHER, root, "m", 1, "again"), "rename", check)
    assert kills == 2, f"{kills} renames in a publish: the protocol changed?"
    assert ModelRegistry(root).list_versions("m") == [1, 2, 3]
    # The dead publishers' leftovers are invisible and go at the next gc.
    ModelRegistry(root).gc("m", keep_last=100, staging_grace=0.0)
    model_dir = root / "models" / "m"
    assert list((model_dir / ".staging").iterdir()) == []
    assert [e.name for e in model_dir.iterdir() if e.name.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------- registry gc
@needs_strace
@pytest.mark.slow
def test_gc_killed_at_each_step(tmp_path):
    """gc removes versions 1 and 3: killed at each of its two renames into ``.trash``, then
    in the middle of deleting the trash (the 2nd ``unlinkat``), then run to completion."""
    root = tmp_path / "registry"
    registry = ModelRegistry(root)
    published = {v: registry.publish("m", make_parameters("full", seed=v)) for v in range(1, 5)}
    registry.promote("m", 2, "production")
    gc = python_child("-m", "streamgmm", "models", "gc", "m", "--keep-last", "1", "--root", root)

    def check(what: str) -> None:
        versions = verified_versions(root, "m")
        assert {2, 4} <= set(versions), f"gc killed at {what} removed a kept version"
        for version in versions:  # what is left is bitwise what was published
            assert np.array_equal(registry.load("m", version).parameters.means,
                                  published[version].parameters.means)
        assert registry.aliases("m") == {"latest": 4, "production": 2}

    for syscall, nth in [("rename", 1), ("rename", 2), ("unlinkat", 2)]:
        done = kill_at_syscall(gc, syscall, nth)
        assert killed(done), f"gc was not killed at {syscall} #{nth}: {done.stderr}"
        check(f"{syscall} #{nth}")
    rerun = run_child(gc)
    assert rerun.returncode == 0, rerun.stderr
    check("nothing (rerun)")
    assert registry.list_versions("m") == [2, 4]
    assert list((root / "models" / "m" / ".trash").iterdir()) == [], "a finished gc leaves no trash"


# ---------------------------------------------------------------------------------- predictions
@pytest.fixture(scope="module")
def prediction_models(zarr_data, tmp_path_factory):
    """An old and a new model, and the predictions the new one must produce."""
    folder = tmp_path_factory.mktemp("prediction-models")
    old = GaussianMixture(3, random_state=0, max_iter=2, tol=0.0).fit(str(zarr_data)).parameters_
    new = GaussianMixture(3, random_state=1, max_iter=2, tol=0.0).fit(str(zarr_data)).parameters_
    save_parameters(new, folder / "new.npz")
    expected = write_predictions(new, str(zarr_data), folder / "expected.zarr")
    return old, folder / "new.npz", expected


@pytest.fixture
def predictions_case(zarr_data, prediction_models, tmp_path):
    """Old predictions at ``target``, their digest, the expected new output, the child's command."""
    old, new_file, expected = prediction_models
    target = tmp_path / "out" / "predictions.zarr"
    write_predictions(old, str(zarr_data), target)
    command = python_child(FAULT_PROCESS, "predict", new_file, zarr_data, target)
    return target, tree_digest(target), expected, command


def _old_or_new(target: Path, old_digest: dict, expected: Path, what: str) -> str:
    assert target.exists(), f"{what}: no predictions at {target} (the old ones are gone)"
    if tree_digest(target) == old_digest:
        return "old"
    got, want = zarr.open_group(target, mode="r"), zarr.open_group(expected, mode="r")
    for name in ("labels", "responsibilities", "log_likelihood"):
        assert np.array_equal(got[name][:], want[name][:]), f"{what}: {name} is neither old nor new"
    return "new"


@needs_strace
def test_predictions_killed_at_the_exchange(predictions_case):
    """The old output and the new one swap names in one system call: killed at it, old stays."""
    target, old_digest, expected, command = predictions_case
    done = kill_at_syscall(command, "renameat2", 1)
    assert killed(done), done.stderr
    assert _old_or_new(target, old_digest, expected, "killed at the exchange") == "old"
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _old_or_new(target, old_digest, expected, "rerun") == "new"


@needs_strace
@pytest.mark.parametrize("nth", [1, 2], ids=["before-aside", "between-renames"])
def test_predictions_killed_during_the_rename_aside(predictions_case, nth):
    """Without the exchange (refused as on a filesystem that lacks it) the old output is
    renamed aside first; a writer killed between the two renames leaves it under a hidden
    name, and the next writer of that target puts it back before doing anything else."""
    target, old_digest, expected, command = predictions_case
    done = kill_at_syscall(command, "rename", nth, refuse=["renameat2"])
    assert killed(done), done.stderr
    remove_debris(target)  # what the next write of this target does first
    assert _old_or_new(target, old_digest, expected, f"killed at rename #{nth}") == "old"
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _old_or_new(target, old_digest, expected, "rerun") == "new"
    assert not list(target.parent.glob(f".{target.name}.*")), "no hidden leftovers after a rerun"


@pytest.mark.slow
def test_predictions_killed_at_random_moments(predictions_case):
    target, old_digest, expected, command = predictions_case
    rng = random.Random(13)
    for _ in range(2):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=child_env())
        try:
            deadline = time.monotonic() + CHILD_TIMEOUT
            while not list(target.parent.glob(f".{target.name}.partial~*.tmp")):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=CHILD_TIMEOUT)
        finally:
            process.kill()
        _old_or_new(target, old_digest, expected, "killed at a random moment")
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _old_or_new(target, old_digest, expected, "rerun") == "new"


# ---------------------------------------------------------------------------------- datagen
DATAGEN_OPTIONS = dict(n_samples=12_000, n_features=3, n_components=3, chunk_rows=500, seed=4)


def _datagen(target: Path, *extra: str) -> list[str]:
    options = DATAGEN_OPTIONS
    return python_child(
        "-m", "streamgmm", "datagen", target, "--n-samples", options["n_samples"],
        "--n-features", options["n_features"], "--n-components", options["n_components"],
        "--chunk-rows", options["chunk_rows"], "--seed", options["seed"], "--threads", "1",
        "--quiet", *extra,
    )


@pytest.fixture(scope="module")
def datagen_reference(tmp_path_factory) -> Path:
    """The dataset an uninterrupted datagen run writes."""
    folder = tmp_path_factory.mktemp("datagen-reference")
    return generate_mixture_dataset(folder / "reference.zarr", n_threads=1, **DATAGEN_OPTIONS).path


def _absent_or_complete(target: Path, reference: Path, what: str) -> str:
    if not target.exists():
        return "absent"
    got, want = zarr.open_group(target, mode="r"), zarr.open_group(reference, mode="r")
    for name in ("X", "labels"):
        assert np.array_equal(got[name][:], want[name][:], equal_nan=True), f"{what}: {name} differs"
    return "complete"


@needs_strace
def test_datagen_killed_at_its_rename(tmp_path, datagen_reference):
    target = tmp_path / "data.zarr"
    command = _datagen(target)
    done = kill_at_syscall(command, "rename", 1)
    assert killed(done), done.stderr
    assert _absent_or_complete(target, datagen_reference, "killed at its rename") == "absent"
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _absent_or_complete(target, datagen_reference, "rerun") == "complete"


@needs_strace
def test_datagen_overwrite_killed_at_the_exchange(tmp_path, datagen_reference):
    target = tmp_path / "data.zarr"
    shutil.copytree(datagen_reference, target)
    command = _datagen(target, "--overwrite")
    done = kill_at_syscall(command, "renameat2", 1)
    assert killed(done), done.stderr
    assert _absent_or_complete(target, datagen_reference, "killed at the exchange") == "complete"


@needs_strace
def test_datagen_overwrite_killed_between_its_renames(tmp_path, datagen_reference):
    target = tmp_path / "data.zarr"
    shutil.copytree(datagen_reference, target)
    command = _datagen(target, "--overwrite")
    done = kill_at_syscall(command, "rename", 2, refuse=["renameat2"])
    assert killed(done), done.stderr
    remove_debris(target)  # what the next write of this target does first
    assert _absent_or_complete(target, datagen_reference, "killed between renames") == "complete"
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _absent_or_complete(target, datagen_reference, "rerun") == "complete"


@pytest.mark.slow
def test_datagen_killed_at_random_moments(tmp_path, datagen_reference):
    target = tmp_path / "data.zarr"
    command = _datagen(target)
    rng = random.Random(5)
    for attempt in range(2):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=child_env())
        try:
            deadline = time.monotonic() + CHILD_TIMEOUT
            while not list(tmp_path.glob(f".{target.name}.datagen~*.tmp")):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.4))
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=CHILD_TIMEOUT)
        finally:
            process.kill()
        state = _absent_or_complete(target, datagen_reference, f"kill {attempt}")
        if state == "complete":
            shutil.rmtree(target)  # finished before the kill: start the next attempt afresh
    rerun = run_child(command)
    assert rerun.returncode == 0, rerun.stderr
    assert _absent_or_complete(target, datagen_reference, "rerun") == "complete"
