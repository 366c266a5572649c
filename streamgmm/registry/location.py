"""Where the model registry is: one rule for every command and config.

The registry root is, in this order:

1. the root given explicitly: ``--root`` / ``--registry`` on the command line, or
   the ``registry.root`` key of a job config;
2. the environment variable ``STREAMGMM_REGISTRY`` (a path relative to the working
   directory, or a URL);
3. the default: the folder ``registry`` in the working directory for the commands
   without a config (``streamgmm models ...``, ``streamgmm fit DATA ...``), beside the
   config file for a config without the key. The main job
   (``configs/batch_fit.yaml``, ``root: ../registry``) writes ``registry/`` at the
   repository root, so ``streamgmm models list`` run from there finds it.

The commands say where the registry was found when it was not given explicitly
(unless ``--quiet``). A command that reads a registry refuses a local root that
does not exist, naming the path, where it came from and the way out; a fit creates
the registry with its first publish.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamgmm.io.destinations import local_path

from .errors import RegistryError

__all__ = [
    "DEFAULT_ROOT",
    "ROOT_ENVIRONMENT_VARIABLE",
    "RegistryLocation",
    "RegistryNotFoundError",
    "locate_registry",
    "require_registry",
]

#: The environment variable naming the registry when no root is given explicitly.
ROOT_ENVIRONMENT_VARIABLE = "STREAMGMM_REGISTRY"
#: The registry folder used when neither a root nor the environment variable is given.
DEFAULT_ROOT = "registry"


class RegistryNotFoundError(RegistryError, FileNotFoundError):
    """A local registry root does not exist (or is not a folder)."""


@dataclass(frozen=True)
class RegistryLocation:
    """A registry root and how it was found.

    Attributes
    ----------
    root : str
        An absolute local path, or a URL as given.
    origin : str
        Where it came from, in words for messages (``--root``, ``$STREAMGMM_REGISTRY``,
        ``the default 'registry' folder in /work``).
    explicit : bool
        Given by a flag or a config key (nothing to announce).
    """

    root: str
    origin: str
    explicit: bool

    def announcement(self, choose: str = "--root PATH") -> str:
        """The line a command prints when the root was not given explicitly.

        ``choose`` names the way to give another root (a flag or a config key).
        """
        return f"registry: {self.root} (from {self.origin}; {choose} chooses another)"


def _absolute(root: str, base: Path) -> str:
    """A local path made absolute against ``base`` (``~`` expanded); a URL as it is."""
    if "://" in root:
        return root
    path = Path(root).expanduser()
    return os.path.normpath(path if path.is_absolute() else base / path)


def locate_registry(
    given: str | os.PathLike[str] | None = None,
    *,
    given_by: str = "--root",
    default_base: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RegistryLocation:
    """The registry root: ``given``, else ``$STREAMGMM_REGISTRY``, else ``registry``.

    Parameters
    ----------
    given : path or URL, optional
        The root given explicitly (relative paths: to the working directory).
    given_by : str, default "--root"
        What gave it (a flag or a config key), for messages.
    default_base : path, optional
        The folder holding the default ``registry`` folder; default the working
        directory (a config passes its own folder).
    environ : mapping, optional
        The environment (default ``os.environ``).

    Returns
    -------
    RegistryLocation
    """
    cwd = Path.cwd()
    if given is not None and os.fspath(given):
        return RegistryLocation(_absolute(os.fspath(given), cwd), given_by, explicit=True)
    value = (os.environ if environ is None else environ).get(ROOT_ENVIRONMENT_VARIABLE)
    if value:
        return RegistryLocation(
            _absolute(value, cwd), f"${ROOT_ENVIRONMENT_VARIABLE}", explicit=False
        )
    base = Path(default_base) if default_base is not None else cwd
    return RegistryLocation(
        os.path.normpath(base.absolute() / DEFAULT_ROOT),
        f"the default '{DEFAULT_ROOT}' folder in {base.absolute()}",
        explicit=False,
    )


def require_registry(location: RegistryLocation) -> RegistryLocation:
    """``location``, if a registry can be there: a local root must be an existing folder.

    Reading an absent folder would list nothing, so a mistyped root would look
    like an empty registry. URL roots are taken as they are (an object store has
    no folders to check).

    Raises
    ------
    RegistryNotFoundError
        Naming the path, where it came from and the ways out.
    """
    path = local_path(location.root)
    if path is None or Path(path).is_dir():
        return location
    problem = "is not a folder" if Path(path).exists() else "does not exist"
    raise RegistryNotFoundError(
        f"no model registry at {path}: the path {problem} (it came from {location.origin}). "
        "A registry is created by its first publish: run a fit first (streamgmm fit DATA "
        "--n-components K, or streamgmm fit CONFIG), or point at an existing registry with "
        f"--root PATH or {ROOT_ENVIRONMENT_VARIABLE}=PATH."
    )
