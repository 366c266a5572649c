"""Outputs never touch inputs, ``overwrite`` replaces only our own output, destinations are probed.

Regression tests of issue 13 (an output destroying its own input with ``overwrite``),
on real Zarr stores and folders: every writer (predictions, registry, checkpoint,
stream state and scores, datagen) and the rules of :mod:`streamgmm.io.destinations`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import streamgmm
from streamgmm.drivers.checkpoint import FitCheckpoint
from streamgmm.io.datagen import generate_mixture_dataset
from streamgmm.io.destinations import (
    MARKER_ATTRIBUTE,
    MARKER_FILENAME,
    DestinationError,
    check_outside_inputs,
    check_replaceable,
    check_reusable,
    normalise_location,
    probe_writable,
    read_marker,
    write_marker,
)
from streamgmm.drivers.predictions import is_legacy_predictions
from streamgmm.online.runner import StreamRunner
from streamgmm.online.settings import ModelSetup, SnapshotPolicy, StreamSettings
from streamgmm.online.sources import LandingFolderSource
from streamgmm.registry import ModelRegistry

N, D, K = 400, 2, 2


def digest(path: Path) -> str:
    """Names and bytes of every file below ``path``."""
    h = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(-3, 1, (N // 2, D)), rng.normal(3, 1, (N // 2, D))])


@pytest.fixture(scope="module")
def params(X):
    return streamgmm.GaussianMixture(K, random_state=0, max_iter=5).fit(X).parameters_


@pytest.fixture
def data(tmp_path, X) -> Path:
    """A user's Zarr store (written by xarray, not by streamgmm) inside ``tmp_path/work``."""
    path = tmp_path / "work" / "input.zarr"
    xr.Dataset({"X": (("sample", "feature"), X)}).chunk({"sample": 100}).to_zarr(str(path), zarr_format=3)
    return path


# ============================================================ predictions never replace the input
@pytest.mark.parametrize("where", ["the store", "its folder", "inside it", "a symlink to it",
                                   "a relative path", "a dotted relative path"])
