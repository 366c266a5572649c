"""Where stream batches come from, behind one small interface.

A source turns a *position* (JSON data, None at the start of the stream) into
the next batch of rows and the position after it. The runner commits that
position atomically together with the model, so a source must be *replayable*:
``next_batch(p)`` returns the same rows every time it is called with the same
``p`` (once those rows exist). That is what makes a restarted runner lose no
batch and count none twice.

Writing a new transport (Kafka, MQTT, Redis streams, ...) means implementing
:class:`StreamSource`:

- ``next_batch(position, max_rows, partial=False) -> Batch | None``: the rows
  after ``position`` (``max_rows`` of them, or fewer only with ``partial=True`` or
  at the end of a unit such as a file), or None when nothing complete is
  available yet. It must not skip rows and must not depend on earlier calls.
  For Kafka, the position would be ``{partition: offset}`` and the batch the
  records from those offsets (committing offsets to Kafka is then unnecessary:
  the runner's state is the source of truth).
- ``describe() -> dict``: JSON data identifying the source (recorded in model
  versions and used to refuse a state written for another source).
- ``replayable``: False for transports that cannot re-read (standard input);
  the runner then documents at-most-once for the batch in flight at a crash.
- optionally ``expect_features(n)``: the runner tells the source the model's
  number of features, so that a source which can skip bad units (the landing
  folder's quarantine) does so instead of failing the stream.

Built in: :class:`AppendedZarrSource` (a store a producer grows along the
sample dimension), :class:`LandingFolderSource` (files dropped into a folder,
each processed once, in name order) and :class:`StdinSource` (rows of numbers).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..core.errors import InvalidInputError, StreamGMMError

__all__ = [
    "Batch",
    "StreamSource",
    "AppendedZarrSource",
    "LandingFolderSource",
    "StdinSource",
    "SourceError",
    "LANDING_SUFFIXES",
]

logger = logging.getLogger("streamgmm.online")

#: File kinds a landing folder accepts; anything else is moved to quarantine.
LANDING_SUFFIXES = (".parquet", ".npy", ".zarr")


class SourceError(StreamGMMError, OSError):
    """A stream source cannot be read at all (missing store or folder, wrong variable)."""


@dataclass(frozen=True)
class Batch:
    """Rows read from a stream, and where they sit in it.

    Attributes
    ----------
    rows : ndarray of shape (n, D)
        float32 or float64 rows; may contain NaN (the runner applies the NaN policy).
    position : dict
        The source position *after* these rows (JSON data).
    where : str
        Human-readable location for messages and logs, e.g. "file a.parquet rows 0-999".
    """

    rows: np.ndarray
    position: dict[str, Any]
    where: str


@runtime_checkable
class StreamSource(Protocol):
    """A replayable sequence of row batches addressed by JSON positions."""

    replayable: bool

    def next_batch(
        self, position: dict[str, Any] | None, max_rows: int, partial: bool = False
    ) -> Batch | None:
        """The rows after ``position`` (at most ``max_rows``), or None if none are ready."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON data identifying the source."""
        ...


def _as_float_rows(values: np.ndarray, where: str, n_features: int | None) -> np.ndarray:
    """Rows (n, D) as float32/float64, with errors naming ``where``."""
    values = np.asarray(values)
    if values.ndim == 1 and n_features == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise InvalidInputError(f"{where} holds a {values.ndim}-dimensional array; expected rows x features")
    if values.dtype.kind not in "fiu":
        raise InvalidInputError(f"{where} has dtype {values.dtype}; expected numbers")
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return values


