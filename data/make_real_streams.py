"""Materialise the Japanese Vowels and BasicMotions datasets as frame tables (Parquet and Zarr).

    python data/make_real_streams.py                         # installed sktime, else data/real/
    python data/make_real_streams.py --wheel sktime-1.2.0-py3-none-any.whl
    python data/make_real_streams.py --source parquet --out /tmp/real --zarr-out /tmp/real-zarr

Both datasets are bundled inside the sktime package as ``.ts`` files of the UEA & UCR time
series classification archive (``sktime/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``). The
files are parsed here without importing sktime (:mod:`streamgmm.io.ts_format`), so sktime's
heavy dependencies are never needed: a wheel is a zip file, and ``pip download sktime --no-deps``
fetches one.

Sources, in the order ``--source auto`` (the default) tries them:

1. the installed ``sktime`` package, if Python can find it (it is located, not imported);
2. the wheel given with ``--wheel PATH``;
3. the committed Parquet copies in ``data/real/`` (``--parquet-in`` to read another folder).

Outputs, one table per dataset (one row per frame or time sample; columns are the features,
then ``split``, ``series``, ``label``, ``t``; see ``data/real/README.md``):

``--out`` (default ``data/real/``)
    ``japanese_vowels.parquet``, ``basic_motions.parquet``: float32 features, zstd. These are
    the committed copies; the provenance (sktime version, sha256 of each ``.ts`` file) is kept
    in the Parquet metadata and carried over when the Parquet copies are the source.
``--zarr-out`` (default ``data/generated/real/``, git-ignored; ``--no-zarr`` to skip)
    ``japanese_vowels.zarr``, ``basic_motions.zarr``: Zarr format 3 written by xarray, a
    variable ``X`` with dims (``sample``, ``feature``) and ``split``, ``series``, ``label``,
    ``t`` as coordinates along ``sample``; open with ``xarray.open_zarr``.

Every table is validated (series per split and per label, frames per split, series lengths,
no NaN) before anything is written; outputs are written beside their target and renamed into
place.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import re
import shutil
import sys
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamgmm.datasets import (
    SPECS,
    SPLITS,
    DatasetSpec,
    FrameTable,
    read_frames,
    validate_frames,
    write_frames,
)
from streamgmm.io.ts_format import TsDataset, parse_ts

HERE = Path(__file__).resolve().parent
PARQUET_DIR = HERE / "real"
ZARR_DIR = HERE / "generated" / "real"
ARCHIVE = "UEA & UCR Time Series Classification archive"
#: Rows per Zarr chunk along ``sample``: small, so that a stream reader sees several chunks.
ZARR_CHUNK_ROWS = 2048


class SourceError(RuntimeError):
    """The requested source of the datasets is not available."""


# ------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class TsSource:
    """Where the ``.ts`` files are read from: an installed sktime package or a wheel."""

    description: str  # e.g. "sktime 1.2.0 wheel sktime-1.2.0-py3-none-any.whl"
    sktime_version: str
    root: Path | None = None  # the installed package folder
    wheel: Path | None = None

    def read(self, spec: DatasetSpec, split: str) -> tuple[str, str, str]:
        """Return (text, member path inside sktime, sha256) of one split's ``.ts`` file."""
        member = f"sktime/datasets/data/{spec.archive_name}/{spec.archive_name}_{split.upper()}.ts"
        if self.wheel is not None:
            with zipfile.ZipFile(self.wheel) as archive:
                try:
                    raw = archive.read(member)
                except KeyError:
                    raise SourceError(
                        f"{self.wheel} has no {member}; is it a sktime wheel?"
                    ) from None
        else:
            assert self.root is not None
            file = self.root.parent / member
            if not file.is_file():
                raise SourceError(f"the installed sktime ({self.root}) has no {member}")
            raw = file.read_bytes()
        return raw.decode("utf-8"), member, hashlib.sha256(raw).hexdigest()


