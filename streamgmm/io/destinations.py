"""Where streamgmm may write: the rules every writer follows, in one place.

Three promises (see the design notes, "Reliability promises"):

1. **An output never touches an input.** :func:`check_outside_inputs` refuses a
   target that *is*, *contains* or *lies inside* any input of the same run. Paths
   are compared after ``~`` expansion, making them absolute and resolving symlinks
   (``os.path.realpath``), and, where both exist, by file identity (device and
   inode) along their parent chains, so a hard link, a bind mount or a second
   spelling of the same folder is caught too. URLs are compared after
   normalisation (scheme and host lower-cased, the path normalised, no trailing
   ``/``); a ``file://`` URL is the local path it names.

2. **``overwrite`` replaces only what streamgmm wrote, as the same kind.** Every
   writer leaves a marker in the folder it creates, recording the kind of output
   (one of :data:`OUTPUT_KINDS`): a small file, :data:`MARKER_FILENAME`, or, in
   a Zarr group, the group attribute :data:`MARKER_ATTRIBUTE` (zarr warns about
   any foreign file in a group it lists, so Zarr outputs carry the marker in
   their own metadata).
   :func:`check_replaceable` (outputs replaced whole: predictions, datagen
   datasets) and :func:`check_reusable` (folders written into run after run:
   registry, checkpoint, stream state, stream scores, reports) refuse anything
   else, even with ``overwrite``: a user's folder, a Zarr store streamgmm did not
   write, or streamgmm output of another kind.

   Outputs written by earlier versions carry no marker. Each writer may pass a
   ``legacy`` test that recognises *its own* old layout strictly (e.g. a
   predictions group holds exactly the arrays and attributes the old writer
   wrote); such an output is treated as marked. Anything that fails the test is
   refused with the way out "delete it yourself or choose a new path": losing a
   user's data to a guess is worse than one more manual step. What each writer
   recognises (and then marks when it next writes):

   ============  =============================================================
   predictions   a Zarr group with exactly the old writer's attributes and arrays
                 (:func:`streamgmm.drivers.predictions.is_legacy_predictions`)
   registry      a folder holding only ``models/``
   checkpoint    a folder holding only ``fit-checkpoint.npz`` (and its temporaries)
   stream-state  a folder holding ``runner-state.npz`` or ``batches.csv``
   scores        a Zarr group holding only the stream score arrays
   report        a folder holding only ``*.png`` files
   datagen       a folder holding the generator's ``_true_params.npz``
   ============  =============================================================

   An empty folder is adopted by every writer.

3. **Checked for real before any work.** :func:`probe_writable` creates the
   missing folders and writes, flushes and deletes a probe file, so a parent
   that is a plain file, a read-only folder or file system, a full disk or a
   file-size limit is found before a fit starts, not after it.

Every error is a :class:`DestinationError` naming the path, the config key
(``key``) where known, and the way out.

This module depends on the standard library, :mod:`streamgmm.core.errors` and
:mod:`streamgmm.io.atomic` only, so every writer (the registry included) can use
it without pulling in readers or Dask.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.errors import StreamGMMError
from .atomic import atomic_write_bytes

__all__ = [
    "LegacyTest",
    "NamedInput",
    "MARKER_ATTRIBUTE",
    "MARKER_FILENAME",
    "OUTPUT_KINDS",
    "DestinationError",
    "check_outside_inputs",
    "check_replaceable",
    "check_reusable",
    "folder_entries",
    "legacy_files",
    "local_path",
    "marker_record",
    "normalise_location",
    "prepare_output_folder",
    "probe_writable",
    "read_marker",
    "remove_created",
    "write_marker",
]

#: The marker file every streamgmm writer leaves in the folder it creates.
MARKER_FILENAME = ".streamgmm-output.json"
#: The same record as a Zarr group attribute (``zarr.json`` or ``.zattrs``).
MARKER_ATTRIBUTE = "streamgmm_output"
#: The kinds of output; ``overwrite`` never turns one kind into another.
OUTPUT_KINDS = frozenset(
    {"predictions", "scores", "registry", "checkpoint", "stream-state", "report", "datagen", "dead-letters"}
)
_MARKER_SCHEMA_VERSION = 1
_WRITER = "streamgmm"

#: ``legacy(path) -> bool``: whether ``path`` is an unmarked output of this kind by an earlier version.
LegacyTest = Callable[[Path], bool]
#: ``(key, location)``: an input of a run and the config key it came from (None: no key).
NamedInput = tuple[str | None, Any]


class DestinationError(StreamGMMError, ValueError):
    """A destination cannot be used: it overlaps an input, is not ours to replace, or is unwritable.

    Attributes
    ----------
    path : str
        The destination as given.
    key : str or None
        The config key it came from, where known.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str], key: str | None = None) -> None:
        self.path = str(path)
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