# ===================================================================== appended Zarr store
class AppendedZarrSource:
    """A Zarr store that a producer grows along the sample dimension.

    Reads only rows not yet consumed: the position is ``{"rows": n}``. A batch is
    returned only when ``max_rows`` rows are available (batch boundaries thus
    never depend on when the runner polled), unless ``partial=True`` is passed to
    :meth:`next_batch` at the end of a bounded run.

    Producers append with e.g. ``ds.to_zarr(store, append_dim="sample")``. A
    producer may resize the array before its chunks are written: rows whose chunk
    is not readable yet are treated as not yet arrived (never read as the fill
    value).

    Parameters
    ----------
    uri : str
        Path or URL of the store.
    variable : str, optional
        Array name (default: the only 2-D array).
    sample_dim, feature_dim : str
        Dimension names, for stores written by xarray.
    """

    replayable = True

    def __init__(
        self, uri: str, variable: str | None = None, sample_dim: str = "sample", feature_dim: str = "feature"
    ) -> None:
        self.uri = str(uri)
        self.variable = variable
        self.sample_dim = sample_dim
        self.feature_dim = feature_dim
        self._rows: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": "zarr-append", "uri": self.uri, "variable": self.variable}

    def _open(self) -> Any:
        from ..io.sources import DataReadError, open_rows

        try:
            return open_rows(
                self.uri,
                variable=self.variable,
                sample_dim=self.sample_dim,
                feature_dim=self.feature_dim,
                format="zarr",
            )
        except DataReadError as exc:
            raise SourceError(str(exc)) from exc

    def _rows_available(self, needed: int) -> Any:
        """A reader that knows at least ``needed`` rows if the store has them.

        Opening the store (metadata, dimension names, coordinates) costs far more
        than reading a small batch, so the reader is kept and the store re-opened
        only when the rows known so far run out.
        """
        if self._rows is None or self._rows.shape[0] < needed:
            self._rows = self._open()
        return self._rows

    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = False) -> Batch | None:
        from ..io.sources import DataReadError

        start = 0 if position is None else int(position["rows"])
        rows = self._rows_available(start + max_rows)
        available = rows.shape[0] - start
        if available <= 0 or (available < max_rows and not partial):
            return None
        stop = start + min(max_rows, available)
        try:
            block = rows.reader.read_rows(start, stop)
        except DataReadError as exc:
            # The array was resized before the chunk was written: not arrived yet.
            logger.info("rows %d-%d of %s are not complete yet (%s); waiting", start, stop - 1, self.uri, exc)
            return None
        where = f"rows {start}-{stop - 1} of {self.uri}"
        return Batch(rows=_as_float_rows(block, where, None), position={"rows": stop}, where=where)


# ========================================================================= landing folder
@dataclass
class _QuarantineLog:
    """Files moved aside in this process (for summaries)."""

    moved: list[tuple[str, str]] = field(default_factory=list)


