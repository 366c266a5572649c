"""A file-size limit or a full disk in the middle of every kind of write.

Each test lets a writer finish once, then makes its next write fail for real
(``RLIMIT_FSIZE`` in a child process -> ``EFBIG``, or a full ``tmpfs`` -> ``ENOSPC``), and
checks: the failure is a clear error naming the file; what was written before is intact and
loadable (registry versions through the registry's own checksum verification); no temporary
debris is visible as data; and a rerun without the fault succeeds with the same result as a
run that never failed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from fault_helpers import (
    CHILD_TIMEOUT,
    STRACE_OK,
    child_env,
    fill_until_free,
    kill_at_syscall,
    killed,
    mounted_tmpfs,
    needs_mount,
    python_child,
    run_child,
    verified_versions,
)
from fault_process import save_parameters
from ooc_fit_process import make_estimator
from ooc_helpers import tree_digest
from online_helpers import mixture_rows
from registry_helpers import make_parameters

from streamgmm import GaussianMixture, write_predictions
from streamgmm.config import load_config
from streamgmm.io.destinations import MARKER_FILENAME
from streamgmm.online.from_config import build_runner
from streamgmm.registry import ModelRegistry

HERE = Path(__file__).resolve().parent
FIT_PROCESS = HERE.parent / "ooc" / "ooc_fit_process.py"
PUBLISHER = HERE.parent / "registry" / "publisher_process.py"
FAULT_PROCESS = HERE / "fault_process.py"
CHECKPOINT_FILE = "fit-checkpoint.npz"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE, SIGKILL")


# ------------------------------------------------------------------------------ fit checkpoint
def _checkpoint_header(folder: Path) -> dict | None:
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as arrays:  # replaced atomically: always whole
        return json.loads(bytes(arrays["header"]).decode())


def _completed(folder: Path) -> int:
    header = _checkpoint_header(folder)
    return int(header["current_n_iter"]) if header and header.get("has_current") else 0


def _iterations_printed(stdout: str) -> list[int]:
    return [int(line.split()[1]) for line in stdout.splitlines() if line.strip().startswith("Iteration ")]


def _kill_after_two_iterations(fit: list[str], checkpoint: Path) -> None:
    """SIGKILL the fit once its checkpoint holds 2 iterations (polling; retried if it outran us)."""
    for _ in range(3):
        process = subprocess.Popen(fit, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
        try:
            deadline = time.monotonic() + CHILD_TIMEOUT
            while _completed(checkpoint) < 2 and process.poll() is None:
                assert time.monotonic() < deadline, "no checkpoint with 2 iterations in time"
                time.sleep(0.002)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=CHILD_TIMEOUT)
        finally:
            process.kill()
        if process.returncode == -signal.SIGKILL:
            return
        shutil.rmtree(checkpoint)  # finished before the kill on a busy machine: again
    raise AssertionError("the fit finished before it could be killed, three times")


@pytest.mark.slow
def test_checkpoint_write_past_a_file_size_limit_keeps_the_previous_checkpoint(zarr_data, tmp_path):
    max_iter = 30
    checkpoint, result = tmp_path / "checkpoint", tmp_path / "result.npz"
    fit = python_child(FIT_PROCESS, zarr_data, checkpoint, result, max_iter)

    # 1. A fit cut short (kill -9) after at least 2 iterations leaves a checkpoint of size S.
    if STRACE_OK:  # exactly: killed at its 5th rename (folder marker, initial state, iterations 1, 2)
        assert killed(kill_at_syscall(fit, "rename", 5))
    else:
        _kill_after_two_iterations(fit, checkpoint)
    done = _completed(checkpoint)
    assert 2 <= done < max_iter
    size = (checkpoint / CHECKPOINT_FILE).stat().st_size
    # A kill during a write leaves its hidden temporary file: aged here past the hour after
    # which the next successful write deletes it (step 3 checks that).
    killed_debris = sorted(set(os.listdir(checkpoint)) - {CHECKPOINT_FILE, MARKER_FILENAME})
    assert all(name.startswith(".") and name.endswith(".tmp") for name in killed_debris), killed_debris
    assert killed_debris or not STRACE_OK, "killed at a rename, the write must have left its file"
    for name in killed_debris:
        os.utime(checkpoint / name, (time.time() - 7200, time.time() - 7200))

    # 2. Resumed under a limit of S + 4 bytes: rewriting the resumed state (S bytes) fits, the
    # next iteration's checkpoint (8 bytes more: one more lower bound) does not.
    limited = run_child(fit, fsize=size + 4)
    assert limited.returncode == 1, limited.stderr
    assert "File too large" in limited.stderr and CHECKPOINT_FILE in limited.stderr, limited.stderr
    assert _completed(checkpoint) == done, "the previous checkpoint must survive the failed write"
    left = set(os.listdir(checkpoint)) - {CHECKPOINT_FILE, MARKER_FILENAME}
    assert left <= set(killed_debris), f"the failed write left its temporary file: {left}"
    assert not result.exists()

    # 3. Without the limit the fit resumes after iteration `done` and ends bitwise as an
    # uninterrupted fit.
    rerun = run_child(fit)
    assert rerun.returncode == 0, rerun.stderr
    assert _iterations_printed(rerun.stdout) == list(range(done + 1, max_iter + 1))
    assert sorted(os.listdir(checkpoint)) == sorted([CHECKPOINT_FILE, MARKER_FILENAME]), (
        "the killed write's temporary file stayed"
    )
    reference = make_estimator(max_iter, verbose=0).fit(str(zarr_data))
    with np.load(result) as got:
        for name in ("weights", "means", "covariances", "precisions_cholesky", "lower_bounds"):
            assert np.array_equal(got[name], np.asarray(getattr(reference, name + "_"))), name


# ------------------------------------------------------------------------------ model publish
def test_publish_past_a_file_size_limit_leaves_the_registry_as_it_was(tmp_path):
    root = tmp_path / "registry"
    assert run_child(python_child(PUBLISHER, root, "speech", 1, "first")).returncode == 0
    before = tree_digest(root / "models" / "speech" / "1")

    # The parameter file (about 1.2 KB) cannot be written under a 500-byte limit.
    limited = run_child(python_child(PUBLISHER, root, "speech", 2, "second"), fsize=500)
    assert limited.returncode == 1, limited.stderr
    assert "File too large" in limited.stderr and "parameters.npz" in limited.stderr, limited.stderr
    assert verified_versions(root, "speech") == [1]
    assert ModelRegistry(root).aliases("speech") == {"latest": 1}
    assert tree_digest(root / "models" / "speech" / "1") == before
    assert os.listdir(root / "models" / "speech" / ".staging") == [], "staging debris left"

    rerun = run_child(python_child(PUBLISHER, root, "speech", 2, "second"))
    assert rerun.returncode == 0, rerun.stderr
    assert verified_versions(root, "speech") == [1, 2, 3]
    assert ModelRegistry(root).show("speech", "latest").training_config == {"publisher": "second", "index": 1}


@needs_mount
@pytest.mark.parametrize("free_pages", [0, 1, 2, 3])
def test_publish_on_a_full_disk_at_each_step(tmp_path, free_pages):
    """A real tmpfs filled so that only ``free_pages`` pages stay free for the second publish.

    The publish writes three new files of one page each (parameters.npz, metadata.json, the
    new aliases.json): with 0, 1 or 2 pages free the disk fills at the first, second or third
    of them; with 3 it succeeds. A failed publish must leave no version behind (not even a
    visible one with a stale ``latest``) and name what failed.
    """
    with mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        registry = ModelRegistry(disk / "registry")
        first = registry.publish("speech", make_parameters("full", seed=1))
        page = os.statvfs(disk).f_frsize
        before = tree_digest(disk / "registry" / "models" / "speech" / "1")
        filler = fill_until_free(disk, free_pages * page)
        second = make_parameters("full", seed=2)
        try:
            published = registry.publish("speech", second)
        except OSError as error:
            assert free_pages < 3, f"3 free pages should be enough: {error}"
            assert "No space left on device" in str(error), error
            assert str(disk / "registry") in str(error), f"the error must name where: {error}"
            assert verified_versions(disk / "registry", "speech") == [first.version], (
                "a failed publish must not leave a version behind"
            )
            assert registry.aliases("speech") == {"latest": 1}
        else:
            assert free_pages == 3
            assert published.version == 2
        assert tree_digest(disk / "registry" / "models" / "speech" / "1") == before
        assert os.listdir(disk / "registry" / "models" / "speech" / ".staging") == []
        debris = [e for e in os.listdir(disk / "registry" / "models" / "speech") if e.endswith(".tmp")]
        assert debris == [], f"temporary files left: {debris}"

        filler.unlink()
        again = registry.publish("speech", second)
        versions = verified_versions(disk / "registry", "speech")
        assert versions[-1] == again.version and registry.aliases("speech")["latest"] == again.version
        assert np.array_equal(registry.load("speech").parameters.means, second.means)


# ------------------------------------------------------------------------------ predictions
def test_predictions_past_a_file_size_limit_keep_the_old_predictions(zarr_data, tmp_path):
    old_model = GaussianMixture(3, random_state=0, max_iter=3, tol=0.0).fit(str(zarr_data)).parameters_
    new_model = GaussianMixture(3, random_state=1, max_iter=3, tol=0.0).fit(str(zarr_data)).parameters_
    target = tmp_path / "out" / "predictions.zarr"
    write_predictions(old_model, str(zarr_data), target)
    before = tree_digest(target)
    save_parameters(new_model, tmp_path / "new.npz")
    predict = python_child(FAULT_PROCESS, "predict", tmp_path / "new.npz", zarr_data, target)

    # A chunk of responsibilities is 400 x 3 float64 = 9.6 KB: over a 4 KB limit.
    limited = run_child(predict, fsize=4096)
    assert limited.returncode == 1, limited.stderr
    assert "File too large" in limited.stderr and str(target) in limited.stderr, limited.stderr
    assert tree_digest(target) == before, "the old predictions were changed"
    assert os.listdir(target.parent) == [target.name], "temporary debris beside the predictions"

    rerun = run_child(predict)
    assert rerun.returncode == 0, rerun.stderr
    expected = write_predictions(new_model, str(zarr_data), tmp_path / "expected.zarr")
    got, want = zarr.open_group(target, mode="r"), zarr.open_group(expected, mode="r")
    for name in ("labels", "responsibilities", "log_likelihood"):
        assert np.array_equal(got[name][:], want[name][:]), name


# ------------------------------------------------------------------------------ stream commit
STREAM_CONFIG = """\
source: {kind: landing-folder, uri: land}
model: {n_components: 3, covariance_type: full, warm_up_size: 400, seed: 0}
online: {batch_size: 200, state: state}
"""
N_FILES, ROWS_PER_FILE = 12, 200


def _stream_folder(folder: Path) -> Path:
    (folder / "land").mkdir(parents=True)
    for i in range(N_FILES):
        np.save(folder / "land" / f"part-{i:04d}.npy", mixture_rows(ROWS_PER_FILE, seed=100 + i))
    config = folder / "online.yaml"
    config.write_text(STREAM_CONFIG)
    return config


def _stream(config: Path, *options: str) -> list[str]:
    return python_child("-m", "streamgmm.cli.stream", config, "--quiet", *options)


def _runner(config: Path):
    return build_runner(load_config(config, kind="online_update"))


def _committed(config: Path):
    runner = _runner(config)
    return runner.state_file.load(runner.stream_key())


@pytest.mark.slow
def test_stream_commit_past_a_file_size_limit_keeps_the_committed_state(tmp_path):
    calm, crashy = _stream_folder(tmp_path / "calm"), _stream_folder(tmp_path / "crashy")
    _runner(calm).run()  # the uninterrupted stream, in this process
    first = run_child(_stream(crashy, "--max-batches", "3"))
    assert first.returncode == 0, first.stderr
    state_file = crashy.parent / "state" / "runner-state.npz"
    committed = _committed(crashy)
    assert committed.count("batches") == 3

    limited = run_child(_stream(crashy), fsize=state_file.stat().st_size // 2)
    assert limited.returncode == 1, limited.stderr
    assert "File too large" in limited.stderr and "runner-state.npz" in limited.stderr, limited.stderr
    after = _committed(crashy)
    assert after.counters == committed.counters and after.position == committed.position
    assert np.array_equal(after.online.params.means, committed.online.params.means)
    assert not [n for n in os.listdir(state_file.parent) if n.endswith(".tmp")], "temporary debris"

    rerun = run_child(_stream(crashy))
    assert rerun.returncode == 0, rerun.stderr
    got, want = _committed(crashy), _committed(calm)
    assert got.counters == want.counters and got.position == want.position
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.array_equal(getattr(got.online.params, name), getattr(want.online.params, name)), name


@needs_mount
def test_predictions_on_a_full_disk_name_the_target(zarr_data, tmp_path):
    model = GaussianMixture(3, random_state=0, max_iter=2, tol=0.0).fit(str(zarr_data)).parameters_
    with mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        fill_until_free(disk, 2 * os.statvfs(disk).f_frsize)  # room for metadata, not the chunks
        target = disk / "predictions.zarr"
        with pytest.raises(OSError) as error:
            write_predictions(model, str(zarr_data), target, scheduler="synchronous")
        assert "No space left on device" in str(error.value), error.value
        assert sorted(os.listdir(disk)) == ["filler.bin"], "debris left on the full disk"
        assert str(target) in str(error.value), f"the error does not name the target: {error.value}"
