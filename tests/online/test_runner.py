"""The stream runner over real files: landing folders, appended Zarr stores, standard input.

The reference for every run is the same stepwise EM done by hand with
``GaussianMixture.partial_fit`` over the same batches: the runner must equal it
bit for bit, whatever the source, the restarts and the bad files along the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr

from streamgmm import GaussianMixture
from streamgmm.core.errors import InvalidInputError
from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamRunner, StreamSettings
from streamgmm.online.sources import AppendedZarrSource, LandingFolderSource
from streamgmm.online.state import RunnerStateError
from streamgmm.registry import ModelRegistry

from online_helpers import mixture_rows

REPO = Path(__file__).resolve().parents[2]
SETUP = ModelSetup(n_components=3, covariance_type="full", warm_up_size=1500, random_state=0)


def _settings(tmp_path: Path, **changes) -> StreamSettings:
    base = dict(
        state_dir=str(tmp_path / "state"),
        batch_size=500,
        model=SETUP,
        snapshots=SnapshotPolicy(registry_root=str(tmp_path / "registry"), model="stream", every_batches=4),
        drift=None,
    )
    base.update(changes)
    return StreamSettings(**base)


def _by_hand(batches: list[np.ndarray], setup: ModelSetup = SETUP) -> GaussianMixture:
    model = GaussianMixture(**setup.estimator_params())
    for batch in batches:
        model.partial_fit(batch)
    return model


def _assert_same_model(online_state, model: GaussianMixture) -> None:
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(getattr(online_state.params, name), getattr(model.online_state_.params, name))
    assert online_state.n_updates == model.online_state_.n_updates


def _write_parquet(path: Path, rows: np.ndarray) -> None:
    table = pa.table({f"x{j}": rows[:, j] for j in range(rows.shape[1])} | {"id": np.arange(len(rows))})
    pq.write_table(table, path)


# ----------------------------------------------------------------------------- landing folder
def test_landing_folder_of_mixed_files_equals_partial_fit_by_hand(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    parts = [mixture_rows(1200, seed=i) for i in range(4)]
    np.save(land / "a-000.npy", parts[0])
    _write_parquet(land / "a-001.parquet", parts[1])
    xr.Dataset({"X": (("sample", "feature"), parts[2])}).to_zarr(land / "a-002.zarr", zarr_format=3)
    parts[3] = parts[3].astype(np.float32)  # float32 batches are computed as float32
    np.save(land / "a-003.npy", parts[3])
    source = LandingFolderSource(land, columns=["x0", "x1", "x2", "x3"], variable="X")
    summary = StreamRunner(source, _settings(tmp_path)).run()
    # Batches never span files: 1,200 rows -> 500, 500, 200.
    batches = [p[a : a + 500] for p in parts for a in range(0, 1200, 500)]
    reference = _by_hand(batches)
    _assert_same_model(summary.state.online, reference)
    assert summary.state.count("rows_read") == 4800
    assert summary.state.count("warm_up_rows") == 1700  # 500 + 500 + 200 (< 1,500) + 500
    # Finished files are moved aside at the poll after their commit (the last poll found
    # nothing new and moved the last file).
    assert sorted(os.listdir(land / "processed")) == ["a-000.npy", "a-001.parquet", "a-002.zarr", "a-003.npy"]
    assert summary.state.position == {"done_through": "a-003.npy", "file": None, "offset": 0}


def test_bad_files_are_quarantined_with_a_reason_and_the_stream_goes_on(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    np.save(land / "b-000.npy", mixture_rows(2000, seed=1))
    (land / "b-001.npy").write_bytes(b"not a numpy file")
    np.save(land / "b-002.npy", mixture_rows(600, seed=2)[:, :3])  # 3 features instead of 4
    np.save(land / "b-003.npy", np.empty((0, 4)))  # empty: ignored
    np.save(land / "b-004.npy", mixture_rows(1000, seed=3))
    (land / ".b-005.npy").write_bytes(b"being written")  # hidden until renamed
    (land / "b-006.npy.tmp").write_bytes(b"being written")
    settings = _settings(tmp_path)
    summary = StreamRunner(LandingFolderSource(land), settings).run()
    quarantine = land / "quarantine"
    assert sorted(os.listdir(quarantine)) == [
        "b-001.npy", "b-001.npy.reason.txt", "b-002.npy", "b-002.npy.reason.txt"
    ]
    assert "unreadable" in (quarantine / "b-001.npy.reason.txt").read_text()
    assert "3 features" in (quarantine / "b-002.npy.reason.txt").read_text()
    assert summary.state.count("empty_batches") == 1
    assert summary.state.count("rows_read") == 3000
    assert (land / ".b-005.npy").exists() and (land / "b-006.npy.tmp").exists()

    # A file arriving with a name before the processed ones is late: quarantined, not mixed in.
    np.save(land / "a-late.npy", mixture_rows(500, seed=4))
    np.save(land / "c-000.npy", mixture_rows(500, seed=5))
    summary = StreamRunner(LandingFolderSource(land), settings).run()
    assert "arrived after" in (quarantine / "a-late.npy.reason.txt").read_text()
    assert summary.batches == 1 and summary.state.count("rows_read") == 3500


def test_nan_rows_stop_the_stream_naming_the_batch_or_are_dropped_and_counted(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    bad = mixture_rows(1000, seed=2)
    bad[[10, 700]] = np.nan
    for folder in (land, tmp_path / "land-copy"):
        folder.mkdir(exist_ok=True)
        np.save(folder / "n-000.npy", mixture_rows(2000, seed=1))
        np.save(folder / "n-001.npy", bad)
    settings = _settings(tmp_path)
    with pytest.raises(InvalidInputError, match=r"file n-001.npy rows 0-499 has NaN or infinite values in 1 row\(s\); the first is row 10"):
        StreamRunner(LandingFolderSource(land), settings).run()
    committed = StreamRunner(LandingFolderSource(land), settings).state_file.load(
        StreamRunner(LandingFolderSource(land), settings).stream_key()
    )
    assert committed.position == {"done_through": "n-000.npy", "file": None, "offset": 0}
    dropping = _settings(tmp_path / "drop", model=ModelSetup(**{**SETUP.__dict__, "nan_policy": "drop"}))
    summary = StreamRunner(LandingFolderSource(tmp_path / "land-copy"), dropping).run()
    assert summary.state.count("invalid_rows") == 2
    assert summary.state.count("rows_read") == 3000


def test_a_state_from_another_setup_is_refused(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    np.save(land / "s-000.npy", mixture_rows(2000, seed=1))
    StreamRunner(LandingFolderSource(land), _settings(tmp_path)).run()
    other = _settings(tmp_path, model=ModelSetup(n_components=4, covariance_type="full", warm_up_size=1500))
    with pytest.raises(RunnerStateError, match="different stream or model setup"):
        StreamRunner(LandingFolderSource(land), other).run()


# ------------------------------------------------------------------------ appended Zarr store
def test_appended_zarr_store_reads_only_new_rows_and_resumes_exactly(tmp_path: Path) -> None:
    store = tmp_path / "growing.zarr"
    data = mixture_rows(6000, seed=7)

    def append(rows: np.ndarray, first: bool) -> None:
        ds = xr.Dataset({"X": (("sample", "feature"), rows)})
        if first:
            ds.to_zarr(store, zarr_format=3, encoding={"X": {"chunks": (700, 4)}})
        else:
            ds.to_zarr(store, append_dim="sample")

    append(data[:2600], first=True)
    source = AppendedZarrSource(str(store), variable="X")
    settings = _settings(tmp_path)
    first = StreamRunner(source, settings).run()
    # Only full batches: 2,600 rows = warm-up (1,500) + 2 batches; 100 rows wait for more.
    assert first.state.position == {"rows": 2500}
    append(data[2600:4100], first=False)
    append(data[4100:], first=False)
    second = StreamRunner(source, settings).run()
    assert second.state.position == {"rows": 6000}
    assert second.batches == 7

    batches = [data[a : a + 500] for a in range(0, 6000, 500)]
    _assert_same_model(second.state.online, _by_hand(batches))
    # Snapshots: every 4 batches and at the end, each recording its stream position.
    registry = ModelRegistry(tmp_path / "registry")
    positions = [registry.show("stream", v).stream_positions for v in registry.list_versions("stream")]
    # The first run ended at batch 2 (a version at the end), the second every 4 batches on.
    assert [p["batches"] for p in positions] == [2, 6, 9]
    assert positions[-1]["position"] == {"rows": 6000}
    assert registry.show("stream", 2).parent.version == 1


def test_rows_whose_chunk_is_not_written_yet_are_not_read(tmp_path: Path) -> None:
    """A producer may resize before writing: the missing chunk is waited for, never read as fill."""
    store = tmp_path / "resized.zarr"
    array = zarr.create_array(store, shape=(2000, 4), chunks=(500, 4), dtype="f8")
    array[:1500] = mixture_rows(1500, seed=8)
    source = AppendedZarrSource(str(store))
    assert source.next_batch({"rows": 1000}, 500) is not None
    assert source.next_batch({"rows": 1500}, 500) is None  # chunk 3 does not exist yet
    array[1500:] = mixture_rows(500, seed=9)
    assert source.next_batch({"rows": 1500}, 500).position == {"rows": 2000}


# ------------------------------------------------------------------------------ scores
def test_scores_are_written_at_stream_rows_and_anomalies_counted(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    rows = mixture_rows(4000, seed=10)
    rows[3000:3010] += 40.0  # far outliers
    np.save(land / "x-000.npy", rows)
    settings = _settings(tmp_path, scores_path=str(tmp_path / "scores.zarr"), anomaly_quantile=0.01)
    summary = StreamRunner(LandingFolderSource(land), settings).run()
    scores = xr.open_zarr(tmp_path / "scores.zarr", consolidated=False)
    n = summary.state.count("rows_read")
    log_likelihood = scores["log_likelihood"].values[:n]
    assert np.isfinite(log_likelihood).all()
    flagged = scores["anomaly"].values[:n]
    assert flagged[3000:3010].all()
    assert int(flagged[1500:].sum()) == summary.state.count("anomalies")
    threshold = summary.state.anomaly_threshold
    np.testing.assert_array_equal(flagged, log_likelihood < threshold)
    # Rows after the warm-up are scored by the model *before* their batch's update.
    model = _by_hand([rows[a : a + 500] for a in range(0, 3000, 500)])
    np.testing.assert_allclose(log_likelihood[3000:3500], model.score_samples(rows[3000:3500]), rtol=1e-12)
    labels = scores["labels"].values[:n]
    assert set(np.unique(labels)) <= {0, 1, 2}


# ---------------------------------------------------------------------- start from a version
def test_a_stream_can_start_from_a_published_batch_model(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    batch_model = GaussianMixture(3, covariance_type="full", random_state=0).fit(mixture_rows(5000, seed=11))
    registry.publish("batch", batch_model.parameters_, metrics={"extra": {"anomaly_threshold": -12.5}})
    land = tmp_path / "land"
    land.mkdir()
    np.save(land / "y-000.npy", mixture_rows(2000, seed=12))
    settings = _settings(
        tmp_path, start_from={"registry_root": str(tmp_path / "registry"), "model": "batch", "ref": "latest"}
    )
    summary = StreamRunner(LandingFolderSource(land), settings).run()
    assert summary.state.count("batches") == 4 and summary.state.count("rows_read") == 2000
    assert summary.state.anomaly_threshold == -12.5
    version = registry.show("stream", summary.versions[0])
    assert (version.parent.name, version.parent.version) == ("batch", 1)
    by_hand = GaussianMixture.from_parameters(batch_model.parameters_, **{
        k: v for k, v in SETUP.estimator_params().items() if k not in ("n_components", "covariance_type")
    })
    for a in range(0, 2000, 500):
        by_hand.partial_fit(mixture_rows(2000, seed=12)[a : a + 500])
    _assert_same_model(summary.state.online, by_hand)


# -------------------------------------------------------------------------------- drift
def test_an_abrupt_change_raises_a_drift_alarm_and_speeds_up_the_steps(tmp_path: Path) -> None:
    store = tmp_path / "drifting.zarr"
    steady, changed = mixture_rows(60_000, seed=13), mixture_rows(20_000, seed=14, shift=2.5)
    xr.Dataset({"X": (("sample", "feature"), np.vstack([steady, changed]))}).to_zarr(store, zarr_format=3)
    settings = _settings(
        tmp_path,
        batch_size=200,
        drift={"kind": "page-hinkley"},
        drift_step_size=0.2,
        snapshots=SnapshotPolicy(registry_root=str(tmp_path / "registry"), model="stream", every_batches=None),
    )
    summary = StreamRunner(AppendedZarrSource(str(store)), settings).run()
    change_batch = (60_000 - 1500) // 200 + 1  # first batch with changed rows
    assert summary.alarms, "no alarm after an abrupt change"
    first = summary.alarms[0]["batch"]
    assert change_batch <= first <= change_batch + 20, (change_batch, first)
    assert summary.state.step_size_override == 0.2
    registry = ModelRegistry(tmp_path / "registry")
    extra = registry.show("stream", "latest").metrics.extra
    assert extra["drift_alarms"][0]["batch"] == first and extra["step_size_override"] == 0.2


def test_no_drift_alarm_on_a_long_stationary_stream(tmp_path: Path) -> None:
    store = tmp_path / "steady.zarr"
    xr.Dataset({"X": (("sample", "feature"), mixture_rows(201_600, seed=15))}).to_zarr(store, zarr_format=3)
    settings = _settings(tmp_path, batch_size=200, drift={"kind": "page-hinkley"}, snapshots=SnapshotPolicy())
    summary = StreamRunner(AppendedZarrSource(str(store)), settings).run()
    assert summary.state.count("batches") == 1000  # after 8 warm-up batches (1,600 rows)
    assert summary.alarms == []


# ---------------------------------------------------------------------- stdin, through the CLI
def test_rows_piped_on_standard_input(tmp_path: Path) -> None:
    config = tmp_path / "stdin.yaml"
    config.write_text(
        "source: {kind: stdin}\n"
        "model: {n_components: 3, covariance_type: diag, warm_up_size: 1000, seed: 0}\n"
        "online: {batch_size: 250, state: state, nan_policy: drop, drift: null}\n"
        "registry: {root: registry, model: piped}\n"
    )
    rows = mixture_rows(3000, seed=16)
    lines = [",".join(f"{v:.6f}" for v in row) for row in rows]
    lines.insert(1200, "this is not a row")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "streamgmm.cli.stream", str(config), "--quiet"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "3,001 rows" in done.stdout and "1 invalid rows dropped" in done.stdout
    assert "model piped version 1" in done.stdout
    version = ModelRegistry(tmp_path / "registry").show("piped", 1)
    assert version.stream_positions["position"] == {"lines": 3001}
    assert version.metrics.n_samples == 3001


def test_drain_takes_the_final_incomplete_batch(tmp_path: Path) -> None:
    store = tmp_path / "short.zarr"
    data = mixture_rows(2650, seed=17)
    xr.Dataset({"X": (("sample", "feature"), data)}).to_zarr(store, zarr_format=3)
    source = AppendedZarrSource(str(store), variable="X")
    kept = StreamRunner(source, _settings(tmp_path)).run()
    assert kept.state.position == {"rows": 2500}  # 150 rows wait for a full batch
    drained = StreamRunner(source, _settings(tmp_path, drain=True)).run()
    assert drained.batches == 1 and drained.state.position == {"rows": 2650}
    batches = [data[a : a + 500] for a in range(0, 2650, 500)]
    _assert_same_model(drained.state.online, _by_hand(batches))
