"""Where things are inside a registry, and the reads every operation shares.

::

    <root>/models/<name>/
        1/ 2/ 3/ ...         one folder per visible version: metadata.json, parameters.npz
        aliases.json         latest, production, ...
        .lock                the model's flock file (see locking.py)
        .staging/<id>/       versions being written; invisible; stale ones removed by gc
        .trash/<n>.<id>/     versions being deleted by gc; invisible

A version is visible exactly when ``<name>/<n>/`` exists, and it comes into
existence whole, by one ``rename`` of a complete staging folder.
"""

from __future__ import annotations

from .aliases import ALIASES_FILENAME, AliasRecord, parse_aliases
from .names import version_from_dirname
from .storage import FsspecStore, LocalStore

__all__ = [
    "LOCK_FILENAME",
    "MODELS_DIRNAME",
    "STAGING_DIRNAME",
    "TRASH_DIRNAME",
    "list_versions",
    "next_version",
    "read_aliases",
]

MODELS_DIRNAME = "models"
STAGING_DIRNAME = ".staging"
TRASH_DIRNAME = ".trash"
LOCK_FILENAME = ".lock"


def list_versions(store: LocalStore | FsspecStore, name: str) -> list[int]:
    """Visible version numbers of model ``name``, ascending (empty if there are none)."""
    numbers = (version_from_dirname(entry) for entry in store.list_dir(MODELS_DIRNAME, name))
    return sorted(number for number in numbers if number is not None)


def read_aliases(store: LocalStore | FsspecStore, name: str) -> dict[str, AliasRecord]:
    """The verified aliases of model ``name`` (empty if it has none yet)."""
    try:
        data = store.read_bytes(MODELS_DIRNAME, name, ALIASES_FILENAME)
    except FileNotFoundError:
        return {}
    return parse_aliases(
        data, name=name, source=store.describe(MODELS_DIRNAME, name, ALIASES_FILENAME)
    )


def next_version(versions: list[int], aliases: dict[str, AliasRecord]) -> int:
    """The number the next publish gets: one past every number in use.

    Aliases count too: ``latest`` always names the newest version and gc never
    removes an aliased one, so numbers are never reused even after gc.
    """
    used = [*versions, *(record.version for record in aliases.values())]
    return max(used, default=0) + 1
