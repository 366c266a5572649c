"""The real streaming datasets: committed Parquet copies, their loaders, the ``.ts`` parser and
``data/make_real_streams.py`` (run in real subprocesses, from the committed copies and from a
wheel-shaped zip of ``.ts`` files written here from those copies).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import xarray as xr

from streamgmm.datasets import (
    BASIC_MOTIONS,
    JAPANESE_VOWELS,
    SPLITS,
    DatasetSpec,
    DatasetValidationError,
    FrameTable,
    load_basic_motions,
    load_japanese_vowels,
    read_frames,
    validate_frames,
)
from streamgmm.io.ts_format import TsFormatError, parse_ts

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "data" / "make_real_streams.py"
COMMITTED = REPO / "data" / "real"


@pytest.fixture(scope="module")
def vowels() -> FrameTable:
    return load_japanese_vowels()


@pytest.fixture(scope="module")
def motions() -> FrameTable:
    return load_basic_motions()


def _series_table(table: FrameTable, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series ids, their labels, their lengths) of one split, in stored order."""
    part = table.select(split)
    ids, first, lengths = np.unique(part.series, return_index=True, return_counts=True)
    return ids, part.label[first], lengths


def _assert_same_table(a: FrameTable, b: FrameTable) -> None:
    assert a.feature_names == b.feature_names
    for column in ("X", "series", "label", "split", "t"):
        left, right = getattr(a, column), getattr(b, column)
        assert left.dtype == right.dtype, column
        np.testing.assert_array_equal(left, right, err_msg=column)


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


# ------------------------------------------------------------------------------ counts
def test_japanese_vowels_counts(vowels: FrameTable) -> None:
    assert vowels.X.shape == (9961, 12) and vowels.X.dtype == np.float32
    assert vowels.feature_names == tuple(f"c{j:02d}" for j in range(1, 13))
    assert np.isfinite(vowels.X).all()
    assert sorted(np.unique(vowels.label).tolist()) == list(range(1, 10))
    ids, labels, lengths = _series_table(vowels, "train")
    assert len(ids) == 270 and lengths.sum() == 4274
    assert np.bincount(labels, minlength=10)[1:].tolist() == [30] * 9
    ids, labels, lengths = _series_table(vowels, "test")
    assert len(ids) == 370 and lengths.sum() == 5687
    assert np.bincount(labels, minlength=10)[1:].tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    # Variable length: the archive's utterances have 7 to 29 frames.
    all_lengths = np.bincount(vowels.series)
    assert all_lengths.min() == 7 and all_lengths.max() == 29 and len(np.unique(all_lengths)) > 10


def test_basic_motions_counts(motions: FrameTable) -> None:
    assert motions.X.shape == (8000, 6) and motions.X.dtype == np.float32
    assert motions.feature_names == ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
    assert np.isfinite(motions.X).all()
    assert sorted(np.unique(motions.label).tolist()) == [
        "Badminton",
        "Running",
        "Standing",
        "Walking",
    ]
    assert np.array_equal(np.bincount(motions.series), np.full(80, 100))
    for split in SPLITS:
        ids, labels, _ = _series_table(motions, split)
        assert len(ids) == 40
        assert {
            str(a): int(n) for a, n in zip(*np.unique(labels, return_counts=True), strict=True)
        } == {"Badminton": 10, "Running": 10, "Standing": 10, "Walking": 10}


def test_series_are_contiguous_and_time_ordered(vowels: FrameTable) -> None:
    seen = []
    for series_id, speaker, frames in vowels.iter_series():
        rows = vowels.series == series_id
        np.testing.assert_array_equal(frames, vowels.X[rows])
        np.testing.assert_array_equal(vowels.t[rows], np.arange(len(frames)))
        assert np.all(vowels.label[rows] == speaker)
        seen.append(series_id)
    assert seen == list(range(640))  # train 0..269, test 270..639
    assert np.all(vowels.split[vowels.series < 270] == "train")


def test_committed_files_are_small_and_record_their_source() -> None:
    for spec in (JAPANESE_VOWELS, BASIC_MOTIONS):
        path = COMMITTED / spec.file_name
        assert path.stat().st_size < 1_000_000
        provenance = read_frames(path, spec).provenance
        assert provenance["dataset"] == spec.archive_name
        assert provenance["source"].startswith("sktime ")
        assert len(provenance["files_sha256"]) == 2


