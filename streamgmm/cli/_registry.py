"""Saying where a command's registry is, when the user did not name it.

Every command finds the registry with :func:`~streamgmm.registry.location.locate_registry`
(``--root``/``--registry`` or the config's ``registry.root``, then ``$STREAMGMM_REGISTRY``,
then ``registry`` in the working directory or beside the config). A job config
without ``registry.root`` got its root from the same function when it was
validated; :func:`config_registry_location` says how, so that the command can
print it (on stderr, not with ``--quiet``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..registry.location import RegistryLocation, locate_registry

__all__ = ["announce", "announce_config", "announce_config_registry", "config_registry_location"]


def config_registry_location(config: Any, config_path: str) -> RegistryLocation | None:
    """Where a validated job config's registry is and how it was found; None without one."""
    section = getattr(config, "registry", None)
    if section is None:
        return None
    if "root" in section.model_fields_set:
        return RegistryLocation(section.root, f"registry.root in {config_path}", explicit=True)
    found = locate_registry(default_base=Path(config_path).expanduser().resolve().parent)
    # The config was validated with the same rule: the same root.
    return RegistryLocation(section.root, found.origin, explicit=False)


def announce(
    location: RegistryLocation | None, *, quiet: bool, choose: str = "--root PATH"
) -> None:
    """Print where the registry was found, unless it was given explicitly or ``quiet``."""
    if location is not None and not location.explicit and not quiet:
        print(location.announcement(choose), file=sys.stderr)


def announce_config_registry(config_path: str, kind: str, *, quiet: bool) -> None:
    """:func:`announce` for the config file of a job of ``kind`` (silent if it is invalid:
    the command reports that itself)."""
    if quiet:
        return
    try:
        config = load_config(config_path, kind=kind)
    except ConfigError:
        return
    announce_config(config, config_path, quiet=quiet)


def announce_config(config: Any, config_path: str, *, quiet: bool) -> None:
    """:func:`announce` for a validated job config read from ``config_path``."""
    announce(config_registry_location(config, config_path), quiet=quiet,
             choose="registry.root in the config")
