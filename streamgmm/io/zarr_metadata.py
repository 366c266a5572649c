"""Consolidated metadata for the Zarr groups streamgmm writes, without the warning.

xarray opens a group through its consolidated metadata (and warns when there are
none), so every group streamgmm writes is consolidated. zarr-python warns on every
such format-3 group that consolidated metadata are not (yet) part of the format 3
specification; the warning says nothing a user of streamgmm can act on (xarray and
zarr-python read them, and the groups are readable without them), so it is filtered
here, where the metadata are written, and nowhere else.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["CONSOLIDATED_FORMAT_3_WARNING", "consolidate_metadata"]

#: The start of zarr-python's warning on consolidating a format-3 group.
CONSOLIDATED_FORMAT_3_WARNING = "Consolidated metadata is currently not part"


def consolidate_metadata(store: str | os.PathLike[str]) -> None:
    """Consolidate the metadata of the Zarr group at ``store`` (a local folder)."""
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=CONSOLIDATED_FORMAT_3_WARNING)
        zarr.consolidate_metadata(os.fspath(store))