# ------------------------------------------------------------------------------ validation
def test_validation_names_what_is_wrong(vowels: FrameTable) -> None:
    dropped = vowels.series != 5  # one speaker-1 training utterance less
    damaged = replace(
        vowels,
        X=vowels.X[dropped],
        series=vowels.series[dropped],
        label=vowels.label[dropped],
        split=vowels.split[dropped],
        t=vowels.t[dropped],
    )
    with pytest.raises(DatasetValidationError, match="series ids do not number"):
        validate_frames(damaged, JAPANESE_VOWELS)

    relabelled = vowels.label.copy()
    relabelled[vowels.series == 0] = 2  # a speaker-1 utterance attributed to speaker 2
    with pytest.raises(DatasetValidationError, match=r"train series per label \{1: 29, 2: 31"):
        validate_frames(replace(vowels, label=relabelled), JAPANESE_VOWELS)

    X = vowels.X.copy()
    X[100, 3] = np.nan
    with pytest.raises(DatasetValidationError, match="1 frame.*NaN"):
        validate_frames(replace(vowels, X=X), JAPANESE_VOWELS)

    t = vowels.t.copy()
    t[10] += 1
    with pytest.raises(DatasetValidationError, match="t does not count"):
        validate_frames(replace(vowels, t=t), JAPANESE_VOWELS)

    label = vowels.label.copy()
    label[0] = 2
    with pytest.raises(DatasetValidationError, match="more than one label"):
        validate_frames(replace(vowels, label=label), JAPANESE_VOWELS)


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make_real_streams.py"):
        load_basic_motions(tmp_path)


def test_a_file_of_the_other_dataset_is_refused(tmp_path: Path) -> None:
    target = tmp_path / JAPANESE_VOWELS.file_name
    target.write_bytes((COMMITTED / BASIC_MOTIONS.file_name).read_bytes())
    with pytest.raises(DatasetValidationError, match="missing column"):
        load_japanese_vowels(tmp_path)


# ------------------------------------------------------------------------------ .ts parser
TS_HEADER = "#comment\n@problemName Toy\n@timeStamps false\n@univariate false\n@dimensions 2\n"