# ============================================================================ locations
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _is_url(text: str) -> bool:
    # The rule of streamgmm.config.paths.is_url, repeated: importing the config
    # package from here would run the registry's import of this module in a cycle.
    return bool(_URL.match(text))


def normalise_location(location: str | os.PathLike[str]) -> str:
    """The canonical spelling of a path or URL, for comparing destinations with inputs.

    Parameters
    ----------
    location : str or path-like
        A local path (relative to the working directory, ``~`` allowed) or a URL.

    Returns
    -------
    str
        A local path: absolute, symlinks resolved (as far as it exists), normalised.
        A URL: ``scheme://host/path`` with scheme and host lower-cased, the path
        normalised and without a trailing ``/``. ``file://`` URLs become local paths.
    """
    text = os.fspath(location)
    if _is_url(text):
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme == "file" and parts.netloc in ("", "localhost"):
            return normalise_location(unquote(parts.path) or "/")
        # normpath keeps a leading "//" (POSIX allows it); in a URL it is one "/".
        path = posixpath.normpath("/" + parts.path.lstrip("/")) if parts.path else ""
        path = "" if path in (".", "/") else path.rstrip("/")
        return f"{scheme}://{parts.netloc.lower()}{path}"
    return os.path.realpath(os.path.abspath(os.path.expanduser(text)))


def local_path(location: str | os.PathLike[str]) -> str | None:
    """The local path of ``location`` (a path or a ``file://`` URL); None for other URLs."""
    text = os.fspath(location)
    if not _is_url(text):
        return text
    normalised = normalise_location(text)
    return None if _is_url(normalised) else normalised


def _chain(path: str) -> list[str]:
    """``path`` and its parents, nearest first."""
    chain = [path]
    while True:
        parent = os.path.dirname(chain[-1])
        if parent == chain[-1]:
            return chain
        chain.append(parent)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _relation(target: str, source: str) -> str | None:
    """How normalised ``target`` relates to normalised ``source``: "is", "contains", "inside", None."""
    if target == source:
        return "is"
    if _is_url(target) != _is_url(source):
        return None
    sep = "/" if _is_url(target) else os.sep
    if source.startswith(target.rstrip(sep) + sep):
        return "contains"
    if target.startswith(source.rstrip(sep) + sep):
        return "inside"
    if _is_url(target):
        return None
    # Another spelling of the same folder (bind mount, hard link, case-insensitive
    # file system): compare identities along both parent chains.
    for i, ancestor in enumerate(_chain(source)):
        if _same_file(ancestor, target):
            return "is" if i == 0 else "contains"
    for ancestor in _chain(target)[1:]:
        if _same_file(ancestor, source):
            return "inside"
    return None


def _shown(location: Any, normalised: str) -> str:
    text = os.fspath(location)
    return f"'{text}'" if text == normalised else f"'{text}' (that is '{normalised}')"