def installed_sktime() -> TsSource | None:
    """The installed sktime package, found without importing it (its import is slow and heavy)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    try:
        version = importlib.metadata.version("sktime")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return TsSource(
        description=f"installed sktime {version} ({root})", sktime_version=version, root=root
    )


def wheel_source(path: Path) -> TsSource:
    """A sktime wheel file, read as the zip archive it is."""
    if not path.is_file():
        raise SourceError(f"--wheel {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise SourceError(f"--wheel {path}: not a zip archive, so not a wheel")
    with zipfile.ZipFile(path) as archive:
        metadata = [
            n for n in archive.namelist() if re.fullmatch(r"sktime-[^/]+\.dist-info/METADATA", n)
        ]
        if not metadata:
            raise SourceError(f"--wheel {path}: no sktime-*.dist-info/METADATA; not a sktime wheel")
        text = archive.read(metadata[0]).decode("utf-8", "replace")
    match = re.search(r"^Version:\s*(\S+)", text, flags=re.MULTILINE)
    version = match.group(1) if match else "unknown"
    return TsSource(
        description=f"sktime {version} wheel {path.name}", sktime_version=version, wheel=path
    )


# ------------------------------------------------------------------------------ .ts -> frames
def frames_from_ts(spec: DatasetSpec, source: TsSource) -> FrameTable:
    """Parse both splits of one dataset from ``source`` into a validated frame table."""
    parsed: dict[str, TsDataset] = {}
    files: dict[str, str] = {}
    for split in SPLITS:
        text, member, sha256 = source.read(spec, split)
        parsed[split] = parse_ts(text, source=member)
        files[member] = sha256
        _check_header(parsed[split], spec, member)

    blocks: dict[str, list[np.ndarray]] = {c: [] for c in ("X", "series", "label", "split", "t")}
    series_id = 0
    for split in SPLITS:
        for values, label in zip(parsed[split].series, parsed[split].labels, strict=True):
            length = len(values)
            blocks["X"].append(values)
            blocks["series"].append(np.full(length, series_id, dtype=np.int32))
            blocks["label"].append(np.full(length, spec.label_type(label)))
            blocks["split"].append(np.full(length, split))
            blocks["t"].append(np.arange(length, dtype=np.int32))
            series_id += 1
    labels = np.concatenate(blocks["label"])
    table = FrameTable(
        name=spec.name,
        # Values are written with at most 6 decimals; float32 keeps them to ~7 significant digits.
        X=np.concatenate(blocks["X"]).astype(np.float32),
        series=np.concatenate(blocks["series"]),
        label=labels.astype(np.int32) if spec.label_type is int else labels.astype(str),
        split=np.concatenate(blocks["split"]).astype(str),
        t=np.concatenate(blocks["t"]),
        feature_names=spec.feature_names,
        provenance={
            "archive": ARCHIVE,
            "dataset": spec.archive_name,
            "source": f"sktime {source.sktime_version}",
            "files_sha256": files,
        },
    )
    validate_frames(table, spec)
    return table


def _check_header(parsed: TsDataset, spec: DatasetSpec, member: str) -> None:
    """The file must be the dataset we expect (name, channels, declared labels)."""
    if parsed.problem_name != spec.archive_name:
        raise SourceError(
            f"{member}: @problemName {parsed.problem_name!r}, expected {spec.archive_name!r}"
        )
    if parsed.n_dimensions != len(spec.feature_names):
        raise SourceError(
            f"{member}: {parsed.n_dimensions} dimensions, expected {len(spec.feature_names)}"
        )
    declared = {spec.label_type(label) for label in parsed.class_labels}
    if declared != set(spec.labels):
        raise SourceError(
            f"{member}: declared labels {sorted(map(str, declared))}, expected {spec.labels}"
        )


# ------------------------------------------------------------------------------ Zarr
def write_zarr(table: FrameTable, path: Path) -> Path:
    """Write a frame table as a Zarr (format 3) store through xarray, atomically.

    ``X`` has dims (``sample``, ``feature``); ``sample`` (row number), ``split``, ``series``,
    ``label`` and ``t`` are coordinates along ``sample``; ``feature`` holds the feature names.
    """
    import xarray as xr

    n = table.n_frames
    dataset = xr.Dataset(
        {"X": (("sample", "feature"), table.X)},
        coords={
            "sample": np.arange(n, dtype=np.int64),
            "feature": list(table.feature_names),
            "split": ("sample", table.split.astype(str)),
            "series": ("sample", table.series),
            "label": ("sample", table.label),
            "t": ("sample", table.t),
        },
        attrs={"dataset": table.name, "provenance": table.provenance},
    )
    dataset = dataset.chunk({"sample": ZARR_CHUNK_ROWS})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warnings.catch_warnings():
        # zarr notes that consolidated metadata are not in the format 3 specification; xarray
        # reads them, and without them it warns on every open.
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        dataset.to_zarr(partial, mode="w", zarr_format=3, consolidated=True)
    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)
    return path


# ------------------------------------------------------------------------------ main
def choose_source(kind: str, wheel: Path | None, parquet_in: Path) -> TsSource | Path:
    """The source to read: a :class:`TsSource`, or the folder of Parquet copies."""
    if kind in ("auto", "sktime"):
        installed = installed_sktime()
        if installed is not None:
            return installed
        if kind == "sktime":
            raise SourceError("--source sktime: sktime is not installed in this environment")
    if kind in ("auto", "wheel") and wheel is not None:
        return wheel_source(wheel)
    if kind == "wheel":
        raise SourceError(
            "--source wheel needs --wheel PATH (get one with `pip download sktime --no-deps`)"
        )
    missing = [
        spec.file_name for spec in SPECS.values() if not (parquet_in / spec.file_name).is_file()
    ]
    if missing:
        raise SourceError(
            f"no source: sktime is not installed, no --wheel was given, and {parquet_in} lacks "
            f"{', '.join(missing)}. Run `pip download sktime --no-deps` and pass the wheel "
            "with --wheel."
        )
    return parquet_in


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: materialise both datasets and say where they went."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=("auto", "sktime", "wheel", "parquet"), default="auto")
    parser.add_argument(
        "--wheel", type=Path, help="a sktime wheel file (pip download sktime --no-deps)"
    )
    parser.add_argument(
        "--parquet-in",
        type=Path,
        default=PARQUET_DIR,
        help="Parquet copies to read (source parquet)",
    )
    parser.add_argument(
        "--out", type=Path, default=PARQUET_DIR, help="folder for the Parquet tables"
    )
    parser.add_argument(
        "--zarr-out", type=Path, default=ZARR_DIR, help="folder for the Zarr stores"
    )
    parser.add_argument("--no-zarr", action="store_true", help="write the Parquet tables only")
    args = parser.parse_args(argv)

    try:
        source = choose_source(args.source, args.wheel, args.parquet_in)
    except SourceError as error:
        print(f"make_real_streams: {error}", file=sys.stderr)
        return 2
    if args.wheel is not None and not (isinstance(source, TsSource) and source.wheel is not None):
        print(
            f"make_real_streams: note: --wheel ignored, reading {_describe(source)} "
            "(pass --source wheel to force the wheel)"
        )
    print(f"make_real_streams: reading {_describe(source)}")
    for spec in SPECS.values():
        if isinstance(source, TsSource):
            table = frames_from_ts(spec, source)
        else:
            table = read_frames(source / spec.file_name, spec)
        parquet = write_frames(table, args.out / spec.file_name)
        print(
            f"make_real_streams: {spec.name}: {table.n_frames} frames x {table.n_features} "
            f"features, {len(np.unique(table.series))} series -> {parquet} "
            f"({parquet.stat().st_size / 1024:.0f} KiB)"
        )
        if not args.no_zarr:
            store = write_zarr(table, args.zarr_out / f"{spec.name}.zarr")
            print(f"make_real_streams: {spec.name}: -> {store}")
    return 0


def _describe(source: TsSource | Path) -> str:
    return source.description if isinstance(source, TsSource) else f"the Parquet copies in {source}"


if __name__ == "__main__":
    sys.exit(main())
