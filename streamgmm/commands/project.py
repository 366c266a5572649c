"""Where the Prefect flows are: the ``flows/`` folder of a streamgmm checkout.

The flows are orchestration that lives in the repository (deployments name them
by file, ``flows/batch_fit.py:batch_fit``), not in the installed package. The
commands find the checkout and import its ``flows`` folder as the package
``flows`` from that exact location, without adding anything to ``sys.path``:

1. the checkout the installed ``streamgmm`` package lives in (the editable
   install that ``bash .ci/setup`` makes), so the flows match the library;
2. else the working directory or one of its parents (a checkout used with a
   ``streamgmm`` installed from a wheel).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from streamgmm.core.errors import StreamGMMError

__all__ = ["FLOWS_PACKAGE", "ProjectNotFoundError", "find_project_root", "import_flow_module"]

#: Name of the flows package, and of its folder at the root of a checkout.
FLOWS_PACKAGE = "flows"


class ProjectNotFoundError(StreamGMMError, LookupError):
    """No streamgmm checkout (a folder with ``flows/__init__.py``) was found."""


def _is_project(folder: Path) -> bool:
    return (folder / FLOWS_PACKAGE / "__init__.py").is_file()


def find_project_root(start: Path | None = None) -> Path:
    """The root of the streamgmm checkout whose flows the commands run.

    Parameters
    ----------
    start : Path, optional
        Where to start looking upwards when the installed package is not in a
        checkout; default the working directory.

    Raises
    ------
    ProjectNotFoundError
        Neither the installed package's folder nor ``start`` and its parents hold
        ``flows/``.
    """
    import streamgmm

    installed = Path(streamgmm.__file__).resolve().parent.parent
    if _is_project(installed):
        return installed
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_project(folder):
            return folder
    raise ProjectNotFoundError(
        f"no streamgmm checkout found: neither {installed} (where streamgmm is installed) nor "
        f"{here} or a parent holds {FLOWS_PACKAGE}/__init__.py. Run the command inside a "
        "clone of the streamgmm repository (the flows live there, not in the package)."
    )


def _flows_package(root: Path) -> ModuleType:
    """The ``flows`` package of ``root``, imported from there (once per process)."""
    folder = (root / FLOWS_PACKAGE).resolve()
    loaded = sys.modules.get(FLOWS_PACKAGE)
    if loaded is not None:
        locations = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
        if folder not in locations:
            raise ProjectNotFoundError(
                f"another package named {FLOWS_PACKAGE!r} is already imported (from "
                f"{', '.join(map(str, locations)) or loaded!r}), not {folder}"
            )
        return loaded
    spec = importlib.util.spec_from_file_location(
        FLOWS_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[FLOWS_PACKAGE] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[FLOWS_PACKAGE]
        raise
    return package


def import_flow_module(name: str, root: Path | None = None) -> ModuleType:
    """Import ``flows.<name>`` from the checkout (``root``, default :func:`find_project_root`)."""
    _flows_package(find_project_root() if root is None else root)
    return importlib.import_module(f"{FLOWS_PACKAGE}.{name}")