def check_outside_inputs(
    target: str | os.PathLike[str],
    inputs: Iterable[NamedInput],
    *,
    key: str | None = None,
    role: str = "input",
) -> None:
    """Refuse a ``target`` that is, contains or lies inside any of ``inputs``.

    Parameters
    ----------
    target : str or path-like
        Where the run will write.
    inputs : iterable of (key or None, location)
        What the run reads; locations that are not paths or URLs (in-memory
        arrays, None) are skipped.
    key : str, optional
        The config key of ``target`` (for the message).
    role : {"input", "output"}
        "output" checks ``target`` against the run's *other* outputs instead: two
        outputs of one run must not overlap either.

    Raises
    ------
    DestinationError
        Naming both paths, their keys and the way out.
    """
    resolved = normalise_location(target)
    for input_key, location in inputs:
        if not isinstance(location, (str, os.PathLike)) or not os.fspath(location):
            continue
        source = normalise_location(location)
        relation = _relation(resolved, source)
        if relation is None:
            continue
        what = f"the {role} {input_key}" if input_key else f"the {role}"
        verb = {"is": "is", "contains": "contains", "inside": "lies inside"}[relation]
        if role == "input":
            why = ("writing there could destroy the input. Choose an output path that neither "
                   "is, contains nor lies inside an input (overwrite never allows this).")
        else:
            why = "two outputs of one run must not overlap. Give each output a path of its own."
        raise DestinationError(
            f"the output {_shown(target, resolved)} {verb} {what} {_shown(location, source)}; {why}",
            path=target, key=key,
        )


# ============================================================================ markers
def _library_version() -> str:
    try:
        return _metadata.version("streamgmm")
    except _metadata.PackageNotFoundError:
        return "unknown"


def marker_record(kind: str) -> dict[str, Any]:
    """The marker's content for ``kind`` (one of :data:`OUTPUT_KINDS`), JSON data."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"kind={kind!r}: choose one of {', '.join(sorted(OUTPUT_KINDS))}")
    return {
        "schema_version": _MARKER_SCHEMA_VERSION,
        "written_by": _WRITER,
        "kind": kind,
        "streamgmm_version": _library_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_marker(folder: str | os.PathLike[str], kind: str) -> Path:
    """Leave the marker file of ``kind`` in ``folder`` (atomically); its path.

    Parameters
    ----------
    folder : str or path-like
        An existing folder streamgmm has just created (or adopted, see :func:`check_reusable`).
        A Zarr group carries :func:`marker_record` in its attribute
        :data:`MARKER_ATTRIBUTE` instead.
    kind : str
        One of :data:`OUTPUT_KINDS`.
    """
    record = marker_record(kind)
    path = Path(folder) / MARKER_FILENAME
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def _zarr_attribute(folder: Path) -> Any:
    """The marker attribute of a Zarr group at ``folder`` (v3 or v2 metadata), None if absent."""
    for name, nested in (("zarr.json", True), (".zattrs", False)):
        try:
            document = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict):
            continue
        attributes = document.get("attributes", {}) if nested else document
        if isinstance(attributes, dict) and MARKER_ATTRIBUTE in attributes:
            return attributes[MARKER_ATTRIBUTE]
    return None


def read_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of ``folder`` (its file, else its Zarr group attribute); None when there is none.

    An unreadable or foreign marker gives ``{"kind": None, "problem": ...}``,
    which no writer accepts as its own.
    """
    path = Path(folder) / MARKER_FILENAME
    try:
        record: Any = json.loads(path.read_text())
    except FileNotFoundError:
        record = _zarr_attribute(Path(folder))
        if record is None:
            return None
        path = Path(folder) / f"zarr attribute {MARKER_ATTRIBUTE!r}"
    except OSError as exc:
        return {"kind": None, "problem": f"{path} cannot be read ({exc.strerror or exc})"}
    except ValueError:
        return {"kind": None, "problem": f"{path} is not valid JSON"}
    if not isinstance(record, dict) or record.get("written_by") != _WRITER:
        return {"kind": None, "problem": f"{path} was not written by streamgmm"}
    return record


_PROBE_PREFIX = ".streamgmm-probe-"


def _ours(name: str) -> bool:
    """The marker, or a probe or marker being written right now (by another process, too)."""
    return name == MARKER_FILENAME or name.startswith((_PROBE_PREFIX, f".{MARKER_FILENAME}-"))


def folder_entries(folder: str | os.PathLike[str]) -> list[str]:
    """Names in ``folder``, sorted, without the marker and the probes of this module.

    Raises
    ------
    OSError
        The folder cannot be listed.
    """
    return sorted(name for name in os.listdir(folder) if not _ours(name))


