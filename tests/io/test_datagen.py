"""The synthetic data generator writes real Zarr (v3, v2) and Parquet datasets: layout, content,
determinism, true parameters, NaN injection, atomicity and bounded memory.

Everything runs on real files in temporary folders and, for the command line and the memory
check, in real subprocesses.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr

from streamgmm import MixtureParameters
from streamgmm.core.errors import InvalidParameterError
from streamgmm.cli.datagen import main
from streamgmm.io.datagen import (
    TRUE_PARAMS_FILENAME,
    DatasetInfo,
    generate_mixture_dataset,
    parse_size,
    true_parameters,
)

N, D, K = 5_003, 4, 3
CHUNK = 1_000


def _read_X(info: DatasetInfo) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels) of a generated dataset, read through the formats' own readers."""
    if info.format == "zarr":
        ds = xr.open_zarr(info.path)
        return ds["X"].values, ds["labels"].values
    table = pq.read_table(info.path)
    X = np.column_stack([table[f"x{j}"].to_numpy() for j in range(info.shape[1])])
    return X, table["label"].to_numpy()


def _generate(path: Path, **options) -> DatasetInfo:
    settings = dict(n_samples=N, n_features=D, n_components=K, chunk_rows=CHUNK, seed=7)
    settings.update(options)
    return generate_mixture_dataset(path, **settings)


def _nearest_mean_accuracy(X: np.ndarray, labels: np.ndarray, means: np.ndarray) -> float:
    distances = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    return float(np.mean(distances.argmin(axis=1) == labels))


# ------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_zarr_round_trip_layout_and_truth(tmp_path: Path, zarr_format: int) -> None:
    info = _generate(tmp_path / "mix.zarr", zarr_format=zarr_format, separation=8.0)
    assert info == DatasetInfo(
        path=tmp_path / "mix.zarr",
        format="zarr",
        shape=(N, D),
        chunk_rows=CHUNK,
        dtype="float32",
        true_params_path=tmp_path / "mix.zarr" / TRUE_PARAMS_FILENAME,
        nbytes=N * D * 4,
        n_chunks=6,
        zarr_format=zarr_format,
        seed=7,
        n_nan_rows=0,
    )
    group = zarr.open_group(info.path, mode="r")
    assert group.metadata.zarr_format == zarr_format
    X_array = group["X"]
    assert (X_array.shape, X_array.chunks, X_array.dtype) == ((N, D), (CHUNK, D), np.float32)
    if zarr_format == 3:
        assert X_array.metadata.dimension_names == ("sample", "feature")
    else:
        assert X_array.attrs["_ARRAY_DIMENSIONS"] == ["sample", "feature"]

    # xarray reads it as a Dataset (no consolidated-metadata RuntimeWarning: those are errors here).
    ds = xr.open_zarr(info.path)
    assert ds["X"].dims == ("sample", "feature")
    assert ds["X"].dtype == np.float32
    assert ds["X"].chunks == ((CHUNK,) * 5 + (3,), (D,))
    assert [str(name) for name in ds["feature"].values] == ["x0", "x1", "x2", "x3"]
    np.testing.assert_array_equal(ds["sample"].values, np.arange(N))
    assert ds["labels"].dims == ("sample",)
    assert np.issubdtype(ds["labels"].dtype, np.integer)  # no fill-value masking to float
    assert ds.attrs["streamgmm_datagen"]["seed"] == 7

    truth = true_parameters(info.path)
    assert isinstance(truth, MixtureParameters)
    assert truth.covariance_type == "full"
    assert (truth.weights.shape, truth.means.shape, truth.covariances.shape) == (
        (K,),
        (K, D),
        (K, D, D),
    )
    X, labels = ds["X"].values, ds["labels"].values
    assert not np.isnan(X).any()
    assert set(np.unique(labels)) == set(range(K))
    assert _nearest_mean_accuracy(X, labels, truth.means) > 0.995
    np.testing.assert_allclose(np.bincount(labels) / N, truth.weights, atol=0.03)


