"""Where stream batches come from, behind one small interface.

A source turns a *position* (JSON data, None at the start of the stream) into
the next batch of rows and the position after it. The runner commits that
position atomically together with the model, so a source must be *replayable*:
``next_batch(p)`` returns the same rows every time it is called with the same
``p`` (once those rows exist). That is what makes a restarted runner lose no
batch and count none twice.

Writing a new transport means implementing :class:`StreamSource`; message
brokers (Kafka, Redis Streams, NATS JetStream, MQTT) subclass
:class:`streamgmm.online.brokers.common.BrokerSource`, which does the shared
part (messages to batches, dead letters, reconnects):

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
- optionally ``acknowledge(position)``: called by the runner right after
  ``position`` was committed (never before), for brokers that take acks.
- optionally ``identity(batch, previous) -> dict`` and
  ``verify_identity(recorded, position)``: what identifies the source and the
  data consumed up to the position after ``batch`` (committed with it), and the
  check, when a runner resumes, that the source still holds that data; it raises
  :class:`SourceMismatchError` naming both identities. A broker stream would
  record its topic/stream id and epoch (e.g. a Kafka topic id).

A stream position belongs to one source. The built-in identities:

- Zarr store: its path and variable, the rows consumed, a SHA-256 of its first
  rows (up to 256) and of the last batch's rows. A store that was replaced,
  rewritten or shortened fails the check at the next start (and a shortened one
  also during a run, instead of looking idle).
- Landing folder: an id kept in the folder (``.streamgmm-landing-id``, written at
  the first commit; a recreated folder has none), and the name, size and SHA-256
  of the file of the last batch, plus a running digest over every file consumed
  (their history). A file the stream was in the middle of that is gone or
  changed fails the check. Hashing reads each file once more, when the stream
  starts on it (and the current file again at each start).
- Standard input cannot be identified: every run reads what is piped to it, and
  the position counts lines across runs.

Built in: :class:`AppendedZarrSource` (a store a producer grows along the
sample dimension), :class:`LandingFolderSource` (files dropped into a folder,
each processed once, in name order) and :class:`StdinSource` (rows of numbers).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..core.errors import InvalidInputError, StreamGMMError
from ..io.atomic import atomic_write_bytes

__all__ = [
    "Batch",
    "StreamSource",
    "AppendedZarrSource",
    "LandingFolderSource",
    "StdinSource",
    "SourceError",
    "SourceMismatchError",
    "LANDING_SUFFIXES",
    "LANDING_ID_FILENAME",
]

logger = logging.getLogger("streamgmm.online")

#: File kinds a landing folder accepts; anything else is moved to quarantine.
LANDING_SUFFIXES = (".parquet", ".npy", ".zarr")
#: The id a landing folder keeps of itself (hidden: never taken for data).
LANDING_ID_FILENAME = ".streamgmm-landing-id"
#: Leading rows of a Zarr store hashed into its identity.
HEAD_ROWS = 256


class SourceError(StreamGMMError, OSError):
    """A stream source cannot be read at all (missing store or folder, wrong variable)."""


class SourceMismatchError(StreamGMMError, ValueError):
    """The source is not the one the committed stream position belongs to.

    Attributes
    ----------
    recorded, current : dict
        The identity committed with the position, and what the source shows now.
    """

    def __init__(
        self, message: str, recorded: dict[str, Any] | None = None, current: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.recorded = recorded or {}
        self.current = current or {}


def rows_digest(rows: np.ndarray) -> str:
    """SHA-256 of rows as a source returns them (dtype, shape and values)."""
    rows = np.ascontiguousarray(rows)
    digest = hashlib.sha256(f"{rows.dtype.str}{rows.shape}".encode())
    digest.update(memoryview(rows).cast("B"))
    return digest.hexdigest()


def _short(digest: str | None) -> str:
    return "none" if not digest else digest[:12]


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
    dead_letters : int
        Messages of a broker stream skipped within this batch's span (undecodable,
        sent to the dead-letter sink; see :mod:`streamgmm.online.brokers.common`).
    """

    rows: np.ndarray
    position: dict[str, Any]
    where: str
    dead_letters: int = 0


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
        self._head: dict[str, Any] | None = None  # the committed identity's first rows

    def describe(self) -> dict[str, Any]:
        return {"kind": "zarr-append", "uri": self.uri, "variable": self.variable}

    # ------------------------------------------------------------------ identity
    def _read(self, rows: Any, start: int, stop: int) -> np.ndarray:
        where = f"rows {start}-{stop - 1} of {self.uri}"
        return _as_float_rows(rows.reader.read_rows(start, stop), where, None)

    def _head_of(self, rows: Any, n: int) -> str | None:
        """Digest of the first ``n`` rows of the store now, None if they are not all there."""
        from ..io.sources import DataReadError

        if rows.shape[0] < n:
            return None
        try:
            return rows_digest(self._read(rows, 0, n))
        except DataReadError:
            return None

    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The store's identity after ``batch``: rows consumed, first rows, last batch."""
        stop = int(batch.position["rows"])
        start = stop - batch.rows.shape[0]
        head = None if previous is None else previous.get("head")
        if head is None:
            n = min(HEAD_ROWS, stop)
            digest = rows_digest(batch.rows[:n]) if start == 0 else self._head_of(self._rows_available(n), n)
            head = {"rows": n, "sha256": digest}
        self._head = head
        return {
            "kind": "zarr-append", "uri": self.uri, "variable": self.variable, "rows": stop,
            "head": head, "last": {"start": start, "stop": stop, "sha256": rows_digest(batch.rows)},
        }

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse a store that no longer holds the rows the stream consumed.

        Raises
        ------
        SourceMismatchError
            Shorter than the committed position, or other first rows or last batch rows.
        """
        from ..io.sources import DataReadError

        consumed = int(recorded.get("rows", 0 if position is None else position["rows"]))
        rows = self._open()
        self._rows = rows
        head, last = recorded.get("head") or {}, recorded.get("last") or {}
        current: dict[str, Any] = {"rows": rows.shape[0]}
        problem = None
        if rows.shape[0] < consumed:
            problem = (
                f"it now has {rows.shape[0]} rows, fewer than the {consumed} the stream has "
                "consumed (truncated, rewound or replaced)"
            )
        if problem is None and head:
            current["head"] = {"rows": head["rows"], "sha256": self._head_of(rows, int(head["rows"]))}
            if current["head"]["sha256"] != head["sha256"]:
                problem = f"its first {head['rows']} rows differ from those consumed (replaced)"
        if problem is None and last:
            try:
                now = rows_digest(self._read(rows, int(last["start"]), int(last["stop"])))
            except DataReadError as exc:
                now = f"unreadable ({exc})"
            current["last"] = {"start": last["start"], "stop": last["stop"], "sha256": now}
            if now != last["sha256"]:
                problem = (
                    f"its rows {last['start']}-{int(last['stop']) - 1} differ from those the last "
                    "committed batch consumed (rewritten or replaced)"
                )
        if problem is not None:
            raise SourceMismatchError(
                f"Zarr store '{self.uri}' is not the stream's source any more: {problem}. "
                f"Committed: {_describe_zarr(recorded)}; now: {_describe_zarr(current)}.",
                recorded, current,
            )
        self._head = head or None

    def _check_head(self, rows: Any) -> None:
        """On re-opening during a run: the store's first rows are still those committed."""
        if self._head is None or not self._head.get("sha256"):
            return
        n = int(self._head["rows"])
        digest = self._head_of(rows, n)
        if digest is not None and digest != self._head["sha256"]:
            raise SourceMismatchError(
                f"Zarr store '{self.uri}' was replaced while the stream ran: its first {n} rows "
                f"differ from those consumed (sha256 {_short(self._head['sha256'])} then, "
                f"{_short(digest)} now).",
                {"head": self._head}, {"head": {"rows": n, "sha256": digest}},
            )

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
            before = None if self._rows is None else self._rows.shape
            self._rows = self._open()
            if self._rows.shape != before:  # changed: still the same store? (one chunk read)
                self._check_head(self._rows)
        return self._rows

    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = False) -> Batch | None:
        from ..io.sources import DataReadError

        start = 0 if position is None else int(position["rows"])
        rows = self._rows_available(start + max_rows)
        available = rows.shape[0] - start
        if available < 0:
            raise SourceMismatchError(
                f"Zarr store '{self.uri}' now has {rows.shape[0]} rows, fewer than the {start} the "
                "stream has consumed: it was truncated, rewound or replaced.",
                {"rows": start}, {"rows": rows.shape[0]},
            )
        if available == 0 or (available < max_rows and not partial):
            return None
        stop = start + min(max_rows, available)
        try:
            block = rows.reader.read_rows(start, stop)
        except DataReadError as exc:
            # The array was resized before the chunk was written: not arrived yet. Or
            # the store was replaced by a shorter one: open it afresh at the next poll.
            logger.info("rows %d-%d of %s are not complete yet (%s); waiting", start, stop - 1, self.uri, exc)
            self._rows = None
            return None
        where = f"rows {start}-{stop - 1} of {self.uri}"
        return Batch(rows=_as_float_rows(block, where, None), position={"rows": stop}, where=where)


