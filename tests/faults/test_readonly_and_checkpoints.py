"""A read-only registry, and corrupted or foreign fit checkpoints.

Read-only, for real: the tests run as root, for whom ``chmod a-w`` stops nothing. A real
``tmpfs`` is remounted read-only (every write fails with ``EROFS``, as on a read-only NFS
export or a snapshot), and, where mounting is not permitted, a child process runs with
``RLIMIT_FSIZE = 0`` (every byte written fails with ``EFBIG``). Writes must fail with a
one-line error naming the registry, reads (list, load, verify) must go on working, and
nothing may change.

Checkpoints: a fit must never resume from a checkpoint that is damaged (bit rot, a torn
copy) or belongs to another fit (other data of the same shape, other parameters): a clear
error naming the file, or a fresh fit, never a wrong model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fault_helpers import mounted_tmpfs, needs_mount, python_child, remount, run_child, verified_versions
from ooc_helpers import assert_same_model, estimator, tree_digest
from registry_helpers import make_parameters

from streamgmm.registry.errors import RegistryError
from streamgmm.drivers.checkpoint import CheckpointMismatchError, FitCheckpoint
from streamgmm.registry import ModelRegistry

HERE = Path(__file__).resolve().parent
PUBLISHER = HERE.parent / "registry" / "publisher_process.py"


# ------------------------------------------------------------------------------ read-only registry
@needs_mount
def test_read_only_registry_refuses_writes_clearly_and_still_reads(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        root = disk / "registry"
        registry = ModelRegistry(root)
        registry.publish("m", make_parameters("full", seed=1))
        registry.publish("m", make_parameters("full", seed=2))
        before = tree_digest(root)
        remount(disk, "ro")
        try:
            writes = {
                "publish": lambda: registry.publish("m", make_parameters("full", seed=3)),
                "promote": lambda: registry.promote("m", 1, "production"),
                "gc": lambda: registry.gc("m", keep_last=1),
            }
            for what, write in writes.items():
                with pytest.raises(RegistryError) as error:
                    write()
                message = str(error.value)
                assert "Read-only file system" in message and str(root) in message, (what, message)
                assert isinstance(error.value, OSError), what  # callers catching OSError still do
            cli = run_child(python_child("-m", "streamgmm", "models", "gc", "m", "--keep-last", "1",
                                         "--root", root))
            assert cli.returncode == 1 and cli.stderr.startswith("error: "), cli.stderr
            assert "Traceback" not in cli.stderr and "Read-only file system" in cli.stderr, cli.stderr
            # Reading goes on: list, load with checksums, and the verify command.
            assert verified_versions(root, "m") == [1, 2]
            verify = run_child(python_child("-m", "streamgmm", "models", "verify", "m", "--root", root))
            assert verify.returncode == 0, verify.stdout + verify.stderr
            assert tree_digest(root) == before
        finally:
            remount(disk, "rw")
        assert registry.publish("m", make_parameters("full", seed=3)).version == 3
        assert verified_versions(root, "m") == [1, 2, 3]


def test_registry_where_no_byte_can_be_written(tmp_path):
    """RLIMIT_FSIZE = 0 in the publisher: the portable stand-in for a read-only disk."""
    root = tmp_path / "registry"
    assert run_child(python_child(PUBLISHER, root, "m", 1, "first")).returncode == 0
    before = tree_digest(root / "models" / "m" / "1")
    limited = run_child(python_child(PUBLISHER, root, "m", 1, "second"), fsize=0)
    assert limited.returncode == 1
    last = limited.stderr.strip().splitlines()[-1]
    assert "RegistryWriteError" in last and "File too large" in last and "Nothing was published" in last, last
    assert verified_versions(root, "m") == [1]
    assert tree_digest(root / "models" / "m" / "1") == before


# ------------------------------------------------------------------------------ checkpoints
MAX_ITER = 4


@pytest.fixture
def mid_fit_checkpoint(zarr_data, tmp_path) -> Path:
    """A complete checkpoint of ``estimator(max_iter=MAX_ITER)`` on ``zarr_data``."""
    checkpoint = tmp_path / "checkpoint"
    estimator(max_iter=MAX_ITER, scheduler="synchronous").fit(str(zarr_data), checkpoint=checkpoint)
    return checkpoint


def _refused_or_fresh(zarr_data, checkpoint: Path, what: str) -> str:
    """Fit with ``checkpoint``: a clear refusal naming it, or exactly the fresh model."""
    fresh = estimator(max_iter=MAX_ITER, scheduler="synchronous").fit(str(zarr_data))
    try:
        got = estimator(max_iter=MAX_ITER, scheduler="synchronous").fit(str(zarr_data), checkpoint=checkpoint)
    except CheckpointMismatchError as error:
        assert str(FitCheckpoint(checkpoint).path) in str(error), error
        return "refused"
    assert_same_model(got, fresh, f"{what}: resumed from a checkpoint it should not trust")
    return "fresh"


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_checkpoint_with_a_flipped_bit_is_never_resumed(zarr_data, mid_fit_checkpoint, where):
    """Bit rot inside the stored arrays (zip members carry a CRC-32)."""
    path = FitCheckpoint(mid_fit_checkpoint).path
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x10
    path.write_bytes(bytes(data))
    assert _refused_or_fresh(zarr_data, mid_fit_checkpoint, f"bit flipped at {where:.0%}") == "refused"
    assert path.read_bytes() == bytes(data), "a refused checkpoint must be left for inspection"


@pytest.mark.parametrize("keep", [0, 22, 0.5, -1])
def test_torn_checkpoint_is_never_resumed(zarr_data, mid_fit_checkpoint, keep):
    """A checkpoint cut short (e.g. copied by hand onto a full disk): empty, header only,
    half, all but the last byte."""
    path = FitCheckpoint(mid_fit_checkpoint).path
    data = path.read_bytes()
    cut = {0: 0, 22: 22, 0.5: len(data) // 2, -1: len(data) - 1}[keep]
    path.write_bytes(data[:cut])
    assert _refused_or_fresh(zarr_data, mid_fit_checkpoint, f"cut at {cut} bytes") == "refused"


def test_checkpoint_of_other_data_with_the_same_shape_is_refused(zarr_data, other_zarr_data, tmp_path):
    foreign = tmp_path / "foreign"
    estimator(max_iter=2, scheduler="synchronous").fit(str(other_zarr_data), checkpoint=foreign)
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    shutil.copy(FitCheckpoint(foreign).path, FitCheckpoint(checkpoint).path)
    with pytest.raises(CheckpointMismatchError, match="different fit"):
        estimator(max_iter=MAX_ITER, scheduler="synchronous").fit(str(zarr_data), checkpoint=checkpoint)


@pytest.mark.parametrize("change", [dict(n_components=2), dict(covariance_type="diag"), dict(max_iter=MAX_ITER + 1)])
def test_checkpoint_of_other_parameters_is_refused(zarr_data, mid_fit_checkpoint, change):
    with pytest.raises(CheckpointMismatchError, match="different fit"):
        options = dict(max_iter=MAX_ITER, scheduler="synchronous") | change
        estimator(**options).fit(str(zarr_data), checkpoint=mid_fit_checkpoint)
