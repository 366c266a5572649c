"""Which inputs go out of core, told apart without importing Dask for numpy users."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["is_out_of_core"]


def is_out_of_core(X: Any) -> bool:
    """True for Dask/xarray/zarr arrays, RowData and paths or URLs."""
    if isinstance(X, (str, os.PathLike)):
        return True
    module = type(X).__module__
    return module.startswith(("dask", "xarray", "zarr", "streamgmm.io"))