def test_parquet_layout_and_same_content_as_zarr(tmp_path: Path) -> None:
    info = _generate(tmp_path / "mix.parquet", format="parquet")
    assert (info.format, info.zarr_format, info.n_chunks) == ("parquet", None, 6)
    files = sorted(p.name for p in info.path.glob("*.parquet"))
    assert files == [f"part-{i:05d}.parquet" for i in range(6)]
    for i, name in enumerate(files):
        metadata = pq.ParquetFile(info.path / name).metadata
        assert metadata.num_row_groups == 1
        assert metadata.num_rows == (CHUNK if i < 5 else 3)

    table = pq.read_table(info.path)  # the true-parameter file does not disturb the reader
    assert table.column_names == ["x0", "x1", "x2", "x3", "label"]
    assert str(table.schema.field("x0").type) == "float"
    assert json.loads(table.schema.metadata[b"streamgmm.datagen"])["n_samples"] == N

    X, labels = _read_X(info)
    X_zarr, labels_zarr = _read_X(_generate(tmp_path / "mix.zarr"))
    np.testing.assert_array_equal(X, X_zarr)
    np.testing.assert_array_equal(labels, labels_zarr)
    assert true_parameters(info.path).allclose(true_parameters(tmp_path / "mix.zarr"), rtol=0)


# ---------------------------------------------------------------------- determinism
def test_content_does_not_depend_on_threads(tmp_path: Path) -> None:
    one = _generate(tmp_path / "one.zarr", n_threads=1, covariance_type="full")
    three = _generate(tmp_path / "three.zarr", n_threads=3, covariance_type="full")
    X1, labels1 = _read_X(one)
    X3, labels3 = _read_X(three)
    np.testing.assert_array_equal(X1, X3)
    np.testing.assert_array_equal(labels1, labels3)

    other_seed, _ = _read_X(_generate(tmp_path / "seed8.zarr", seed=8))
    assert not np.array_equal(X1, other_seed)


def test_float32_is_the_float64_data_rounded(tmp_path: Path) -> None:
    X32, _ = _read_X(_generate(tmp_path / "f32.zarr", dtype="float32"))
    X64, _ = _read_X(_generate(tmp_path / "f64.zarr", dtype="float64"))
    assert X64.dtype == np.float64
    np.testing.assert_array_equal(X32, X64.astype(np.float32))


# ----------------------------------------------------------------- the mixture itself
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_data_follow_the_saved_true_parameters(tmp_path: Path, covariance_type: str) -> None:
    info = _generate(
        tmp_path / "mix.parquet",
        format="parquet",
        n_samples=60_000,
        chunk_rows=10_000,
        dtype="float64",
        covariance_type=covariance_type,
        separation=10.0,
    )
    truth = true_parameters(info.path)
    assert truth.covariance_type == covariance_type
    X, labels = _read_X(info)
    if covariance_type == "full":
        full = truth.covariances
    elif covariance_type == "tied":
        full = np.broadcast_to(truth.covariances, (K, D, D))
    elif covariance_type == "diag":
        full = np.stack([np.diag(v) for v in truth.covariances])
    else:
        full = np.stack([v * np.eye(D) for v in truth.covariances])
    for k in range(K):
        rows = X[labels == k]
        np.testing.assert_allclose(rows.mean(axis=0), truth.means[k], atol=0.05)
        np.testing.assert_allclose(np.cov(rows.T), full[k], atol=0.06)
        # The generator's documented covariance spectrum: variances in [0.25, 1].
        eigenvalues = np.linalg.eigvalsh(full[k])
        assert 0.25 - 1e-12 <= eigenvalues.min() and eigenvalues.max() <= 1 + 1e-12
    # Separation: the closest two means are 10 largest standard deviations apart.
    gaps = [np.linalg.norm(truth.means[i] - truth.means[j]) for i in range(K) for j in range(i)]
    largest_std = np.sqrt(max(np.linalg.eigvalsh(c).max() for c in full))
    assert min(gaps) == pytest.approx(10.0 * largest_std, rel=1e-12)