def legacy_files(*patterns: str) -> LegacyTest:
    """A legacy test: the folder holds only files (no folders) matching ``patterns``, at least one.

    For writers whose earlier output is a folder of known file names, e.g.
    ``legacy_files("fit-checkpoint.npz")`` or ``legacy_files("*.png")``.
    """

    def test(folder: Path) -> bool:
        try:
            names = folder_entries(folder)
        except OSError:
            return False
        return bool(names) and all(
            (folder / name).is_file() and any(fnmatch.fnmatchcase(name, p) for p in patterns)
            for name in names
        )

    return test


def _marker_kind(folder: Path, kind: str, key: str | None, legacy: LegacyTest | None) -> str:
    """"marked", "legacy" or "empty" for a folder that may be used as ``kind``; raises otherwise."""
    marker = read_marker(folder)
    if marker is not None:
        if marker.get("kind") == kind:
            return "marked"
        if marker.get("kind") is None:
            raise DestinationError(
                f"'{folder}' holds a streamgmm marker that cannot be trusted "
                f"({marker['problem']}), so streamgmm will not write there. Delete the folder "
                "yourself if it is disposable, or choose a new path.",
                path=folder, key=key,
            )
        raise DestinationError(
            f"'{folder}' was written by streamgmm as {marker['kind']} output, not as {kind}; "
            f"streamgmm does not replace one kind of output with another. Choose another path "
            "for this output.",
            path=folder, key=key,
        )
    try:
        entries = folder_entries(folder)
    except OSError as exc:
        raise DestinationError(
            f"'{folder}' cannot be listed ({exc.strerror or exc}); choose a folder you can read "
            "and write.",
            path=folder, key=key,
        ) from exc
    if not entries:
        return "empty"
    if legacy is not None and legacy(folder):
        return "legacy"
    shown = ", ".join(repr(e) for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise DestinationError(
        f"'{folder}' exists and holds files streamgmm did not write as {kind} output ({shown}; "
        f"no {MARKER_FILENAME} marker), so streamgmm will not write there, even with "
        "overwrite. Choose a new path, or delete the folder yourself if it is disposable.",
        path=folder, key=key,
    )


def check_replaceable(
    target: str | os.PathLike[str],
    kind: str,
    *,
    overwrite: bool,
    key: str | None = None,
    overwrite_hint: str = "pass overwrite=True",
    legacy: LegacyTest | None = None,
) -> None:
    """Check that an output replaced whole (predictions, a dataset) may be written at ``target``.

    A missing target is fine unless a parent is a plain file. An existing one needs
    ``overwrite`` *and* the marker
    of the same ``kind`` (or, for output of earlier versions, ``legacy(target)``);
    an empty folder may be replaced too. Symbolic links are never replaced: the
    rename would swap the link, not what it points to.

    Parameters
    ----------
    target : str or path-like
    kind : str
        One of :data:`OUTPUT_KINDS`.
    overwrite : bool
    key : str, optional
        Config key of ``target``, for the message.
    overwrite_hint : str
        How the caller allows replacing (``"set outputs.overwrite: true"``).
    legacy : callable, optional
        Recognises this writer's unmarked output of earlier versions.

    Raises
    ------
    DestinationError
    """
    path = Path(target)
    if not (path.exists() or path.is_symlink()):
        _missing_chain(Path(os.path.abspath(path)), key)  # not under a plain file
        return
    if not overwrite:
        raise DestinationError(
            f"'{path}' already exists; {overwrite_hint} to replace it, or choose another path.",
            path=path, key=key,
        )
    if path.is_symlink():
        raise DestinationError(
            f"'{path}' is a symbolic link (to '{os.path.realpath(path)}'); streamgmm does not "
            "replace links. Remove the link yourself or choose another path.",
            path=path, key=key,
        )
    if not path.is_dir():
        raise DestinationError(
            f"'{path}' is a file streamgmm did not write; it is not replaced, even with "
            "overwrite. Choose another path, or delete it yourself if it is disposable.",
            path=path, key=key,
        )
    _marker_kind(path, kind, key, legacy)


def check_reusable(
    folder: str | os.PathLike[str],
    kind: str,
    *,
    key: str | None = None,
    legacy: LegacyTest | None = None,
) -> None:
    """Check that streamgmm may write ``kind`` output into ``folder``, run after run.

    Fine: a missing folder, an empty one, one with the marker of ``kind``, or (for
    earlier versions' output) one that ``legacy`` recognises. Refused: a plain
    file (or a missing folder under one), a folder with another kind's marker or
    with files streamgmm did not write.

    Raises
    ------
    DestinationError
    """
    path = Path(folder)
    if not (path.exists() or path.is_symlink()):
        _missing_chain(Path(os.path.abspath(path)), key)  # not under a plain file
        return
    if not path.is_dir():
        raise DestinationError(
            f"'{path}' is a plain file, not a folder; choose another path for the {kind} output.",
            path=path, key=key,
        )
    _marker_kind(path, kind, key, legacy)


# ============================================================================ probing
def _missing_chain(path: Path, key: str | None) -> list[str]:
    """The missing folders down to ``path``, deepest first; refuses a plain file on the way."""
    missing = []
    for existing in _chain(str(path)):
        if os.path.lexists(existing):
            break
        missing.append(existing)
    if not os.path.isdir(existing):
        where = f"'{path}' is" if existing == str(path) else f"'{path}' lies under '{existing}', which is"
        raise DestinationError(
            f"{where} a plain file, not a folder, so nothing can be written there. Choose "
            "another path, or move that file away.",
            path=path, key=key,
        )
    return missing


def probe_writable(folder: str | os.PathLike[str], *, key: str | None = None) -> list[Path]:
    """Create ``folder`` (and missing parents), then write, flush and delete a probe file in it.

    Returns
    -------
    list of Path
        The folders this call created, deepest first (for :func:`remove_created`
        when a later check fails).

    Raises
    ------
    DestinationError
        A parent is a plain file; the folder cannot be created; or a byte cannot be
        written there (read-only, full disk, file-size limit). The message names the
        path, the cause and the way out. Folders created by the call are removed.
    """
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
    missing = [Path(p) for p in _missing_chain(path, key)]
    try:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(
                f"the folder '{path}' cannot be created ({exc.strerror or exc}). Choose a place "
                "you can write to, or create it with the right permissions.",
                path=path, key=key,
            ) from exc
        try:
            handle, probe = tempfile.mkstemp(dir=path, prefix=_PROBE_PREFIX)
        except OSError as exc:
            raise DestinationError(
                f"nothing can be written in '{path}' ({exc.strerror or exc}). Choose a place you "
                "can write to, or fix its permissions.",
                path=path, key=key,
            ) from exc
        try:
            # One real byte, flushed: a full disk or a file-size limit shows only on writing.
            os.write(handle, b"\0")
            os.fsync(handle)
        except OSError as exc:
            raise DestinationError(
                f"writing in '{path}' failed ({exc.strerror or exc}): the disk may be full, a "
                "file size limit set, or the file system read-only. Free space or choose another "
                "place.",
                path=path, key=key,
            ) from exc
        finally:
            os.close(handle)
            os.unlink(probe)
    except DestinationError:
        remove_created(missing)
        raise
    return missing


def remove_created(folders: Iterable[Path]) -> None:
    """Remove folders a probe created (deepest first), as long as they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # gone, or no longer empty: someone uses it now
            pass


def prepare_output_folder(
    folder: str | os.PathLike[str],
    kind: str,
    *,
    key: str | None = None,
    legacy: LegacyTest | None = None,
    mark: bool = True,
) -> Path:
    """Make ``folder`` ready for ``kind`` output written run after run; the folder.

    :func:`check_reusable`, then :func:`probe_writable` (which creates it), then the
    marker file is written if there is no marker (a new or empty folder, or a
    recognised earlier-version one, is thereby adopted). ``mark=False`` leaves the
    marking to the caller (a Zarr group, marked in its attributes).
    """
    check_reusable(folder, kind, key=key, legacy=legacy)
    probe_writable(folder, key=key)
    path = Path(folder)
    if mark and read_marker(path) is None:
        write_marker(path, kind)
    return path
