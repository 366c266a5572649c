"""Two small real datasets for streaming examples: Japanese Vowels (speech), BasicMotions (sensors).

Both come from the UEA & UCR time series classification archive, as bundled inside the sktime
wheel; ``data/make_real_streams.py`` turns them into frame tables and ``data/real/`` holds the
committed Parquet copies (see ``data/real/README.md`` for sources and terms). Each table has one
row per frame (Japanese Vowels: one 12-coefficient LPC cepstrum per analysis frame) or per time
sample (BasicMotions: 3-axis accelerometer and gyroscope at 10 Hz), which is how a stream
presents them to an online mixture model.

>>> from streamgmm.datasets import load_japanese_vowels
>>> vowels = load_japanese_vowels()                  # doctest: +SKIP
>>> vowels.X.shape, vowels.feature_names[:2]         # doctest: +SKIP
((9961, 12), ('c01', 'c02'))
>>> train = vowels.select("train")                   # doctest: +SKIP

The loaders read Parquet with pyarrow only (pandas is not needed) and validate what they read
against the known counts of each dataset, so a stale or damaged file fails loudly.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core.errors import InvalidInputError
from .io.atomic import atomic_write_bytes

__all__ = [
    "FrameTable",
    "DatasetSpec",
    "DatasetValidationError",
    "JAPANESE_VOWELS",
    "BASIC_MOTIONS",
    "SPECS",
    "SPLITS",
    "default_data_dir",
    "load_japanese_vowels",
    "load_basic_motions",
    "load_frames",
    "read_frames",
    "write_frames",
    "validate_frames",
]

#: The two splits of the archive, in the order rows are stored.
SPLITS = ("train", "test")
#: Parquet key-value metadata key holding the JSON provenance (archive, sktime version, sha256s).
PROVENANCE_KEY = b"streamgmm.provenance"
#: The non-feature columns, in stored order.
INDEX_COLUMNS = ("split", "series", "label", "t")


class DatasetValidationError(InvalidInputError):
    """A frame table does not have the content its dataset is known to have."""


@dataclass(frozen=True)
class DatasetSpec:
    """What one dataset must contain; the writer and the loaders both check it.

    Attributes
    ----------
    name : str
        Our name, also the Parquet file stem ("japanese_vowels").
    archive_name : str
        The name in the archive and in sktime ("JapaneseVowels").
    feature_names : tuple of str
        Feature columns, in the archive's dimension order.
    label_type : type
        ``int`` (speaker number) or ``str`` (activity name).
    series_per_label : mapping of split -> mapping of label -> int
        Number of series of each class in each split.
    frames_per_split : mapping of split -> int
        Total rows of each split.
    length_range : tuple of int
        Shortest and longest series (both splits).
    """

    name: str
    archive_name: str
    feature_names: tuple[str, ...]
    label_type: type
    series_per_label: Mapping[str, Mapping[int | str, int]]
    frames_per_split: Mapping[str, int]
    length_range: tuple[int, int]

    @property
    def file_name(self) -> str:
        return f"{self.name}.parquet"

    @property
    def labels(self) -> tuple[int | str, ...]:
        return tuple(self.series_per_label["train"])

    def series_per_split(self, split: str) -> int:
        return sum(self.series_per_label[split].values())


JAPANESE_VOWELS = DatasetSpec(
    name="japanese_vowels",
    archive_name="JapaneseVowels",
    feature_names=tuple(f"c{j:02d}" for j in range(1, 13)),
    label_type=int,
    # 30 training utterances per speaker; the test set's counts depend on recording sessions.
    series_per_label={
        "train": {speaker: 30 for speaker in range(1, 10)},
        "test": {1: 31, 2: 35, 3: 88, 4: 44, 5: 29, 6: 24, 7: 40, 8: 50, 9: 29},
    },
    frames_per_split={"train": 4274, "test": 5687},
    length_range=(7, 29),
)

BASIC_MOTIONS = DatasetSpec(
    name="basic_motions",
    archive_name="BasicMotions",
    # The archive stores the accelerometer's three axes first, then the gyroscope's.
    feature_names=("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"),
    label_type=str,
    series_per_label={
        split: {"Standing": 10, "Running": 10, "Walking": 10, "Badminton": 10} for split in SPLITS
    },
    frames_per_split={"train": 4000, "test": 4000},
    length_range=(100, 100),
)

SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in (JAPANESE_VOWELS, BASIC_MOTIONS)}


@dataclass(frozen=True, eq=False)
class FrameTable:
    """A labelled multivariate time series dataset, one row per frame.

    Rows are stored split by split (train first), series by series, in time order; a series'
    rows are contiguous.

    Attributes
    ----------
    name : str
        Dataset name ("japanese_vowels", "basic_motions").
    X : ndarray of shape (n_frames, n_features), float32
    series : ndarray of shape (n_frames,), int32
        Series (utterance, recording) id, unique across both splits: train series are numbered
        from 0 in file order, test series continue after the last train series.
    label : ndarray of shape (n_frames,)
        Class of the row's series: int32 speaker number (1..9) or str activity name.
    split : ndarray of shape (n_frames,), str
        "train" or "test".
    t : ndarray of shape (n_frames,), int32
        Frame index within the series, from 0.
    feature_names : tuple of str, length n_features
    provenance : dict
        Where the values came from (archive, sktime version, sha256 of the source files).
    """

    name: str
    X: np.ndarray
    series: np.ndarray
    label: np.ndarray
    split: np.ndarray
    t: np.ndarray
    feature_names: tuple[str, ...]
    provenance: dict[str, object] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def select(self, split: str) -> FrameTable:
        """The rows of one split ("train" or "test"), as a new table (arrays are copies)."""
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of {SPLITS}, got {split!r}")
        rows = self.split == split
        return FrameTable(
            name=self.name,
            X=self.X[rows],
            series=self.series[rows],
            label=self.label[rows],
            split=self.split[rows],
            t=self.t[rows],
            feature_names=self.feature_names,
            provenance=dict(self.provenance),
        )

    def iter_series(self) -> Iterator[tuple[int, int | str, np.ndarray]]:
        """Yield ``(series id, label, frames of shape (length, n_features))`` in stored order."""
        starts = np.flatnonzero(np.r_[True, self.series[1:] != self.series[:-1]])
        stops = np.r_[starts[1:], self.n_frames]
        for start, stop in zip(starts, stops, strict=True):
            yield int(self.series[start]), self.label[start].item(), self.X[start:stop]


# ------------------------------------------------------------------------------ validation
def validate_frames(table: FrameTable, spec: DatasetSpec) -> None:
    """Check a table against everything its dataset is known to contain.

    Raises
    ------
    DatasetValidationError
        Naming the first property that does not hold (shape, NaN, ordering, counts).
    """
    where = spec.name
    n = table.n_frames
    if table.X.ndim != 2 or table.X.shape[1] != len(spec.feature_names):
        raise DatasetValidationError(
            f"{where}: X has shape {table.X.shape}, expected (n_frames, {len(spec.feature_names)})"
        )
    if tuple(table.feature_names) != spec.feature_names:
        raise DatasetValidationError(
            f"{where}: feature names {list(table.feature_names)}, "
            f"expected {list(spec.feature_names)}"
        )
    for column in INDEX_COLUMNS:
        if getattr(table, column).shape != (n,):
            raise DatasetValidationError(f"{where}: column {column!r} does not have {n} rows")
    if not np.isfinite(table.X).all():
        bad = int((~np.isfinite(table.X)).any(axis=1).sum())
        raise DatasetValidationError(f"{where}: {bad} frame(s) hold NaN or infinite values")

    # Rows come split by split, series by series: every later check relies on that order.
    unknown = set(np.unique(table.split).tolist()) - set(SPLITS)
    if unknown:
        raise DatasetValidationError(f"{where}: unknown split value(s) {sorted(unknown)}")
    if np.any(np.diff((table.split == "test").astype(np.int8)) < 0):
        raise DatasetValidationError(f"{where}: rows are not ordered train first, then test")
    if n == 0:
        raise DatasetValidationError(f"{where}: the table has no rows")
    starts = np.flatnonzero(np.r_[True, table.series[1:] != table.series[:-1]])
    if len(starts) != len(np.unique(table.series)):
        raise DatasetValidationError(f"{where}: the rows of a series are not contiguous")
    if not np.array_equal(table.series[starts], np.arange(len(starts))):
        raise DatasetValidationError(f"{where}: series ids do not number the series 0, 1, 2, ...")
    lengths = np.diff(np.r_[starts, n])
    expected_t = np.arange(n) - np.repeat(starts, lengths)
    if not np.array_equal(table.t, expected_t):
        raise DatasetValidationError(f"{where}: t does not count 0, 1, 2, ... within each series")
    for column in ("label", "split"):
        values = getattr(table, column)
        if np.any(values != np.repeat(values[starts], lengths)):
            raise DatasetValidationError(f"{where}: a series has more than one {column}")

    if lengths.min() < spec.length_range[0] or lengths.max() > spec.length_range[1]:
        raise DatasetValidationError(
            f"{where}: series lengths {lengths.min()}..{lengths.max()}, expected "
            f"{spec.length_range[0]}..{spec.length_range[1]}"
        )
    for split in SPLITS:
        rows = table.split == split
        if int(rows.sum()) != spec.frames_per_split[split]:
            raise DatasetValidationError(
                f"{where}: {int(rows.sum())} {split} frames, "
                f"expected {spec.frames_per_split[split]}"
            )
        first = starts[table.split[starts] == split]
        counts = Counter(table.label[first].tolist())
        if dict(counts) != dict(spec.series_per_label[split]):
            raise DatasetValidationError(
                f"{where}: {split} series per label {dict(sorted(counts.items()))}, expected "
                f"{dict(spec.series_per_label[split])} ({len(first)} series, expected "
                f"{spec.series_per_split(split)})"
            )


# ------------------------------------------------------------------------------ Parquet
def write_frames(table: FrameTable, path: str | Path) -> Path:
    """Write a frame table as one zstd-compressed Parquet file (one row group), atomically.

    Columns: the features (float32), then ``split`` (string), ``series`` (int32), ``label``
    (int32 or string) and ``t`` (int32); the provenance is stored as JSON in the file's
    key-value metadata. The file is written beside its target and renamed into place.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    columns = {
        name: pa.array(table.X[:, j], pa.float32()) for j, name in enumerate(table.feature_names)
    }
    columns["split"] = pa.array(table.split.astype(str), pa.string())
    columns["series"] = pa.array(table.series, pa.int32())
    if np.issubdtype(table.label.dtype, np.integer):
        columns["label"] = pa.array(table.label, pa.int32())
    else:
        columns["label"] = pa.array(table.label.astype(str), pa.string())
    columns["t"] = pa.array(table.t, pa.int32())
    arrow = pa.table(columns)
    metadata = {
        b"streamgmm.dataset": table.name.encode(),
        PROVENANCE_KEY: json.dumps(table.provenance, sort_keys=True).encode(),
    }
    arrow = arrow.replace_schema_metadata(metadata)
    encoded = io.BytesIO()
    pq.write_table(
        arrow,
        encoded,
        compression="zstd",
        compression_level=19,
        # Dictionaries only pay off for the repetitive index columns; byte-stream-split floats
        # compress about 10% better under zstd than plain ones.
        use_dictionary=["split", "label"],
        use_byte_stream_split=list(table.feature_names),
        row_group_size=1 << 20,
    )
    atomic_write_bytes(path, encoded.getvalue())
    return path