def test_offset_and_scales_transform_the_same_draws(tmp_path: Path) -> None:
    scales = np.array([1e-3, 1.0, 10.0, 1e3])
    plain = _generate(tmp_path / "plain.zarr", dtype="float64")
    moved = _generate(tmp_path / "moved.zarr", dtype="float64", offset=1e6, scales=scales)
    X_plain, labels_plain = _read_X(plain)
    X_moved, labels_moved = _read_X(moved)
    np.testing.assert_array_equal(labels_plain, labels_moved)
    np.testing.assert_allclose(X_moved - 1e6, X_plain * scales, rtol=1e-9, atol=1e-9)

    a, b = true_parameters(plain.path), true_parameters(moved.path)
    np.testing.assert_allclose(b.means, a.means * scales + 1e6, rtol=1e-15)
    np.testing.assert_allclose(b.covariances, a.covariances * np.outer(scales, scales), rtol=1e-12)
    np.testing.assert_array_equal(a.weights, b.weights)


# ------------------------------------------------------------------------------ NaN
def test_nan_injection_by_fraction_and_rows(tmp_path: Path) -> None:
    clean, _ = _read_X(_generate(tmp_path / "clean.zarr"))
    info = _generate(tmp_path / "nan.zarr", nan_fraction=0.05, nan_rows=[0, 2_500, N - 1])
    X, _ = _read_X(info)
    nan_rows = np.flatnonzero(np.isnan(X).any(axis=1))
    assert {0, 2_500, N - 1} <= set(nan_rows.tolist())
    assert 0.03 * N < nan_rows.size < 0.07 * N
    assert info.n_nan_rows == nan_rows.size
    assert np.all(np.isnan(X[nan_rows]).sum(axis=1) == 1)  # one NaN feature per bad row
    finite = ~np.isnan(X)
    np.testing.assert_array_equal(X[finite], clean[finite])  # everything else is unchanged
    with np.load(info.true_params_path) as saved:
        np.testing.assert_array_equal(saved["nan_rows"], nan_rows)

    only_rows = _generate(tmp_path / "rows.parquet", format="parquet", nan_rows=[17, 1_000])
    X_rows, _ = _read_X(only_rows)
    assert np.flatnonzero(np.isnan(X_rows).any(axis=1)).tolist() == [17, 1_000]


# ---------------------------------------------------------------------- safe writing
def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_refuses_to_overwrite_and_replaces_only_when_asked(tmp_path: Path) -> None:
    first = _generate(tmp_path / "mix.zarr", seed=1)
    before, _ = _read_X(first)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _generate(tmp_path / "mix.zarr", seed=2)
    np.testing.assert_array_equal(_read_X(first)[0], before)

    (tmp_path / "a_file").write_text("not a dataset")
    with pytest.raises(FileExistsError, match="a_file"):
        _generate(tmp_path / "a_file", format="parquet")
    assert (tmp_path / "a_file").read_text() == "not a dataset"

    again = _generate(tmp_path / "mix.zarr", seed=2, overwrite=True)
    assert not np.array_equal(_read_X(again)[0], before)
    assert _siblings(tmp_path) == ["a_file", "mix.zarr"]  # no temporary folders left


