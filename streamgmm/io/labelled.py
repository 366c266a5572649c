"""Named dimensions in, named dimensions out: xarray input and per-row results.

An xarray ``DataArray``/``Dataset`` names its dimensions; :func:`rows_named`
opens it (or a Zarr store) with the sample and feature dimension names the
caller gives, and :func:`like_input` returns a per-row result (labels,
log-likelihoods, responsibilities) as a ``DataArray`` along the input's sample
dimension, with the input's coordinates on that dimension. A numpy-backed input
gets a numpy-backed result; a Dask-backed one stays lazy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError
from .sources import RowData, open_rows

__all__ = ["COMPONENT_DIM", "DEFAULT_FEATURE_DIM", "DEFAULT_SAMPLE_DIM", "is_lazy_xarray",
           "is_xarray", "like_input", "rows_named"]

DEFAULT_SAMPLE_DIM = "sample"
DEFAULT_FEATURE_DIM = "feature"
#: The dimension of per-component results (``predict_proba``).
COMPONENT_DIM = "component"


def is_xarray(X: Any) -> bool:
    """True for an xarray ``DataArray`` or ``Dataset`` (told apart without importing xarray)."""
    return type(X).__module__.startswith("xarray")


def is_lazy_xarray(X: Any) -> bool:
    """True for xarray input backed by Dask (its results stay lazy)."""
    return is_xarray(X) and bool(X.chunks)


def rows_named(X: Any, sample_dim: str | None, feature_dim: str | None) -> Any:
    """``X`` opened with these dimension names when it has named dimensions, else ``X``.

    Parameters
    ----------
    X : xarray DataArray or Dataset, zarr array or group, Zarr path, or anything else
    sample_dim, feature_dim : str or None
        The names of X's row and feature dimensions (None: "sample" and "feature").

    Returns
    -------
    RowData or X
        xarray input always, and Zarr input when a name is given, as
        :class:`~streamgmm.io.sources.RowData`; other input unchanged.

    Raises
    ------
    InvalidInputError
        A name given for input that has no named dimensions (a numpy array, a
        DataFrame, a Parquet file).
    """
    named = sample_dim is not None or feature_dim is not None
    if not named and not is_xarray(X):
        return X
    stored = isinstance(X, (str, os.PathLike)) or type(X).__module__.startswith("zarr")
    if not (is_xarray(X) or stored):
        raise InvalidInputError(
            f"sample_dim/feature_dim name the dimensions of xarray or Zarr input; X is a "
            f"{type(X).__name__}, whose rows are its first axis. Leave them out."
        )
    return open_rows(X, sample_dim=sample_dim or DEFAULT_SAMPLE_DIM,
                     feature_dim=feature_dim or DEFAULT_FEATURE_DIM)


def like_input(values: Any, source: Any, rows: Any, name: str) -> Any:
    """``values`` (n,) or (n, K) as a DataArray along ``source``'s sample dimension.

    Parameters
    ----------
    values : ndarray or dask array of shape (n,) or (n, K)
        One result per row of ``source`` (computed already unless the source is lazy).
    source : Any
        What the caller passed. Anything but xarray: ``values`` is returned as is.
    rows : RowData
        ``source`` opened by :func:`rows_named` (its dimension names).
    name : str
        The DataArray's name ("label", "log_likelihood", "responsibility").

    Returns
    -------
    xarray.DataArray or ``values``
        Dimensions ``(sample_dim,)`` or ``(sample_dim, "component")``; the source's
        coordinates that lie along the sample dimension; components numbered 0..K-1.
    """
    if not is_xarray(source) or not isinstance(rows, RowData):
        return values
    import xarray as xr  # numpy users never import xarray

    sample_dim = rows.sample_dim
    coords: dict[str, Any] = {
        key: coord for key, coord in source.coords.items() if set(coord.dims) <= {sample_dim}
    }
    dims: tuple[str, ...] = (sample_dim,)
    if values.ndim == 2:
        dims = (sample_dim, COMPONENT_DIM)
        coords[COMPONENT_DIM] = np.arange(values.shape[1])
    return xr.DataArray(values, dims=dims, coords=coords, name=name)
