"""A stream position belongs to one source (issue 13, item 5).

Real Zarr stores and landing folders in tmp folders, real ``streamgmm stream``
processes: a source that was replaced, rewritten, shortened or recreated since
the last commit is refused at the next start, naming both identities and the way
out, and nothing is committed; ``--reset-source`` keeps the model and reads the
source afresh; a state of the previous schema adopts the source with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from streamgmm.online.history import read_history
from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamRunner, StreamSettings
from streamgmm.online.sources import (
    LANDING_ID_FILENAME,
    AppendedZarrSource,
    LandingFolderSource,
    SourceMismatchError,
)
from streamgmm.online.state import STATE_FILENAME, StateFile
from streamgmm.registry import ModelRegistry

from online_helpers import mixture_rows

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
SETUP = ModelSetup(n_components=2, covariance_type="diag", warm_up_size=400, random_state=0)


def _settings(tmp_path: Path, **changes) -> StreamSettings:
    base = dict(
        state_dir=str(tmp_path / "state"),
        batch_size=200,
        model=SETUP,
        snapshots=SnapshotPolicy(registry_root=None),
        drift=None,
        anomaly_quantile=None,
    )
    base.update(changes)
    return StreamSettings(**base)


def _write_store(store: Path, rows: np.ndarray) -> None:
    if store.exists():
        shutil.rmtree(store)
    xr.Dataset({"X": (("sample", "feature"), rows)}).to_zarr(
        store, zarr_format=3, encoding={"X": {"chunks": (300, 4)}}
    )


def _state_bytes(tmp_path: Path) -> bytes:
    return (tmp_path / "state" / STATE_FILENAME).read_bytes()


# ------------------------------------------------------------------------- Zarr store
@pytest.mark.parametrize(
    ("replacement", "reason"),
    [
        (lambda data: data[:600], "fewer than the 1400"),  # shortened
        (lambda data: mixture_rows(3000, seed=99), "first 200 rows differ"),  # replaced, longer
        (lambda data: np.concatenate([data[:1000], data[1000:] + 1.0]), "rows 1200-1399 differ"),  # rewritten
    ],
    ids=["shortened", "replaced", "rewritten-tail"],
)
def test_a_changed_zarr_store_is_refused_naming_both_identities(tmp_path: Path, replacement, reason) -> None:
    store = tmp_path / "grow.zarr"
    data = mixture_rows(1500, seed=1)
    _write_store(store, data)
    settings = _settings(tmp_path)
    first = StreamRunner(AppendedZarrSource(str(store), variable="X"), settings).run()
    assert first.state.position == {"rows": 1400}
    identity = first.state.source_identity
    assert identity["rows"] == 1400 and identity["head"]["rows"] == 200  # the first batch
    assert identity["last"] == {"start": 1200, "stop": 1400, "sha256": identity["last"]["sha256"]}
    committed = _state_bytes(tmp_path)

    _write_store(store, replacement(data))
    with pytest.raises(SourceMismatchError) as caught:
        StreamRunner(AppendedZarrSource(str(store), variable="X"), settings).run()
    message = str(caught.value)
    assert reason in message and str(store) in message
    assert "Committed: 1400 rows" in message and "now:" in message  # both identities
    assert identity["head"]["sha256"][:12] in message
    assert "another state folder" in message and "--reset-source" in message
    assert _state_bytes(tmp_path) == committed  # nothing committed by the refused run


def test_an_unchanged_store_that_grew_resumes(tmp_path: Path) -> None:
    store = tmp_path / "grow.zarr"
    data = mixture_rows(2000, seed=2)
    _write_store(store, data[:1000])
    registry = SnapshotPolicy(registry_root=str(tmp_path / "registry"), model="grown", every_batches=None)
    settings = _settings(tmp_path, snapshots=registry)
    StreamRunner(AppendedZarrSource(str(store), variable="X"), settings).run()
    xr.Dataset({"X": (("sample", "feature"), data[1000:])}).to_zarr(store, append_dim="sample")
    summary = StreamRunner(AppendedZarrSource(str(store), variable="X"), settings).run()
    assert summary.state.position == {"rows": 2000}
    assert summary.state.source_identity["last"]["start"] == 1800
    # The published version records the identity its position belongs to.
    published = ModelRegistry(tmp_path / "registry").show("grown", summary.versions[-1])
    assert published.stream_positions["source_identity"] == summary.state.source_identity


def test_a_store_shortened_under_a_running_source_is_an_error_not_idle(tmp_path: Path) -> None:
    store = tmp_path / "grow.zarr"
    _write_store(store, mixture_rows(1200, seed=3))
    source = AppendedZarrSource(str(store), variable="X")
    assert source.next_batch({"rows": 800}, 200).position == {"rows": 1000}
    _write_store(store, mixture_rows(500, seed=4))
    # The reader opened before still believes in 1,200 rows: the missing chunk is
    # first taken for "not written yet", then the store is opened afresh.
    assert source.next_batch({"rows": 1000}, 200) is None
    with pytest.raises(SourceMismatchError, match="now has 500 rows, fewer than the 1000"):
        source.next_batch({"rows": 1000}, 200)


def test_reset_source_keeps_the_model_and_reads_the_new_store_from_its_start(tmp_path: Path) -> None:
    """Through the real command: refused (exit 2), then --reset-source, then it goes on."""
    store = tmp_path / "grow.zarr"
    _write_store(store, mixture_rows(1500, seed=5))
    (tmp_path / "s.yaml").write_text(
        "source: {kind: zarr-append, uri: grow.zarr, variable: X}\n"
        "model: {n_components: 2, covariance_type: diag, warm_up_size: 400, seed: 0}\n"
        "online: {batch_size: 200, state: state, drift: null, anomaly: null}\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}

    def stream(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STREAMGMM, "stream", "s.yaml", "--quiet", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    first = stream()
    assert first.returncode == 0, first.stderr
    assert "total        5 batches, 1,400 rows" in first.stdout
    replacement = mixture_rows(1000, seed=6)
    _write_store(store, replacement)
    refused = stream()
    assert refused.returncode == 2
    assert "stream refused" in refused.stderr and "fewer than the 1400" in refused.stderr
    reset = stream("--reset-source")
    assert reset.returncode == 0, reset.stderr
    assert "Resetting as asked" in reset.stderr
    # The model and counters go on: 5 more batches of the new store's 1,000 rows.
    assert "stream: 5 batches, 1,000 rows this run" in reset.stdout
    assert "total        10 batches, 2,400 rows" in reset.stdout
    again = stream()  # the reset is committed: the next start matches and finds nothing new
    assert again.returncode == 0, again.stderr
    assert "stream: 0 batches" in again.stdout
    history = read_history(tmp_path / "state")
    np.testing.assert_array_equal(history["batch"], np.arange(1, 11))


# ---------------------------------------------------------------------- landing folder
def _landing(tmp_path: Path, n_files: int, rows: int = 300, name: str = "land") -> Path:
    land = tmp_path / name
    land.mkdir()
    for i in range(n_files):
        np.save(land / f"part-{i:03d}.npy", mixture_rows(rows, seed=20 + i))
    return land


def test_a_recreated_landing_folder_is_refused(tmp_path: Path) -> None:
    land = _landing(tmp_path, 4)
    settings = _settings(tmp_path)
    first = StreamRunner(LandingFolderSource(land), settings).run()
    identity = first.state.source_identity
    assert identity["files"] == 4 and identity["file"]["name"] == "part-003.npy"
    assert (land / LANDING_ID_FILENAME).read_text().strip() == identity["folder_id"]
    committed = _state_bytes(tmp_path)

    shutil.rmtree(land)  # the operator starts the folder over, with new files
    _landing(tmp_path, 2)
    with pytest.raises(SourceMismatchError) as caught:
        StreamRunner(LandingFolderSource(land), settings).run()
    message = str(caught.value)
    assert "replaced or recreated" in message and identity["folder_id"] in message
    assert "folder id missing" in message  # the current identity
    assert _state_bytes(tmp_path) == committed
    assert sorted(p.name for p in land.glob("*.npy")) == ["part-000.npy", "part-001.npy"]  # untouched


@pytest.mark.parametrize("change", ["removed", "rewritten"])
def test_the_file_the_stream_was_in_the_middle_of_must_not_change(tmp_path: Path, change: str) -> None:
    land = _landing(tmp_path, 3, rows=1000)
    settings = _settings(tmp_path, max_batches=3)
    first = StreamRunner(LandingFolderSource(land), settings).run()
    # warm-up: 400 rows (2 batches), then 3 batches: 1,000 rows of part-000 and 0 of part-001
    assert first.state.position == {"done_through": "part-000.npy", "file": None, "offset": 0}
    second = StreamRunner(LandingFolderSource(land), replace(settings, max_batches=2)).run()
    assert second.state.position == {"done_through": "part-000.npy", "file": "part-001.npy", "offset": 400}
    if change == "removed":
        (land / "part-001.npy").unlink()
        reason = "consumed up to row 400, is gone"
    else:
        np.save(land / "part-001.npy", mixture_rows(1000, seed=77))
        reason = "changed since the stream read it"
    with pytest.raises(SourceMismatchError, match=reason):
        StreamRunner(LandingFolderSource(land), settings).run()


def test_a_state_of_the_previous_schema_adopts_the_source_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    land = _landing(tmp_path, 4)
    settings = _settings(tmp_path, max_batches=1)
    StreamRunner(LandingFolderSource(land), settings).run()
    # Rewrite the commit as the previous streamgmm wrote it: schema 1, no identity, no log line.
    path = tmp_path / "state" / STATE_FILENAME
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    header = json.loads(bytes(arrays["header"]).decode())
    header["schema_version"] = 1
    del header["source_identity"], header["history_row"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    (land / LANDING_ID_FILENAME).unlink()
    runner = StreamRunner(LandingFolderSource(land), replace(settings, max_batches=None))
    assert runner.state_file.load(runner.stream_key()).source_identity is None
    with caplog.at_level(logging.WARNING, logger="streamgmm.online"):
        summary = runner.run()
    assert any("written by an older streamgmm" in r.getMessage() for r in caplog.records)
    assert summary.batches > 0  # the identity is adopted at the next commit
    assert summary.state.source_identity["folder_id"] == (land / LANDING_ID_FILENAME).read_text().strip()
    assert StateFile(tmp_path / "state").load(runner.stream_key()).history_row[0] == str(
        summary.state.count("batches")
    )


def test_on_source_change_is_a_validated_config_key(tmp_path: Path) -> None:
    from streamgmm.config import ConfigError, parse_config
    from streamgmm.online.from_config import build_settings

    document = {
        "source": {"kind": "landing-folder", "uri": str(tmp_path)},
        "model": {"n_components": 2},
        "online": {"state": str(tmp_path / "state")},
    }
    assert build_settings(parse_config(document, kind="online_update")).on_source_change == "refuse"
    document["online"]["on_source_change"] = "reset"
    assert build_settings(parse_config(document, kind="online_update")).on_source_change == "reset"
    document["online"]["on_source_change"] = "ignore"
    with pytest.raises(ConfigError, match="online.on_source_change"):
        parse_config(document, kind="online_update")


def test_a_store_replaced_by_a_longer_one_under_a_running_source_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "grow.zarr"
    _write_store(store, mixture_rows(600, seed=8))
    source = AppendedZarrSource(str(store), variable="X")
    identity = None
    position = None
    for _ in range(3):
        batch = source.next_batch(position, 200)
        identity, position = source.identity(batch, identity), batch.position
    assert source.next_batch(position, 200) is None  # idle: all 600 rows consumed
    _write_store(store, mixture_rows(2000, seed=9))  # another store, longer, at the same path
    with pytest.raises(SourceMismatchError, match="replaced while the stream ran: its first 200 rows differ"):
        source.next_batch(position, 200)