@pytest.mark.parametrize("format", ["zarr", "parquet"])
def test_a_failure_midway_leaves_the_target_as_it_was(tmp_path: Path, format: str) -> None:
    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        _generate(tmp_path / "new", format=format, n_threads=2, progress=stop_after_two)
    assert _siblings(tmp_path) == []

    old = _generate(tmp_path / "old", format=format, seed=1)
    before, _ = _read_X(old)
    with pytest.raises(Stop):
        _generate(tmp_path / "old", format=format, overwrite=True, progress=stop_after_two)
    assert _siblings(tmp_path) == ["old"]
    np.testing.assert_array_equal(_read_X(old)[0], before)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_samples": 0}, "n_samples=0"),
        ({"format": "csv"}, "format='csv'"),
        ({"dtype": "int32"}, "dtype='int32'"),
        ({"covariance_type": "round"}, "covariance_type='round'"),
        ({"zarr_format": 4}, "zarr_format=4"),
        ({"separation": -1.0}, "separation=-1.0"),
        ({"nan_fraction": 1.5}, "nan_fraction=1.5"),
        ({"nan_rows": [N]}, "nan_rows must lie in"),
        ({"scales": [1.0, 2.0]}, "scales must be"),
        ({"scales": [1.0, 0.0, 1.0, 1.0]}, "must all be > 0"),
        (
            {"covariance_type": "spherical", "scales": [1.0, 2.0, 1.0, 1.0]},
            "use covariance_type='diag'",
        ),
        ({"seed": -1}, "seed=-1"),
        ({"offset": float("nan")}, "offset=nan must be finite"),
    ],
)
def test_bad_parameters_are_named(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        _generate(tmp_path / "mix.zarr", **options)
    assert _siblings(tmp_path) == []


def test_remote_urls_and_missing_truth_are_explained(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="local folders only"):
        _generate("s3://bucket/mix.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not written by"):
        true_parameters(tmp_path / "empty")


def test_parse_size() -> None:
    assert parse_size("8GB") == 8 * 10**9
    assert parse_size("1.5 mb") == 1_500_000
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("1e6") == 1_000_000
    assert parse_size("512") == 512
    for bad in ("", "GB", "8 parsecs", "-1GB", "0.1B"):
        with pytest.raises(InvalidParameterError):
            parse_size(bad)


# ---------------------------------------------------------------------- command line
def test_command_line_writes_by_size_and_reports(tmp_path: Path) -> None:
    target = tmp_path / "cli.parquet"
    run = subprocess.run(
        [
            sys.executable, "-m", "streamgmm.cli.datagen", str(target), "--size", "1MB",
            "--n-features", "5", "--n-components", "2", "--format", "parquet",
            "--chunk-rows", "10000", "--progress-every", "2", "--nan-rows", "3,4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    line_pattern = re.compile(r"^datagen: (\d+/\d+) chunks")
    progress = [m.group(1) for m in map(line_pattern.match, lines) if m]
    # 1 MB / (5 * 4 bytes) = 50,000 rows in 5 chunks: lines at 2, 4 and the last chunk.
    assert progress == ["2/5", "4/5", "5/5"]
    assert lines[-1].startswith(f"datagen: wrote {target}")
    assert "50,000 x 5 float32" in lines[-1] and "2 NaN rows" in lines[-1]
    assert pq.read_table(target).num_rows == 50_000


def test_command_line_help_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0 and "--size" in capsys.readouterr().out

    (tmp_path / "taken").mkdir()
    assert main([str(tmp_path / "taken"), "--n-samples", "10"]) == 2
    assert "--overwrite" in capsys.readouterr().err

    with pytest.raises(SystemExit) as usage_exit:
        main([str(tmp_path / "x"), "--size", "lots"])
    assert usage_exit.value.code == 2 and "not understood" in capsys.readouterr().err

    assert main([str(tmp_path / "x"), "--size", "3B", "--n-features", "2"]) == 2
    assert "less than one row" in capsys.readouterr().err
    assert _siblings(tmp_path) == ["taken"]


# -------------------------------------------------------------------- bounded memory
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from streamgmm.io.datagen import generate_mixture_dataset

    root = sys.argv[1]
    common = dict(n_features=16, n_components=8, n_threads=2, format="zarr")
    # Warm up with a tiny dataset: imports, zarr's event loop and thread pools.
    generate_mixture_dataset(root + "/warm", n_samples=1_000, chunk_rows=100, **common)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # 200 MB of float32 data (3.125 million rows x 16) in 48 chunks of 4 MiB: holding it whole
    # would take 200 MB (400 MB in float64), the working set of two writer threads ~40 MB.
    info = generate_mixture_dataset(root + "/big", n_samples=3_125_000, chunk_rows=65_536, **common)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"baseline_kb": baseline, "peak_kb": peak, "nbytes": info.nbytes}))
    """
)


@pytest.mark.slow
def test_memory_stays_bounded_while_writing_200_mb(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["nbytes"] == 200_000_000
    increase_mb = (report["peak_kb"] - report["baseline_kb"]) / 1024
    print(f"peak RSS grew by {increase_mb:.0f} MB while writing 200 MB")
    assert increase_mb < 150, f"peak RSS grew by {increase_mb:.0f} MB while writing 200 MB"