def test_predictions_with_overwrite_never_touch_the_input(tmp_path, data, params, where, monkeypatch):
    before = digest(tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")
    target = {
        "the store": data,
        "its folder": data.parent,
        "inside it": data / "X",
        "a symlink to it": tmp_path / "link.zarr",
        "a relative path": Path("input.zarr"),
        "a dotted relative path": Path("sub/../input.zarr/"),
    }[where]
    if where == "a symlink to it":
        os.symlink(data, target)
    with pytest.raises(DestinationError, match="input") as error:
        streamgmm.write_predictions(params, str(data), target, overwrite=True)
    message = str(error.value)
    assert str(data) in message and "neither is, contains nor lies inside" in message
    assert digest(tmp_path / "work") == before, "the input was modified"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["input.zarr"]


def test_predictions_from_an_xarray_dataset_opened_from_the_store_are_checked_too(data, params):
    dataset = xr.open_zarr(str(data))
    with pytest.raises(DestinationError, match="is the input"):
        streamgmm.write_predictions(params, dataset, data, overwrite=True, variable="X")


def test_a_file_url_input_is_the_plain_path(data):
    with pytest.raises(DestinationError, match="is the input data.uri"):
        check_outside_inputs(data, [("data.uri", f"file://{data}")], key="outputs.predictions")
    with pytest.raises(DestinationError, match="outputs.predictions: .* contains"):
        check_outside_inputs(data.parent, [("data.uri", f"file://{data}")], key="outputs.predictions")


def test_a_hard_link_to_an_input_file_is_the_input(tmp_path):
    original = tmp_path / "a" / "rows.parquet"
    original.parent.mkdir()
    original.write_bytes(b"rows")
    link = tmp_path / "b.parquet"
    os.link(original, link)
    with pytest.raises(DestinationError, match="is the input"):
        check_outside_inputs(link, [(None, original)])


@pytest.mark.parametrize(
    ("target", "source", "refused"),
    [
        ("S3://Bucket/a/b/", "s3://bucket/a/b", "is the input"),
        ("s3://bucket/a", "s3://bucket//a/./b", "contains the input"),
        ("gs://bucket/a/b/c", "gs://BUCKET/a/b", "lies inside the input"),
        ("s3://bucket/ab", "s3://bucket/a", None),
        ("s3://other/a", "s3://bucket/a", None),
        ("s3://bucket/a", "gs://bucket/a", None),
    ],
)
def test_urls_are_compared_after_normalising(target, source, refused):
    if refused is None:
        check_outside_inputs(target, [("data.uri", source)])
    else:
        with pytest.raises(DestinationError, match=refused):
            check_outside_inputs(target, [("data.uri", source)])


def test_normalise_location_resolves_home_relative_and_symlinks(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    monkeypatch.chdir(tmp_path)
    assert normalise_location("alias/x/../y") == str((tmp_path / "real" / "y").resolve())
    assert normalise_location(f"file://{tmp_path}/alias") == str((tmp_path / "real").resolve())
    assert normalise_location("~") == os.path.realpath(os.path.expanduser("~"))


# ============================================================ overwrite replaces only our own output
def test_overwrite_of_a_foreign_folder_or_zarr_store_is_refused(tmp_path, data, params, X):
    user = tmp_path / "results"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    other = tmp_path / "other.zarr"  # a Zarr store streamgmm did not write
    xr.Dataset({"y": (("sample",), X[:, 0])}).to_zarr(str(other), zarr_format=3)
    for target in (user, other):
        before = digest(target)
        with pytest.raises(DestinationError, match="did not write") as error:
            streamgmm.write_predictions(params, str(data), target, overwrite=True)
        assert str(target) in str(error.value) and "even with overwrite" in str(error.value)
        assert digest(target) == before
    plain = tmp_path / "notes.txt"
    plain.write_text("mine")
    with pytest.raises(DestinationError, match="is a file streamgmm did not write"):
        streamgmm.write_predictions(params, str(data), plain, overwrite=True)
    assert plain.read_text() == "mine"


def test_overwrite_of_our_own_predictions_works_and_the_marker_survives(tmp_path, data, params, X):
    target = tmp_path / "scores.zarr"
    streamgmm.write_predictions(params, str(data), target, outputs=["labels"])
    assert read_marker(target)["kind"] == "predictions"
    assert not (target / MARKER_FILENAME).exists(), "a Zarr output carries the marker as an attribute"
    other = streamgmm.GaussianMixture(K, random_state=5, max_iter=1).fit(X).parameters_
    streamgmm.write_predictions(other, str(data), target, overwrite=True)
    output = xr.open_zarr(str(target))
    assert set(output.data_vars) == {"labels", "responsibilities", "log_likelihood"}
    assert read_marker(target)["kind"] == "predictions"
    assert zarr.open_group(str(target), mode="r").attrs[MARKER_ATTRIBUTE]["written_by"] == "streamgmm"


def test_the_marker_is_checked_not_just_present(tmp_path, data, params):
    target = tmp_path / "scores.zarr"
    streamgmm.write_predictions(params, str(data), target)
    group = zarr.open_group(str(target), mode="r+")
    record = dict(group.attrs[MARKER_ATTRIBUTE])
    group.attrs[MARKER_ATTRIBUTE] = {**record, "kind": "report"}
    with pytest.raises(DestinationError, match="as report output, not as predictions"):
        streamgmm.write_predictions(params, str(data), target, overwrite=True)
    group.attrs[MARKER_ATTRIBUTE] = {**record, "written_by": "someone"}
    with pytest.raises(DestinationError, match="cannot be trusted"):
        streamgmm.write_predictions(params, str(data), target, overwrite=True)
    assert read_marker(target)["kind"] is None


def test_another_kind_of_streamgmm_output_is_never_replaced(tmp_path, data, params):
    dataset = tmp_path / "generated.zarr"
    generate_mixture_dataset(dataset, n_samples=200, n_features=D, n_components=K, seed=1)
    assert read_marker(dataset)["kind"] == "datagen"
    before = digest(dataset)
    with pytest.raises(DestinationError, match="as datagen output, not as predictions"):
        streamgmm.write_predictions(params, str(data), dataset, overwrite=True)
    assert digest(dataset) == before


def test_predictions_of_an_earlier_version_are_recognised_strictly(tmp_path, data, params):
    target = tmp_path / "old.zarr"
    streamgmm.write_predictions(params, str(data), target)
    group = zarr.open_group(str(target), mode="r+")
    del group.attrs[MARKER_ATTRIBUTE]  # as written before markers existed
    assert read_marker(target) is None and is_legacy_predictions(target)
    streamgmm.write_predictions(params, str(data), target, overwrite=True)
    assert read_marker(target)["kind"] == "predictions"

    del zarr.open_group(str(target), mode="r+").attrs[MARKER_ATTRIBUTE]
    (target / "my-notes.txt").write_text("added by the user")
    assert not is_legacy_predictions(target)
    with pytest.raises(DestinationError, match="did not write as predictions output"):
        streamgmm.write_predictions(params, str(data), target, overwrite=True)
    assert (target / "my-notes.txt").exists()


def test_without_overwrite_even_our_own_output_is_kept(tmp_path):
    (tmp_path / "p").mkdir()
    write_marker(tmp_path / "p", "predictions")
    with pytest.raises(DestinationError, match="already exists; set outputs.overwrite: true"):
        check_replaceable(tmp_path / "p", "predictions", overwrite=False,
                          overwrite_hint="set outputs.overwrite: true")
    check_replaceable(tmp_path / "p", "predictions", overwrite=True)


def test_a_symlink_is_not_replaced(tmp_path):
    (tmp_path / "ours").mkdir()
    write_marker(tmp_path / "ours", "predictions")
    os.symlink(tmp_path / "ours", tmp_path / "link")
    with pytest.raises(DestinationError, match="symbolic link"):
        check_replaceable(tmp_path / "link", "predictions", overwrite=True)


# ============================================================ the probe finds unwritable places
def test_a_parent_that_is_a_plain_file_is_found_before_the_pass(tmp_path, data, params):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationError, match="lies under .*file', which is a plain file"):
        streamgmm.write_predictions(params, str(data), tmp_path / "file" / "sub" / "p.zarr")
    assert (tmp_path / "file").read_text() == "x"


def test_a_place_nobody_can_create_folders_in_is_found(tmp_path):
    # Tests run as root, whom chmod does not stop; /proc refuses new entries to everyone.
    with pytest.raises(DestinationError, match="cannot be created"):
        probe_writable("/proc/streamgmm-test/registry", key="registry.root")


def test_a_file_size_limit_is_found_by_the_probe(tmp_path):
    """RLIMIT_FSIZE=0 in a child process: creating works, writing a byte fails (EFBIG)."""
    script = textwrap.dedent(f"""
        from streamgmm.io.destinations import DestinationError, probe_writable
        try:
            probe_writable({str(tmp_path / 'out')!r}, key="registry.root")
        except DestinationError as exc:
            print(exc)
            raise SystemExit(3)
    """)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            preexec_fn=limit, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "registry.root: writing in" in result.stdout and "File too large" in result.stdout
    assert not (tmp_path / "out").exists(), "the folder the failed probe created was left behind"


# ============================================================ registry, checkpoint, stream, datagen
def test_registry_root_under_a_plain_file_fails_before_anything_is_written(tmp_path, params):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationError, match="plain file"):
        ModelRegistry(tmp_path / "file" / "registry").publish("m", params)