class LandingFolderSource:
    """Files that arrive in a folder, each processed once, in name order.

    Accepted files: ``*.parquet`` (numeric columns, or ``columns``), ``*.npy``
    (a 2-D array) and ``*.zarr`` stores (``variable``). Producers must make a file
    appear complete: write it under a name starting with ``.`` or ending in
    ``.tmp`` / ``.partial`` and rename it when done (both are ignored until then).
    Name files so that name order is arrival order (e.g. a UTC timestamp prefix).

    The position is ``{"done_through": name, "file": name, "offset": rows}``: every
    file up to ``done_through`` (in name order) is finished, and ``offset`` rows
    of ``file`` are. Finished files are moved to ``processed/`` at the next poll
    (after their position was committed, so a crash in between is harmless). A
    large file is split into batches of ``max_rows``; a batch never spans two
    files. A file that cannot be read, has the wrong number of features or
    arrives with a name before files already started is moved to ``quarantine/``
    beside a ``.reason.txt`` and the stream goes on.

    Parameters
    ----------
    folder : path-like
    columns : sequence of str, optional
        Parquet feature columns (default: all numeric columns).
    variable : str, optional
        Array name inside ``.zarr`` files.
    n_features : int, optional
        Expected features; files with another count are quarantined.
    quarantine : path-like, optional
        Default ``<folder>/quarantine``.
    """

    replayable = True

    def __init__(
        self,
        folder: str | os.PathLike[str],
        columns: Sequence[str] | None = None,
        variable: str | None = None,
        n_features: int | None = None,
        quarantine: str | os.PathLike[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.columns = None if columns is None else list(columns)
        self.variable = variable
        self.n_features = n_features
        self.quarantine_folder = Path(quarantine) if quarantine else self.folder / "quarantine"
        self.processed_folder = self.folder / "processed"
        self.quarantined = _QuarantineLog()
        if not self.folder.is_dir():
            raise SourceError(
                f"Landing folder '{self.folder}' does not exist. Create it (producers drop files "
                "there) or fix the path."
            )

    def describe(self) -> dict[str, Any]:
        return {"kind": "landing-folder", "folder": str(self.folder), "columns": self.columns,
                "variable": self.variable}

    def expect_features(self, n_features: int) -> None:
        """Quarantine files with another number of features from now on (the model's)."""
        self.n_features = n_features

    # ------------------------------------------------------------------ listing
    @staticmethod
    def _is_candidate(name: str) -> bool:
        return not (name.startswith(".") or name.endswith((".tmp", ".partial", ".reason.txt")))

    def _arrived(self) -> list[str]:
        names = []
        for entry in os.scandir(self.folder):
            if not self._is_candidate(entry.name):
                continue
            if Path(entry.path).resolve() in (
                self.quarantine_folder.resolve(),
                self.processed_folder.resolve(),
            ):
                continue
            names.append(entry.name)
        return sorted(names)

    def _move(self, name: str, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.exists():
            target = folder / f"{name}.{time.time_ns()}"
        shutil.move(str(self.folder / name), str(target))
        return target

    def _quarantine(self, name: str, reason: str) -> None:
        """Move a file aside with its reason; the stream goes on without it."""
        target = self._move(name, self.quarantine_folder)
        Path(f"{target}.reason.txt").write_text(reason + "\n")
        self.quarantined.moved.append((name, reason))
        logger.warning("quarantined %s: %s (moved to %s)", name, reason, target)

    # ------------------------------------------------------------------ reading
    def _rows_of(self, name: str) -> Any:
        """A row reader for one arrived file: ``(n_rows, read(start, stop))``."""
        path = self.folder / name
        where = f"file '{path}'"
        if name.endswith(".npy"):
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.ndim != 2:
                raise InvalidInputError(f"{where} holds a {array.ndim}-D array; expected rows x features")
            if array.dtype.kind not in "fiu":
                raise InvalidInputError(f"{where} has dtype {array.dtype}; expected numbers")
            return array.shape[0], array.shape[1], lambda a, b: np.array(array[a:b])
        if name.endswith((".parquet", ".zarr")):
            from ..io.sources import open_rows

            rows = open_rows(
                str(path),
                columns=self.columns if name.endswith(".parquet") else None,
                variable=self.variable if name.endswith(".zarr") else None,
                format="parquet" if name.endswith(".parquet") else "zarr",
            )
            return rows.shape[0], rows.shape[1], rows.reader.read_rows
        raise InvalidInputError(
            f"{where} is not one of the accepted kinds ({', '.join(LANDING_SUFFIXES)})"
        )

    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = False) -> Batch | None:
        done_through = None if position is None else position.get("done_through")
        current = None if position is None else position.get("file")
        offset = 0 if position is None else int(position.get("offset", 0))
        for name in self._arrived():
            if name == done_through:
                self._move(name, self.processed_folder)  # finished before the last commit
                continue
            late_after = next(
                (seen for seen in (done_through, current) if seen is not None and name < seen), None
            )
            if late_after is not None:
                self._quarantine(name, f"arrived after '{late_after}', which sorts later, was started")
                continue
            start = offset if name == current else 0
            try:
                n_rows, n_features, read = self._rows_of(name)
                if self.n_features is not None and n_features != self.n_features:
                    raise InvalidInputError(
                        f"it has {n_features} features; the stream has {self.n_features}"
                    )
                if self.n_features is None and n_rows:
                    self.n_features = n_features  # the first readable file sets the layout
                stop = min(start + max_rows, n_rows)
                block = read(start, stop) if stop > start else np.empty((0, n_features))
                rows = _as_float_rows(block, f"file '{self.folder / name}'", n_features)
            except Exception as exc:  # any unreadable file is set aside, never fatal
                self._quarantine(name, f"unreadable: {type(exc).__name__}: {exc}")
                continue
            finished = stop >= n_rows
            new_position = (
                {"done_through": name, "file": None, "offset": 0}
                if finished
                else {"done_through": done_through, "file": name, "offset": stop}
            )
            where = f"file {name} rows {start}-{stop - 1}" if stop > start else f"file {name} (empty)"
            return Batch(rows=rows, position=new_position, where=where)
        return None


# ========================================================================= standard input
class StdinSource:
    """Rows of numbers on standard input (or any text stream), for piping.

    One row per line, values separated by commas, spaces or tabs; blank lines
    and lines starting with ``#`` are skipped. A line that is not numbers (or has
    the wrong count) becomes a row of NaN, so the runner's NaN policy decides:
    ``raise`` stops with the line number, ``drop`` counts it and goes on.

    Not replayable: rows read but not yet committed when the process dies are
    lost (at-most-once for the batch in flight). The position counts lines.

    Parameters
    ----------
    stream : text stream, optional
        Default ``sys.stdin``.
    n_features : int, optional
        Expected values per line (default: the first data line's count).
    """

    replayable = False

    def __init__(self, stream: IO[str] | None = None, n_features: int | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        self.n_features = n_features
        self.exhausted = False
        self.bad_lines: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {"kind": "stdin"}

    def _parse(self, line: str, number: int) -> list[float] | None:
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        parts = text.replace(",", " ").split()
        try:
            values = [float(part) for part in parts]
        except ValueError:
            values = []
        if self.n_features is None and values:
            self.n_features = len(values)
        if len(values) != self.n_features:
            self.bad_lines.append(number)
            logger.warning("stdin line %d is not %s numbers: %r", number, self.n_features, text[:80])
            return [float("nan")] * (self.n_features or 1)
        return values

    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = True) -> Batch | None:
        line_number = 0 if position is None else int(position["lines"])
        rows: list[list[float]] = []
        first = line_number + 1
        while len(rows) < max_rows:
            line = self.stream.readline()
            if line == "":
                self.exhausted = True
                break
            line_number += 1
            values = self._parse(line, line_number)
            if values is not None:
                rows.append(values)
        if not rows:
            return None
        block = np.asarray(rows, dtype=np.float64)
        return Batch(rows=block, position={"lines": line_number}, where=f"stdin lines {first}-{line_number}")