def read_frames(path: str | Path, spec: DatasetSpec, *, validate: bool = True) -> FrameTable:
    """Read a frame table written by :func:`write_frames` (pyarrow only, no pandas).

    Parameters
    ----------
    path : str or Path
        The Parquet file.
    spec : DatasetSpec
        The dataset it holds (column names, label type, counts).
    validate : bool
        Check the content against ``spec`` (:func:`validate_frames`).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        arrow = pq.read_table(path)
    except OSError as error:
        raise DatasetValidationError(f"{path}: not a readable Parquet file ({error})") from error
    missing = [c for c in (*spec.feature_names, *INDEX_COLUMNS) if c not in arrow.column_names]
    if missing:
        raise DatasetValidationError(f"{path}: missing column(s) {missing}; regenerate it")
    X = np.column_stack(
        [arrow[c].to_numpy().astype(np.float32, copy=False) for c in spec.feature_names]
    )
    label = arrow["label"].to_numpy(zero_copy_only=False)
    label = label.astype(np.int32) if spec.label_type is int else label.astype(str)
    metadata = arrow.schema.metadata or {}
    table = FrameTable(
        name=spec.name,
        X=X,
        series=arrow["series"].to_numpy().astype(np.int32, copy=False),
        label=label,
        split=arrow["split"].to_numpy(zero_copy_only=False).astype(str),
        t=arrow["t"].to_numpy().astype(np.int32, copy=False),
        feature_names=spec.feature_names,
        provenance=json.loads(metadata.get(PROVENANCE_KEY, b"{}")),
    )
    if validate:
        try:
            validate_frames(table, spec)
        except DatasetValidationError as error:
            raise DatasetValidationError(f"{path}: {error}") from None
    return table


# ------------------------------------------------------------------------------ loaders
def default_data_dir() -> Path:
    """``<checkout>/data/real``: the committed copies, beside the (editable) package source."""
    return Path(__file__).resolve().parent.parent / "data" / "real"


def load_frames(name: str, path: str | Path | None = None) -> FrameTable:
    """Load one of :data:`SPECS` by name from ``path`` (a folder or the Parquet file itself).

    Raises
    ------
    FileNotFoundError
        When the file is missing, saying how to create it.
    DatasetValidationError
        When the file does not hold the expected dataset.
    """
    if name not in SPECS:
        raise InvalidInputError(f"unknown dataset {name!r}; known: {sorted(SPECS)}")
    spec = SPECS[name]
    location = Path(path) if path is not None else default_data_dir()
    file = location if location.suffix == ".parquet" else location / spec.file_name
    if not file.is_file():
        raise FileNotFoundError(
            f"{file} not found. The dataset files live in the repository checkout, not in the "
            "installed package: run `python data/make_real_streams.py` in the checkout (it reads "
            "the installed sktime package, or a sktime wheel given with --wheel), or pass path= "
            "to a folder holding "
            f"{spec.file_name}."
        )
    return read_frames(file, spec)


def load_japanese_vowels(path: str | Path | None = None) -> FrameTable:
    """Japanese Vowels: 12 LPC cepstral coefficients per frame, 9 male speakers.

    640 utterances of the vowel pair /ae/ (270 train: 30 per speaker; 370 test), 7 to 29 frames
    each: 9,961 frames in all (4,274 train, 5,687 test). ``label`` is the speaker, 1..9.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding ``japanese_vowels.parquet``, or the file; default :func:`default_data_dir`.
    """
    return load_frames(JAPANESE_VOWELS.name, path)


def load_basic_motions(path: str | Path | None = None) -> FrameTable:
    """BasicMotions: smart-watch accelerometer and gyroscope (6 channels) at 10 Hz, 4 activities.

    80 recordings of 100 samples (10 s): 40 train and 40 test, 10 per activity in each;
    8,000 samples in all. ``label`` is the activity: Standing, Running, Walking or Badminton.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding ``basic_motions.parquet``, or the file; default :func:`default_data_dir`.
    """
    return load_frames(BASIC_MOTIONS.name, path)
