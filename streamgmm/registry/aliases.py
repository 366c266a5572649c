"""``aliases.json``: the named pointers of a model (``latest``, ``production``, ...).

One small document per model, replaced whole with ``os.replace`` (readers see
the old or the new file, never a mix), and only under the model's lock (so two
writers never lose each other's update). Like ``metadata.json`` it carries a
``content_sha256``, so a flipped byte cannot silently repoint an alias::

    {"schema_version": 1, "name": "speech",
     "aliases": {"latest": {"version": 7, "updated_at": "2026-...Z"}, ...},
     "content_sha256": "..."}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.errors import ArtifactIntegrityError

from .jsonvalues import read_document, with_checksum
from .metadata import format_timestamp, parse_timestamp
from .names import check_alias

__all__ = [
    "ALIASES_FILENAME",
    "ALIASES_SCHEMA_VERSION",
    "AliasRecord",
    "encode_aliases",
    "parse_aliases",
]

ALIASES_FILENAME = "aliases.json"
ALIASES_SCHEMA_VERSION = 1

_REMEDY = (
    "The model versions themselves are unaffected: remove this file, then set the aliases "
    "again with `promote` ('latest' falls back to the newest version until the next publish)."
)


@dataclass(frozen=True, kw_only=True)
class AliasRecord:
    """Where an alias points and since when.

    Parameters
    ----------
    version : int
        The version number it names.
    updated_at : datetime
        When it was last set (UTC).
    """

    version: int
    updated_at: datetime


def encode_aliases(name: str, aliases: Mapping[str, AliasRecord]) -> bytes:
    """The bytes of ``aliases.json`` for model ``name``."""
    return with_checksum(
        {
            "schema_version": ALIASES_SCHEMA_VERSION,
            "name": name,
            "aliases": {
                alias: {
                    "version": record.version,
                    "updated_at": format_timestamp(record.updated_at),
                }
                for alias, record in sorted(aliases.items())
            },
        }
    )


def parse_aliases(data: bytes, *, name: str, source: str) -> dict[str, AliasRecord]:
    """Read and verify the bytes of an ``aliases.json``.

    Raises
    ------
    ArtifactIntegrityError
        If the file is corrupted, fails its checksum, or belongs to another model.
    UnsupportedSchemaVersionError
        If it was written with a newer schema.
    """
    document = read_document(
        data, source=source, supported_schema=ALIASES_SCHEMA_VERSION, remedy=_REMEDY
    )
    try:
        return _aliases_from_document(document, name)
    except (InvalidParameterError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactIntegrityError(f"{source} is malformed: {exc}. {_REMEDY}") from exc


def _aliases_from_document(document: dict[str, Any], name: str) -> dict[str, AliasRecord]:
    if document["name"] != name:
        raise ValueError(f"it belongs to model {document['name']!r}, not {name!r}")
    records = {}
    for alias, entry in document["aliases"].items():
        check_alias(alias, allow_latest=True)
        version = entry["version"]
        if type(version) is not int or version < 1:
            raise ValueError(f"alias {alias!r} has version {version!r}")
        records[alias] = AliasRecord(
            version=version, updated_at=parse_timestamp(entry["updated_at"])
        )
    return records