def _describe_zarr(identity: dict[str, Any]) -> str:
    """One line of a Zarr identity for messages."""
    parts = [f"{identity.get('rows', '?')} rows"]
    head, last = identity.get("head"), identity.get("last")
    if head:
        parts.append(f"first {head['rows']} rows sha256 {_short(head['sha256'])}")
    if last:
        parts.append(f"rows {last['start']}-{int(last['stop']) - 1} sha256 {_short(last['sha256'])}")
    return ", ".join(parts)


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
        self._fingerprints: dict[str, tuple[Any, dict[str, Any]]] = {}
        if not self.folder.is_dir():
            raise SourceError(
                f"Landing folder '{self.folder}' does not exist. Create it (producers drop files "
                "there) or fix the path."
            )

    def describe(self) -> dict[str, Any]:
        return {"kind": "landing-folder", "folder": str(self.folder), "columns": self.columns,
                "variable": self.variable}

    # ------------------------------------------------------------------ identity
    def _folder_id(self, create: bool) -> str | None:
        """The id the folder keeps of itself; written (atomically) on first use if ``create``."""
        path = self.folder / LANDING_ID_FILENAME
        try:
            found = path.read_text().strip() or None
        except FileNotFoundError:
            found = None
        if found is not None or not create:
            return found
        folder_id = uuid.uuid4().hex
        atomic_write_bytes(path, f"{folder_id}\n".encode())
        return folder_id

    def _fingerprint(self, name: str) -> dict[str, Any]:
        """Name, size and SHA-256 of an arrived file (or ``.zarr`` folder); cached by size and time."""
        path = self.folder / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        cached = self._fingerprints.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.relative_to(path) if path.is_dir() else name}\n".encode())
            with open(file, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
        fingerprint = {"name": name, "size": sum(size for _, size, _ in stamp), "sha256": digest.hexdigest()}
        self._fingerprints[name] = (stamp, fingerprint)
        return fingerprint

    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The folder's identity after ``batch``: its id, the batch's file, the files' digest."""
        name = batch.position.get("file") or batch.position["done_through"]
        fingerprint = self._fingerprint(name)
        folder_id = self._folder_id(create=True)
        same_history = previous is not None and previous.get("folder_id") == folder_id
        if same_history and (previous.get("file") or {}).get("name") == name:
            files, history = int(previous["files"]), previous["history"]
        else:
            before = previous["history"] if same_history else ""
            files = int(previous["files"]) + 1 if same_history else 1
            history = hashlib.sha256(f"{before}{json.dumps(fingerprint, sort_keys=True)}".encode()).hexdigest()
        return {
            "kind": "landing-folder", "folder": str(self.folder.resolve()), "folder_id": folder_id,
            "files": files, "history": history, "file": fingerprint,
        }

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse a folder that is not the one consumed, or whose current file changed.

        Raises
        ------
        SourceMismatchError
            Another (or a recreated) folder, or the file the stream was in the
            middle of (or just finished, if not yet moved) is gone or changed.
        """
        folder_id = self._folder_id(create=False)
        consumed = recorded.get("file") or {}
        current: dict[str, Any] = {"folder": str(self.folder.resolve()), "folder_id": folder_id}
        problem = None
        if folder_id != recorded.get("folder_id"):
            problem = (
                f"its id ({LANDING_ID_FILENAME}: {folder_id or 'missing'}) is not the one committed "
                f"({recorded.get('folder_id')}): the folder was replaced or recreated"
            )
        else:
            middle = None if position is None else position.get("file")
            name = middle or (None if position is None else position.get("done_through"))
            if name is not None and name == consumed.get("name"):
                present = (self.folder / name).exists()
                if middle is not None and not present:
                    problem = (
                        f"file '{name}', consumed up to row {position['offset']}, is gone from the "
                        "folder before the stream finished it"
                    )
                elif present:
                    current["file"] = self._fingerprint(name)
                    if current["file"] != consumed:
                        problem = f"file '{name}' changed since the stream read it"
        if problem is not None:
            raise SourceMismatchError(
                f"Landing folder '{self.folder}' is not the stream's source any more: {problem}. "
                f"Committed: {_describe_landing(recorded)}; now: {_describe_landing(current)}.",
                recorded, current,
            )

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


def _describe_landing(identity: dict[str, Any]) -> str:
    """One line of a landing-folder identity for messages."""
    parts = [f"folder id {identity.get('folder_id') or 'missing'}"]
    if identity.get("files") is not None:
        parts.append(f"{identity['files']} files consumed (history sha256 {_short(identity.get('history'))})")
    file = identity.get("file")
    if file:
        parts.append(f"file '{file['name']}' {file['size']} bytes sha256 {_short(file['sha256'])}")
    return ", ".join(parts)


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

    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """Standard input has no identity to check: only the lines counted so far."""
        return {"kind": "stdin", "lines": int(batch.position["lines"])}

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Nothing to check: each run reads what is piped to it (see the class docstring)."""

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
