"""Checkpoints: a fit killed with SIGKILL resumes to the uninterrupted model; bad checkpoints fail clearly.

The kill-and-resume test runs the fit in a real subprocess (``ooc_fit_process.py``), waits until
the checkpoint records at least two completed iterations, kills the process with SIGKILL, then
runs the same command again to completion and compares the result bit for bit with an
uninterrupted fit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ooc_fit_process import make_estimator
from ooc_helpers import (
    CountComputes,
    Interrupted,
    StopAfter,
    assert_same_model,
    copy_dataset,
    estimator,
    given_init,
)

from streamgmm import StreamGMMError
from streamgmm.drivers.checkpoint import CheckpointMismatchError
from streamgmm.io.datagen import generate_mixture_dataset

HERE = Path(__file__).resolve().parent
FIT_PROCESS = HERE / "ooc_fit_process.py"
CHECKPOINT_FILE = "fit-checkpoint.npz"
TIMEOUT = 120  # generous for a loaded 2-core CI machine; normally ~10 s in all

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def _header(checkpoint: Path) -> dict | None:
    """The JSON header of the checkpoint file, None while there is none."""
    path = checkpoint / CHECKPOINT_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as arrays:  # the file is replaced atomically
        return json.loads(bytes(arrays["header"]).decode())


def _completed_iterations(checkpoint: Path) -> int:
    header = _header(checkpoint)
    if header is None or not header.get("has_current"):
        return 0
    return int(header["current_n_iter"])


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(FIT_PROCESS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])},
    )


def _iterations_printed(stdout: str) -> list[int]:
    return [int(line.split()[1]) for line in stdout.splitlines() if line.strip().startswith("Iteration ")]


@pytest.fixture(scope="module")
def resume_data(tmp_path_factory) -> Path:
    """Enough chunks (60 of 200 rows) that one synchronous pass takes a noticeable time (~0.2 s)."""
    path = tmp_path_factory.mktemp("resume") / "mixture.zarr"
    generate_mixture_dataset(
        path, n_samples=12_000, n_features=4, n_components=3, chunk_rows=200,
        dtype="float64", seed=5, n_threads=1,
    )
    return path


@pytest.mark.slow
def test_fit_killed_with_sigkill_resumes_to_the_uninterrupted_model(resume_data, tmp_path):
    max_iter = 7
    checkpoint, result = tmp_path / "checkpoint", tmp_path / "result.npz"
    args = (str(resume_data), str(checkpoint), str(result), str(max_iter))

    process = _start(*args)
    try:
        deadline = time.monotonic() + TIMEOUT
        while _completed_iterations(checkpoint) < 2:
            assert process.poll() is None, (
                f"the fit process ended before it could be killed:\n{process.communicate()[1]}"
            )
            assert time.monotonic() < deadline, "no checkpoint with 2 completed iterations in time"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, f"not killed by SIGKILL:\n{stderr}"
    assert not result.exists(), "the killed fit must not have finished"
    done = _completed_iterations(checkpoint)
    assert 2 <= done < max_iter, f"killed after {done} iterations: the test wants a fit cut short"

    process = _start(*args)
    try:
        # the uninterrupted fit, in this process while the resumed one runs (2 cores)
        reference = make_estimator(max_iter, verbose=0, scheduler="threads").fit(str(resume_data))
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    printed = _iterations_printed(stdout)
    assert printed == list(range(done + 1, max_iter + 1)), (
        f"the second run should resume after iteration {done} and run the rest; it printed "
        f"iterations {printed}"
    )

    with np.load(result) as resumed:
        for name, attribute in [("weights", "weights_"), ("means", "means_"),
                                ("covariances", "covariances_"),
                                ("precisions_cholesky", "precisions_cholesky_"),
                                ("lower_bounds", "lower_bounds_")]:
            expected = np.asarray(getattr(reference, attribute))
            assert np.array_equal(resumed[name], expected), (
                f"resumed fit: {name} differs from the uninterrupted fit "
                f"(max abs diff {np.abs(resumed[name] - expected).max():.3e})"
            )
        assert int(resumed["n_iter"]) == reference.n_iter_ == max_iter


def test_interrupted_fit_resumes_on_another_scheduler_to_the_same_model(zarr3_path, tmp_path):
    """Scheduler and verbosity are not part of the checkpoint key: resuming on threads is fine."""
    checkpoint = tmp_path / "checkpoint"
    uninterrupted = estimator(scheduler="synchronous").fit(str(zarr3_path))
    with pytest.raises(Interrupted), StopAfter(4):  # init sample + 3 EM passes
        estimator(scheduler="synchronous").fit(str(zarr3_path), checkpoint=checkpoint)
    assert _completed_iterations(checkpoint) == 3

    with CountComputes() as computes:
        resumed = estimator(scheduler="threads", verbose=0).fit(str(zarr3_path), checkpoint=checkpoint)
    assert computes.count == 6 - 3, "a resumed fit makes one pass per remaining iteration, no init"
    assert_same_model(resumed, uninterrupted, "resumed after an interruption")


def test_completed_checkpoint_gives_the_model_without_another_pass(zarr3_path, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    first = estimator(covariance_type="tied").fit(str(zarr3_path), checkpoint=checkpoint)
    with CountComputes() as computes:
        again = estimator(covariance_type="tied").fit(str(zarr3_path), checkpoint=checkpoint)
    assert computes.count == 0, f"{computes.count} passes over data that were already fitted"
    assert_same_model(again, first, "fit again from a completed checkpoint")


def _valid_checkpoint(zarr3_path, checkpoint: Path) -> bytes:
    estimator(max_iter=2).fit(str(zarr3_path), checkpoint=checkpoint)
    return (checkpoint / CHECKPOINT_FILE).read_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "overwritten-middle"])
def test_corrupted_checkpoint_is_a_clear_error(zarr3_path, tmp_path, damage):
    checkpoint = tmp_path / "checkpoint"
    good = _valid_checkpoint(zarr3_path, checkpoint)
    bad = {
        "garbage": b"\x00not a checkpoint\xff" * 40,
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "overwritten-middle": good[: len(good) // 2] + b"\x00" * 64 + good[len(good) // 2 + 64:],
    }[damage]
    path = checkpoint / CHECKPOINT_FILE
    path.write_bytes(bad)

    try:
        estimator(max_iter=2).fit(str(zarr3_path), checkpoint=checkpoint)
    except StreamGMMError as error:
        message = str(error)
    except Exception as error:  # noqa: BLE001 - the point is which exception it is
        pytest.fail(
            f"the {damage} checkpoint file raised {type(error).__name__}: {error!s} -- expected a "
            "streamgmm error (CheckpointMismatchError) that names the checkpoint file and says to "
            "delete it"
        )
    else:
        pytest.fail(f"the {damage} checkpoint file was accepted")
    assert str(path) in message, message
    assert "Delete" in message or "delete" in message, message
    assert path.read_bytes() == bad, "the failing fit must leave the checkpoint file as it was"


@pytest.mark.parametrize(
    "change",
    ["other-data", "n_components", "covariance_type", "random_state", "means_init"],
)
def test_checkpoint_of_another_fit_is_refused(zarr3_path, X, tmp_path, change):
    checkpoint = tmp_path / "checkpoint"
    good = _valid_checkpoint(zarr3_path, checkpoint)
    source, options = str(zarr3_path), {}
    if change == "other-data":
        source = str(copy_dataset(Path(zarr3_path), tmp_path / "copy.zarr"))
    elif change == "n_components":
        options = {"n_components": 2}
    elif change == "covariance_type":
        options = {"covariance_type": "diag"}
    elif change == "random_state":
        options = {"random_state": 1}
    else:
        options = {"means_init": given_init(X, "full")["means_init"]}

    with pytest.raises(CheckpointMismatchError, match="different fit"):
        estimator(max_iter=2, **options).fit(source, checkpoint=checkpoint)
    assert (checkpoint / CHECKPOINT_FILE).read_bytes() == good, "the refused checkpoint was modified"


@pytest.mark.parametrize("stop_after", [2, 4, 6], ids=["in-init-0", "between-inits", "in-init-1"])
def test_interrupted_multi_init_fit_resumes_to_the_same_model(zarr3_path, tmp_path, stop_after):
    """n_init=2, 3 iterations each: every initialisation is one sampling pass plus 3 EM passes."""
    checkpoint = tmp_path / "checkpoint"
    options = dict(n_init=2, max_iter=3, scheduler="synchronous")
    uninterrupted = estimator(**options).fit(str(zarr3_path))
    with pytest.raises(Interrupted), StopAfter(stop_after):
        estimator(**options).fit(str(zarr3_path), checkpoint=checkpoint)
    with CountComputes() as computes:
        resumed = estimator(**options).fit(str(zarr3_path), checkpoint=checkpoint)
    assert computes.count == 8 - stop_after, "the resumed fit must not redo completed passes"
    assert_same_model(resumed, uninterrupted, f"n_init=2 resumed after {stop_after} passes")


def _refused_or_correct(fit_with_checkpoint, fit_fresh, what: str) -> None:
    """A checkpoint of another fit must be refused, or at least not change the result."""
    try:
        got = fit_with_checkpoint()
    except CheckpointMismatchError:
        return
    expected = fit_fresh()
    assert_same_model(
        got, expected,
        f"{what}: the checkpoint of the earlier fit was accepted and its model returned instead of "
        "the model of this fit (expected CheckpointMismatchError or a fresh fit)",
    )


def test_checkpoint_of_an_unweighted_fit_is_not_used_for_a_weighted_fit(zarr3_path, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    estimator().fit(str(zarr3_path), checkpoint=checkpoint)
    weights = np.random.default_rng(0).uniform(0.1, 5.0, size=2300)
    _refused_or_correct(
        lambda: estimator().fit(str(zarr3_path), sample_weight=weights, checkpoint=checkpoint),
        lambda: estimator().fit(str(zarr3_path), sample_weight=weights),
        "sample_weight given on the second fit",
    )


def test_checkpoint_of_data_since_rewritten_in_place_is_not_used(zarr3_path, tmp_path):
    import zarr

    store = copy_dataset(Path(zarr3_path), tmp_path / "data.zarr")
    checkpoint = tmp_path / "checkpoint"
    estimator().fit(str(store), checkpoint=checkpoint)
    array = zarr.open_group(str(store), mode="r+")["X"]
    array[:] = array[:][:, ::-1] + 5.0  # new values; same path, shape, chunks and dtype
    _refused_or_correct(
        lambda: estimator().fit(str(store), checkpoint=checkpoint),
        lambda: estimator().fit(str(store)),
        "the Zarr store was rewritten with other values at the same path",
    )