def test_registry_root_must_be_a_registry_or_new(tmp_path, params):
    user = tmp_path / "home"
    user.mkdir()
    (user / "photos").mkdir()
    with pytest.raises(DestinationError, match="'photos'"):
        ModelRegistry(user).publish("m", params)
    assert sorted(p.name for p in user.iterdir()) == ["photos"]

    old = tmp_path / "old-registry"  # an earlier version's registry: only models/
    (old / "models").mkdir(parents=True)
    ModelRegistry(old).publish("m", params)
    assert read_marker(old)["kind"] == "registry"
    assert ModelRegistry(old).list_versions("m") == [1]

    predictions = tmp_path / "p"
    predictions.mkdir()
    write_marker(predictions, "predictions")
    with pytest.raises(DestinationError, match="as predictions output, not as registry"):
        ModelRegistry(predictions).publish("m", params)


def test_a_checkpoint_folder_with_foreign_files_is_refused_before_the_fit(tmp_path, X):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "data.csv").write_text("1,2\n")
    with pytest.raises(DestinationError, match="data.csv"):
        FitCheckpoint(folder)
    model = streamgmm.GaussianMixture(K, random_state=0, max_iter=3)
    with pytest.raises(DestinationError, match="checkpoint"):
        model.fit(X, checkpoint=folder)
    assert not hasattr(model, "converged_")
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv"]

    fresh = tmp_path / "fresh"
    streamgmm.GaussianMixture(K, random_state=0, max_iter=3).fit(X, checkpoint=fresh)
    assert read_marker(fresh)["kind"] == "checkpoint"


