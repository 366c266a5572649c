"""Which inputs go out of core, told apart without importing Dask for numpy users."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["is_out_of_core", "driver_dtype"]


def is_out_of_core(X: Any) -> bool:
    """True for Dask/xarray/zarr arrays, RowData and paths or URLs."""
    if isinstance(X, (str, os.PathLike)):
        return True
    module = type(X).__module__
    return module.startswith(("dask", "xarray", "zarr", "streamgmm.io"))


def driver_dtype(driver: Any) -> np.dtype:
    """Storage dtype of the rows a driver passes over."""
    array = getattr(driver, "array", None)
    if array is None:
        array = driver.X
    return np.dtype(array.dtype)
