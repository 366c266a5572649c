"""JSON values as immutable Python values, and the canonical form that is hashed.

Metadata holds caller-given dictionaries (training config, data source, stream
positions). They are checked once, at the boundary, and frozen — dicts become
read-only mappings and lists become tuples — so a published ``ModelMetadata``
cannot be changed by mutating the dict it was built from.

Every JSON document the registry writes carries ``content_sha256``: the sha256
of the document's canonical JSON (sorted keys, no whitespace, ASCII, no NaN)
without that key. Python's float repr round-trips exactly, so parsing a document
and re-serialising it canonically reproduces the hashed bytes; any edit or
flipped byte shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.errors import ArtifactIntegrityError, UnsupportedSchemaVersionError

__all__ = [
    "CHECKSUM_KEY",
    "canonical_json",
    "content_checksum",
    "freeze_json",
    "read_document",
    "sha256_hex",
    "thaw_json",
    "with_checksum",
]

#: Key under which a document stores the checksum of its own other keys.
CHECKSUM_KEY = "content_sha256"

JsonValue = Any  # None | bool | int | float | str | tuple[JsonValue, ...] | Mapping[str, JsonValue]


def freeze_json(value: Any, where: str) -> JsonValue:
    """Check that ``value`` is JSON data and return it deeply immutable.

    Parameters
    ----------
    value : object
        Nested dicts (string keys), lists/tuples, strings, finite numbers,
        booleans and None. numpy scalars and arrays are converted to Python
        numbers and nested tuples, and path-like objects to strings, as a
        convenience.
    where : str
        What the value is (e.g. ``"training_config"``), used in error messages.

    Returns
    -------
    object
        The same data with mappings as ``MappingProxyType`` and sequences as tuples.

    Raises
    ------
    InvalidParameterError
        Naming the key path of the first value that JSON cannot represent.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(
                f"{where} is {value!r}, which JSON cannot represent; pass None for a missing value."
            )
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return freeze_json(value.tolist(), where)
    if isinstance(value, Mapping):
        frozen: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidParameterError(
                    f"{where} has the key {key!r} of type {type(key).__name__}; JSON keys must be "
                    "strings."
                )
            frozen[key] = freeze_json(item, f"{where}[{key!r}]")
        return MappingProxyType(frozen)
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(item, f"{where}[{i}]") for i, item in enumerate(value))
    raise InvalidParameterError(
        f"{where} is a {type(value).__name__}, which cannot be stored as JSON; pass plain "
        "strings, numbers, booleans, None, lists and dicts (e.g. str(obj) or obj.tolist())."
    )


def thaw_json(value: JsonValue) -> Any:
    """Inverse of :func:`freeze_json`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {key: thaw_json(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw_json(item) for item in value]
    return value


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The one byte string a JSON document hashes as (sorted keys, compact, ASCII)."""
    return json.dumps(
        thaw_json(document),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def content_checksum(document: Mapping[str, Any]) -> str:
    """Checksum of a document's keys other than :data:`CHECKSUM_KEY`."""
    return sha256_hex(canonical_json({k: v for k, v in document.items() if k != CHECKSUM_KEY}))


def with_checksum(document: Mapping[str, Any]) -> bytes:
    """Serialise ``document`` for a file: indented for people, checksum appended.

    Returns
    -------
    bytes
        UTF-8 JSON ending in a newline, keys in the given order, with
        ``content_sha256`` last.
    """
    plain = {k: thaw_json(v) for k, v in document.items() if k != CHECKSUM_KEY}
    plain[CHECKSUM_KEY] = content_checksum(plain)
    return (json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def read_document(
    data: bytes, *, source: str, supported_schema: int, remedy: str
) -> dict[str, Any]:
    """Parse and verify one of the registry's JSON documents.

    The checks run in this order, so that each failure gets the right advice:
    valid UTF-8 JSON object; a ``schema_version`` this code can read (a newer
    one is not corruption, it needs a newer streamgmm); then the content checksum.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    source : str
        Path or URL of the file, named in every error.
    supported_schema : int
        Highest ``schema_version`` this code reads.
    remedy : str
        What the user can do if the file is corrupted.

    Returns
    -------
    dict
        The document without ``content_sha256``.

    Raises
    ------
    ArtifactIntegrityError
        If the file is not a JSON object or its checksum does not match.
    UnsupportedSchemaVersionError
        If ``schema_version`` is missing, not an integer, or outside ``1..supported_schema``.
    """
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactIntegrityError(
            f"{source} is not valid JSON ({exc}): the file is corrupted or truncated. {remedy}"
        ) from exc
    if not isinstance(document, dict):
        raise ArtifactIntegrityError(
            f"{source} holds a JSON {type(document).__name__}, not an object. {remedy}"
        )
    schema_version = document.get("schema_version")
    if type(schema_version) is not int or schema_version < 1:
        raise UnsupportedSchemaVersionError(
            f"{source} has schema_version={schema_version!r}; expected an integer from 1 to "
            f"{supported_schema}. The file is corrupted or was not written by streamgmm. {remedy}"
        )
    if schema_version > supported_schema:
        raise UnsupportedSchemaVersionError(
            f"{source} has schema_version={schema_version}, newer than this streamgmm reads "
            f"(up to {supported_schema}): it was written by a newer streamgmm. Upgrade streamgmm "
            "(pip install -U streamgmm) to read it."
        )
    recorded = document.pop(CHECKSUM_KEY, None)
    if recorded is None:
        raise ArtifactIntegrityError(f"{source} has no {CHECKSUM_KEY!r} key. {remedy}")
    actual = content_checksum(document)
    if recorded != actual:
        raise ArtifactIntegrityError(
            f"{source} was altered after it was written: its content hashes to {actual} but it "
            f"records {CHECKSUM_KEY}={recorded!r}. {remedy}"
        )
    return document