def _runner(landing: Path, state: Path, scores: Path | None = None) -> StreamRunner:
    settings = StreamSettings(
        state_dir=str(state), batch_size=100,
        model=ModelSetup(n_components=K, covariance_type="diag", warm_up_size=100, random_state=0),
        snapshots=SnapshotPolicy(registry_root=None, model="s"), scores_path=None if scores is None else str(scores),
        idle_seconds=0.0,
    )
    return StreamRunner(LandingFolderSource(landing), settings)


def test_stream_state_and_scores_stay_out_of_the_source_and_foreign_folders(tmp_path, X):
    landing = tmp_path / "landing"
    landing.mkdir()
    np.save(landing / "keep.npy", X)  # a file the landing source would read
    before = digest(landing)
    with pytest.raises(DestinationError, match="online.state: .* lies inside the input source.uri"):
        _runner(landing, landing / "state").run()
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.txt").write_text("x")
    with pytest.raises(DestinationError, match="online.state: .*'a.txt'"):
        _runner(landing, user).run()
    with pytest.raises(DestinationError, match="outputs.scores: .*'a.txt'"):
        _runner(landing, tmp_path / "state", scores=user).run()
    assert digest(landing) == before and (user / "a.txt").read_text() == "x"


def test_datagen_overwrite_replaces_only_a_generated_dataset(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.txt").write_text("x")
    with pytest.raises(DestinationError, match="'a.txt'"):
        generate_mixture_dataset(user, n_samples=100, n_features=D, n_components=K, overwrite=True)
    assert (user / "a.txt").read_text() == "x"
    target = tmp_path / "gen.zarr"
    generate_mixture_dataset(target, n_samples=100, n_features=D, n_components=K, seed=1)
    generate_mixture_dataset(target, n_samples=100, n_features=D, n_components=K, seed=2, overwrite=True)
    assert read_marker(target)["kind"] == "datagen"
    assert json.loads((target / MARKER_FILENAME).read_text())["kind"] == "datagen"


def test_a_stream_registry_under_a_plain_file_is_refused_before_anything_is_made(tmp_path, X):
    landing = tmp_path / "landing"
    landing.mkdir()
    np.save(landing / "a.npy", X)
    (tmp_path / "file").write_text("x")
    runner = _runner(landing, tmp_path / "state")
    runner.settings = replace(runner.settings, snapshots=SnapshotPolicy(
        registry_root=str(tmp_path / "file" / "registry"), model="s"))
    with pytest.raises(DestinationError, match="registry.root: .*plain file"):
        runner.run()
    assert not (tmp_path / "state").exists(), "the state folder was made before the registry was checked"
    assert sorted(p.name for p in landing.iterdir()) == ["a.npy"]


def test_a_checkpoint_inside_the_data_is_refused_before_any_pass(tmp_path):
    """GaussianMixture.fit(path, checkpoint=...) from Python follows the same rule."""
    import zarr

    store = tmp_path / "data.zarr"
    X = np.random.default_rng(0).normal(size=(300, 2))
    zarr.create_array(str(store), data=X, chunks=(100, 2))
    before = sorted(p.name for p in store.rglob("*"))
    for checkpoint in (store, store / "ckpt", tmp_path):
        with pytest.raises(DestinationError, match="checkpoint"):
            streamgmm.GaussianMixture(2, random_state=0).fit(str(store), checkpoint=checkpoint)
    assert sorted(p.name for p in store.rglob("*")) == before
    fitted = streamgmm.GaussianMixture(2, random_state=0).fit(str(store), checkpoint=tmp_path / "ok")
    assert np.isfinite(fitted.lower_bound_)


def test_a_marker_another_process_is_writing_is_not_a_foreign_file(tmp_path):
    """Two processes publishing into a new registry at once: the second finds only the
    first's marker temporary (the atomic writer's ``.NAME.write~HOST~PID~RANDOM.tmp``),
    which must not make the folder look like someone else's."""
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / f".{MARKER_FILENAME}.write~host~12345~0123456789ab.tmp").write_text("{")
    check_reusable(folder, "registry")  # as if empty
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DestinationError, match="notes.txt"):
        check_reusable(folder, "registry")