def test_parse_variable_length_series() -> None:
    text = (
        TS_HEADER
        + "@equalLength false\n@classLabel true a b\n@data\n"
        + "1,2,3:4,5,6:a\n\n7:8:b\n0.5,?:1e-3,-2:a\n"
    )
    parsed = parse_ts(text)
    assert parsed.problem_name == "Toy" and parsed.class_labels == ("a", "b")
    assert parsed.lengths.tolist() == [3, 1, 2]
    np.testing.assert_array_equal(parsed.series[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(parsed.series[1], [[7, 8]])
    assert np.isnan(parsed.series[2][1, 0]) and parsed.series[2][1, 1] == -2
    assert parsed.labels == ["a", "b", "a"]


@pytest.mark.parametrize(
    "data_line, message",
    [
        ("1,2:3:a", r"line 8: the dimensions of one series have different lengths \[1, 2\]"),
        ("1,2:a", "line 8: 1 dimension.* expected 2"),
        ("1,2:3,4:c", "line 8: label 'c' is not among"),
        ("1,x:3,4:a", "line 8: dimension 0: 'x' is not a number"),
        ("1,:3,4:a", "line 8: dimension 0: '' is not a number"),
    ],
)
def test_parse_errors_name_the_line(data_line: str, message: str) -> None:
    text = TS_HEADER + "@classLabel true a b\n@data\n" + data_line + "\n"
    with pytest.raises(TsFormatError, match=message):
        parse_ts(text, source="toy.ts")


def test_parse_refuses_unsupported_or_inconsistent_headers() -> None:
    with pytest.raises(TsFormatError, match="timeStamps"):
        parse_ts("@timeStamps true\n@classLabel true a\n@data\n1:a\n")
    with pytest.raises(TsFormatError, match="@equalLength true and @seriesLength 3"):
        parse_ts("@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n")
    with pytest.raises(TsFormatError, match="no @data line"):
        parse_ts("@problemName X\n")


# ------------------------------------------------------------------------------ the script
def test_script_round_trip_from_committed_copies(tmp_path: Path) -> None:
    run = _run_script(
        "--source", "parquet", "--out", str(tmp_path / "pq"), "--zarr-out", str(tmp_path / "zarr")
    )
    assert run.returncode == 0, run.stderr
    assert "reading the Parquet copies" in run.stdout
    for spec, loader in (
        (JAPANESE_VOWELS, load_japanese_vowels),
        (BASIC_MOTIONS, load_basic_motions),
    ):
        committed, written = loader(), loader(tmp_path / "pq")
        _assert_same_table(written, committed)
        assert written.provenance == committed.provenance

        store = xr.open_zarr(tmp_path / "zarr" / f"{spec.name}.zarr")
        assert store["X"].dims == ("sample", "feature")
        assert store["feature"].values.tolist() == list(spec.feature_names)
        np.testing.assert_array_equal(store["X"].values, committed.X)
        for column in ("split", "series", "label", "t"):
            assert store[column].dims == ("sample",)
            np.testing.assert_array_equal(store[column].values, getattr(committed, column))
        assert store.attrs["provenance"] == committed.provenance


def _ts_text(table: FrameTable, spec: DatasetSpec, split: str) -> str:
    """The archive's .ts layout for one split: header, then one line per series."""
    labels = " ".join(str(label) for label in spec.labels)
    lines = [
        "# written by the test from the committed copy",
        f"@problemName {spec.archive_name}",
        "@timeStamps false",
        "@missing false",
        "@univariate false",
        f"@dimensions {len(spec.feature_names)}",
        f"@equalLength {'true' if spec.length_range[0] == spec.length_range[1] else 'false'}",
        f"@classLabel true {labels}",
        "@data",
    ]
    for _, label, frames in table.select(split).iter_series():
        # repr of the float64 value of a float32 reads back to the same float32.
        dims = [",".join(repr(float(v)) for v in frames[:, j]) for j in range(frames.shape[1])]
        lines.append(":".join(dims) + f":{label}")
    return "\n".join(lines) + "\n"


def test_script_parses_a_wheel(tmp_path: Path, vowels: FrameTable, motions: FrameTable) -> None:
    wheel = tmp_path / "sktime-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "sktime-9.9.9.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: sktime\nVersion: 9.9.9\n",
        )
        for table, spec in ((vowels, JAPANESE_VOWELS), (motions, BASIC_MOTIONS)):
            for split in SPLITS:
                name = spec.archive_name
                member = f"sktime/datasets/data/{name}/{name}_{split.upper()}.ts"
                archive.writestr(member, _ts_text(table, spec, split))
    run = _run_script(
        "--source", "wheel", "--wheel", str(wheel), "--out", str(tmp_path / "pq"), "--no-zarr"
    )
    assert run.returncode == 0, run.stderr
    assert "sktime 9.9.9 wheel" in run.stdout
    _assert_same_table(load_japanese_vowels(tmp_path / "pq"), vowels)
    _assert_same_table(load_basic_motions(tmp_path / "pq"), motions)
    provenance = load_japanese_vowels(tmp_path / "pq").provenance
    assert provenance["source"] == "sktime 9.9.9"
    assert json.dumps(provenance)  # JSON all the way


def _script_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module, to call its ``main`` in-process (errors need no subprocess)."""
    spec = importlib.util.spec_from_file_location("make_real_streams", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_script_without_a_source_explains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main = _script_module(monkeypatch).main
    assert main(["--source", "wheel", "--out", str(tmp_path)]) == 2
    assert "--wheel PATH" in capsys.readouterr().err
    assert (
        main(["--source", "wheel", "--wheel", str(tmp_path / "nope.whl"), "--out", str(tmp_path)])
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "not-a-wheel.whl").write_text("hello")
    assert main(["--wheel", str(tmp_path / "not-a-wheel.whl"), "--source", "wheel"]) == 2
    assert "not a zip archive" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-wheel.whl"]  # nothing written
