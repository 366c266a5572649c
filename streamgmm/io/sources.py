"""Open row-oriented data as a lazy (n_samples, n_features) Dask array.

Accepted sources: a Dask array, an xarray DataArray (or a Dataset plus the
variable name), a zarr array or group, or a path / fsspec URL to a Zarr store
(format 2 or 3) or a Parquet file or folder (with a column selection).

Chunks are read by small picklable readers (:class:`ZarrRows`,
:class:`ParquetRows`) so that any Dask scheduler can run them, and so that a
read error names the store, the chunk or file, and the rows involved.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..core.errors import InvalidInputError, StreamGMMError
from .zarr_chunks import ChunkFileReader, chunk_file_reader

__all__ = [
    "COLUMN_ROLES_KEY",
    "RowData",
    "open_rows",
    "DataReadError",
    "ZarrRows",
    "ParquetRows",
    "column_roles_metadata",
    "format_on_disk",
    "stored_location",
]

logger = logging.getLogger(__name__)

#: Parquet schema metadata key naming which columns are features and which are not
#: (e.g. the true labels of generated data): ``{"features": [...], "other": [...]}``.
#: Without a column selection, only the features are used.
COLUMN_ROLES_KEY = b"streamgmm.columns"
#: Key of the description written by ``streamgmm datagen`` before it wrote roles; its
#: ``label`` column is the truth, never a feature.
_DATAGEN_KEY = b"streamgmm.datagen"


def column_roles_metadata(features: Sequence[str], other: Sequence[str]) -> dict[bytes, bytes]:
    """Parquet schema metadata declaring the feature columns (see :data:`COLUMN_ROLES_KEY`)."""
    return {COLUMN_ROLES_KEY: json.dumps({"features": list(features), "other": list(other)}).encode()}


class DataReadError(StreamGMMError, OSError):
    """A chunk or file of the input could not be read."""


@dataclass(frozen=True)
class RowData:
    """Rows of a dataset, lazily, with where they came from.

    Attributes
    ----------
    array : dask.array.Array of shape (n, D)
        One chunk along the features; row chunks follow the storage chunks.
    uri : str
        Human-readable origin (path, URL or "dask array").
    feature_names : tuple of str or None
    sample_dim, feature_dim : str
        Dimension names used for aligned outputs.
    sample_index : ndarray or dask array of shape (n,), or None
        Coordinate of the sample dimension when the source has one, as stored
        (e.g. integers with CF ``units`` for times); lazy for stored data.
    sample_index_attrs : dict
        Attributes of the stored coordinate (``units``, ``calendar``, ...), copied
        to outputs so readers decode it the same way.
    description : dict
        Fingerprint material: format, shape, chunking, dtype, variable/columns.
    reader : ZarrRows, ParquetRows or None
        For stored data, the picklable reader behind ``array``: a pass can read
        each chunk inside the task that reduces it, so a worker never holds more
        than the chunk it is working on.
    content_signature : callable or None
        Returns a signature of the stored files (names, sizes, mtimes); see
        :meth:`fingerprint`.
    """

    array: Any
    uri: str
    feature_names: tuple[str, ...] | None = None
    sample_dim: str = "sample"
    feature_dim: str = "feature"
    sample_index: Any = None
    sample_index_attrs: dict[str, Any] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)
    reader: Any = None
    content_signature: Any = None

    def fingerprint(self) -> dict[str, Any]:
        """``description`` plus a signature of the stored content (stats every file).

        Computed on demand, not at open time: only checkpoints and published model
        versions need it, and listing every chunk of a large store is not free.
        """
        content = self.content_signature() if callable(self.content_signature) else None
        return {**self.description, "content": content}

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def row_chunks(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.array.chunks[0])


# =============================================================================== readers
class ZarrRows:
    """Picklable reader of row ranges of a 2-D zarr array (format 2 or 3).

    Missing chunks raise instead of being filled with the fill value: silently
    clustering zeros or NaNs would be worse than stopping.

    Row-major arrays in a local store with a plain encoding are read chunk file by
    chunk file (:mod:`streamgmm.io.zarr_chunks`), about twice as fast as through
    zarr-python; every other array is read through zarr-python.
    """

    def __init__(self, store: str, path: str, shape: tuple[int, int], dtype: np.dtype,
                 transpose: bool = False, storage_options: dict | None = None) -> None:
        self.store = store
        self.path = path
        self.transpose = transpose
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = 2
        self.storage_options = storage_options
        self._array = None
        self._direct: ChunkFileReader | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_array"] = None  # reopened lazily in each worker process
        state["_direct"] = None
        return state

    def _open(self):
        import zarr

        if self._array is None:
            # Per-array setting (not the global config, which concurrent readers would race on).
            self._array = zarr.open_array(
                self.store, path=self.path, mode="r", storage_options=self.storage_options,
                config={"read_missing_chunks": False},
            )
            self._direct = None if self.transpose else chunk_file_reader(self._array)
        return self._array

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        try:
            array = self._open()
            if self._direct is not None:
                return self._direct.read_rows(start, stop)
            block = array[:, start:stop] if self.transpose else array[start:stop]
        except Exception as exc:  # zarr raises several types for corrupt/missing chunks
            raise DataReadError(
                f"Cannot read rows {start}-{stop - 1} of array '{self.path or '/'}' in Zarr store "
                f"'{self.store}': {type(exc).__name__}: {exc}. Check that the store is complete "
                "(re-copy or regenerate the missing chunk) or exclude those rows."
            ) from exc
        block = np.asarray(block)
        return np.ascontiguousarray(block.T) if self.transpose else block

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        start, stop, _ = rows.indices(self.shape[0])
        return self.read_rows(start, stop)[:, cols]


class ParquetRows:
    """Picklable reader of row ranges of a Parquet dataset, one row group per chunk.

    Parameters
    ----------
    units : list of (file, row_group, n_rows)
        The row groups in order.
    columns : list of str
    filesystem_url : str or None
        fsspec protocol/URL prefix for remote files; None for local paths.
    """

    def __init__(self, units: list[tuple[str, int, int]], columns: list[str], dtype: np.dtype,
                 storage_options: dict | None = None) -> None:
        self.units = units
        self.columns = columns
        self.dtype = np.dtype(dtype)
        self.offsets = np.concatenate([[0], np.cumsum([u[2] for u in units])]).astype(np.int64)
        self.shape = (int(self.offsets[-1]), len(columns))
        self.ndim = 2
        self.storage_options = storage_options

    def _read_unit(self, index: int) -> np.ndarray:
        import pyarrow.parquet as pq

        path, row_group, _ = self.units[index]
        try:
            if "://" in path:
                import fsspec

                with fsspec.open(path, "rb", **(self.storage_options or {})) as handle:
                    table = pq.ParquetFile(handle).read_row_group(row_group, columns=self.columns)
            else:
                table = pq.ParquetFile(path).read_row_group(row_group, columns=self.columns)
        except Exception as exc:
            raise DataReadError(
                f"Cannot read row group {row_group} of Parquet file '{path}': "
                f"{type(exc).__name__}: {exc}. Replace or remove the file and run again."
            ) from exc
        return np.column_stack(
            [table.column(name).to_numpy(zero_copy_only=False) for name in self.columns]
        ).astype(self.dtype, copy=False)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        first = int(np.searchsorted(self.offsets, start, side="right") - 1)
        last = int(np.searchsorted(self.offsets, stop, side="left"))
        parts = [self._read_unit(i) for i in range(first, last)]
        block = np.concatenate(parts) if len(parts) != 1 else parts[0]
        return block[start - self.offsets[first] : stop - self.offsets[first]]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        start, stop, _ = rows.indices(self.shape[0])
        return self.read_rows(start, stop)[:, cols]


def _from_reader(reader: Any, row_chunks: Sequence[int]) -> Any:
    import dask.array as da

    return da.from_array(
        reader,
        chunks=(tuple(row_chunks), (reader.shape[1],)),
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0, reader.shape[1]), dtype=reader.dtype),
        name=False,  # a fresh key: the reader is not hashable content
    )


# =============================================================================== openers
def _float_dtype(dtype: np.dtype, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in "fiub":
        raise InvalidInputError(
            f"{where} has dtype {dtype}, which is not numeric; select numeric data only"
        )
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _as_row_major(array: Any, where: str) -> Any:
    """A 2-D Dask array with a single chunk along the features."""
    if array.ndim != 2:
        raise InvalidInputError(
            f"{where} has {array.ndim} dimension(s); expected 2 (samples x features)"
        )
    dtype = _float_dtype(array.dtype, where)
    if array.dtype != dtype:
        array = array.astype(dtype)
    if len(array.chunks[1]) != 1:
        array = array.rechunk({1: -1})
    return array


def _dims_hint(dims: Sequence[str]) -> str:
    """Where dimension names are given (the estimator takes them as fit/predict parameters)."""
    names = " and ".join(repr(str(d)) for d in dims)
    return (
        f"pass sample_dim= (the rows' dimension) and feature_dim= (the features'), here {names}, "
        "e.g. GaussianMixture().fit(data, sample_dim=..., feature_dim=...), and the same to "
        "predict, predict_proba, score_samples and score, or to streamgmm.open_rows (in a job "
        "config: data.sample_dim and data.feature_dim; in a stream config: source.sample_dim "
        "and source.feature_dim)"
    )


def _open_dataarray(data: Any, sample_dim: str, feature_dim: str, where: str) -> RowData:
    import dask.array as da

    dims = tuple(data.dims)
    if data.ndim == 1:
        data = data.expand_dims({feature_dim: 1}, axis=1)
        dims = tuple(data.dims)
    missing = [d for d in (sample_dim, feature_dim) if d not in dims]
    if missing:
        raise InvalidInputError(
            f"{where} has dimensions {dims}; no {missing[0]!r}. Name them: "
            + _dims_hint(dims)
        )
    data = data.transpose(sample_dim, feature_dim)
    raw = data.data
    array = raw if isinstance(raw, da.Array) else da.from_array(np.asarray(raw), chunks=(65_536, -1))
    names = None
    if feature_dim in data.coords:
        names = tuple(str(v) for v in np.asarray(data.coords[feature_dim].values))
    index = np.asarray(data.coords[sample_dim].values) if sample_dim in data.coords else None
    array = _as_row_major(array, where)
    return RowData(
        array=array, uri=where, feature_names=names, sample_dim=sample_dim,
        feature_dim=feature_dim, sample_index=index,
        description={"format": "xarray", "shape": list(array.shape),
                     "row_chunks": list(map(int, array.chunks[0])), "dtype": str(array.dtype)},
    )


def _zarr_dims(array: Any) -> tuple[str, ...] | None:
    names = getattr(array.metadata, "dimension_names", None)
    if names:
        return tuple(names)
    attr = array.attrs.get("_ARRAY_DIMENSIONS")
    return tuple(attr) if attr else None


def _open_zarr(uri: str, variable: str | None, sample_dim: str, feature_dim: str,
               storage_options: dict | None) -> RowData:
    import zarr

    try:
        node = zarr.open(uri, mode="r", storage_options=storage_options)
    except Exception as exc:
        raise DataReadError(
            f"Cannot open Zarr store '{uri}': {type(exc).__name__}: {exc}. Check the path or URL."
        ) from exc
    group = None
    if isinstance(node, zarr.Group):
        group = node
        arrays = {name: arr for name, arr in group.arrays()}
        if variable is None:
            two_d = [name for name, arr in arrays.items() if arr.ndim == 2]
            if len(two_d) != 1:
                raise InvalidInputError(
                    f"Zarr store '{uri}' holds {len(two_d)} two-dimensional arrays "
                    f"({', '.join(sorted(two_d)) or 'none'}); name the one to use with variable="
                )
            variable = two_d[0]
        if variable not in arrays:
            raise InvalidInputError(
                f"Zarr store '{uri}' has no array named {variable!r}; it has: "
                f"{', '.join(sorted(arrays)) or 'no arrays'}"
            )
        array = arrays[variable]
        path = variable
    else:
        array = node
        path = ""
    where = f"array '{path or '/'}' of Zarr store '{uri}'"
    dims = _zarr_dims(array)
    transpose = False
    if array.ndim == 2 and dims is not None and set(dims) == {sample_dim, feature_dim}:
        transpose = dims[0] == feature_dim
    elif array.ndim == 2 and dims is not None and sample_dim not in dims:
        raise InvalidInputError(
            f"{where} has dimensions {dims}; no {sample_dim!r}. Name them: "
            + _dims_hint(dims)
        )
    if array.ndim != 2:
        raise InvalidInputError(f"{where} has {array.ndim} dimension(s); expected 2 (samples x features)")
    dtype = _float_dtype(array.dtype, where)
    n_rows, n_cols = (array.shape[1], array.shape[0]) if transpose else array.shape
    row_chunk = array.chunks[1] if transpose else array.chunks[0]
    reader = ZarrRows(uri, path, (n_rows, n_cols), dtype, transpose, storage_options)
    bounds = list(range(0, n_rows, row_chunk))
    row_chunks = [min(row_chunk, n_rows - b) for b in bounds]
    feature_names = None
    sample_index = None
    sample_index_attrs: dict[str, Any] = {}
    if group is not None:
        members = {name for name, _ in group.arrays()}
        if feature_dim in members and group[feature_dim].shape == (n_cols,):
            feature_names = tuple(str(v) for v in np.asarray(group[feature_dim][:]))
        if sample_dim in members and group[sample_dim].shape == (n_rows,):
            # Lazy: 8 bytes per row would otherwise be read at open time (1 GB for 8 GB of
            # data); only prediction outputs need it, and they copy it chunk by chunk.
            import dask.array as da

            sample_index = da.from_zarr(group[sample_dim])
            sample_index_attrs = {
                k: v for k, v in group[sample_dim].attrs.items() if k != "_ARRAY_DIMENSIONS"
            }
    return RowData(
        array=_from_reader(reader, row_chunks), uri=uri, feature_names=feature_names, reader=reader,
        sample_dim=sample_dim, feature_dim=feature_dim, sample_index=sample_index,
        sample_index_attrs=sample_index_attrs,
        description={"format": f"zarr{array.metadata.zarr_format}", "variable": path,
                     "shape": [n_rows, n_cols], "row_chunks": row_chunk, "dtype": str(array.dtype)},
        content_signature=functools.partial(_store_signature, uri, path, storage_options),
    )


def _parquet_files(uri: str, storage_options: dict | None) -> list[str]:
    if "://" in uri:
        import fsspec

        fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
        protocol = uri.split("://", 1)[0]
        if fs.isdir(root):
            names = sorted(p for p in fs.find(root) if p.endswith(".parquet"))
        else:
            names = [root]
        return [f"{protocol}://{name}" for name in names]
    if os.path.isdir(uri):
        return sorted(
            os.path.join(dirpath, name)
            for dirpath, _, names in os.walk(uri)
            for name in names
            if name.endswith(".parquet") and not name.startswith((".", "_"))
        )
    return [uri]


def _open_parquet(uri: str, columns: Sequence[str] | None, storage_options: dict | None) -> RowData:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = _parquet_files(uri, storage_options)
    if not files:
        raise InvalidInputError(f"No .parquet files under '{uri}'")
    units: list[tuple[str, int, int]] = []
    chosen: list[str] | None = list(columns) if columns is not None else None
    dtypes: set[np.dtype] = set()
    for path in files:
        try:
            if "://" in path:
                import fsspec

                with fsspec.open(path, "rb", **(storage_options or {})) as handle:
                    metadata = pq.ParquetFile(handle).metadata
                    schema = pq.ParquetFile(handle).schema_arrow
            else:
                parquet = pq.ParquetFile(path)
                metadata, schema = parquet.metadata, parquet.schema_arrow
        except Exception as exc:
            raise DataReadError(
                f"Cannot read the Parquet footer of '{path}': {type(exc).__name__}: {exc}. "
                "Replace or remove the file."
            ) from exc
        if chosen is None:
            chosen = _default_columns(schema, path)
        missing = [c for c in chosen if c not in schema.names]
        if missing:
            raise InvalidInputError(
                f"Parquet file '{path}' has no column {missing[0]!r}; its columns are: "
                f"{', '.join(schema.names)}. Fix the column selection (columns=...)"
            )
        for name in chosen:
            arrow_type = schema.field(name).type
            if not _is_numeric(arrow_type):
                numeric = [n for n in schema.names if _is_numeric(schema.field(n).type)]
                selection = "" if columns is not None else " (no columns were given, so all were taken)"
                raise InvalidInputError(
                    f"Column {name!r} of Parquet file '{path}' has type {arrow_type}, which is "
                    f"not numeric{selection}; choose the feature columns, e.g. columns="
                    f"[{', '.join(numeric)}] (data.columns in a config)"
                )
            dtypes.add(np.dtype(arrow_type.to_pandas_dtype()))
        for group in range(metadata.num_row_groups):
            n = metadata.row_group(group).num_rows
            if n:
                units.append((path, group, n))
    assert chosen is not None
    dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
    reader = ParquetRows(units, chosen, dtype, storage_options)
    return RowData(
        array=_from_reader(reader, [u[2] for u in units]), uri=uri, feature_names=tuple(chosen),
        reader=reader,
        description={"format": "parquet", "files": len(files), "columns": chosen,
                     "shape": list(reader.shape), "row_groups": len(units), "dtype": str(dtype)},
        content_signature=functools.partial(_files_signature, files, storage_options),
    )


def _is_numeric(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type))


def _default_columns(schema: Any, path: str) -> list[str]:
    """The feature columns of a Parquet file when none are selected.

    Files that declare their columns' roles (:data:`COLUMN_ROLES_KEY`, written by
    ``streamgmm datagen``) give their features; older datagen output has a truth
    column ``label`` that is left out. Otherwise every column. What is left out
    is logged, so a user sees which columns the model is fitted on.
    """
    metadata = schema.metadata or {}
    names = list(schema.names)
    if COLUMN_ROLES_KEY in metadata:
        try:
            features = [str(n) for n in json.loads(metadata[COLUMN_ROLES_KEY])["features"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"Parquet file '{path}' has unreadable column roles in its schema metadata "
                f"({COLUMN_ROLES_KEY.decode()}: {exc}); choose the feature columns with columns=[...]"
            ) from exc
    elif _DATAGEN_KEY in metadata and "label" in names:
        features = [n for n in names if n != "label"]
    else:
        return names
    left_out = [n for n in names if n not in features]
    if left_out:
        logger.info(
            "Parquet '%s': using feature columns %s; left out %s (not features, per the file's "
            "schema metadata); give columns=[...] to choose others",
            path, ", ".join(features), ", ".join(left_out),
        )
    return features


def _detect_format(uri: str, storage_options: dict | None) -> str:
    """'parquet' for a .parquet path or a folder holding .parquet files, else 'zarr'."""
    if uri.rstrip("/").endswith(".parquet"):
        return "parquet"
    if "://" in uri:
        import fsspec

        try:
            fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
            if fs.isdir(root) and any(str(p).endswith(".parquet") for p in fs.ls(root, detail=False)):
                return "parquet"
        except Exception:  # unreachable URLs fail later with a clearer message
            return "zarr"
        return "zarr"
    if os.path.isdir(uri) and any(n.endswith(".parquet") for n in os.listdir(uri)):
        return "parquet"
    return "zarr"


#: Files that make a folder a Zarr store (format 3, format 2 group / array / consolidated).
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")


def format_on_disk(path: str | os.PathLike[str]) -> str:
    """'zarr' or 'parquet', as the local ``path`` shows by what is on disk.

    A folder holding ``zarr.json`` (or ``.zgroup``/``.zarray``) is a Zarr store; a
    ``.parquet`` file, or a folder holding ``.parquet`` files, is Parquet.

    Raises
    ------
    InvalidInputError
        The path does not exist, or is neither: the message names it and what is accepted.
    """
    where = os.fspath(path)
    if not os.path.exists(where):
        raise InvalidInputError(
            f"no data at {where}: the path does not exist. Give a Zarr store or a Parquet "
            "file or folder (e.g. one written by streamgmm datagen)."
        )
    if os.path.isdir(where):
        names = os.listdir(where)
        if any(marker in names for marker in _ZARR_MARKERS):
            return "zarr"
        if _detect_format(where, None) == "parquet":
            return "parquet"
    elif where.endswith(".parquet"):
        return "parquet"
    raise InvalidInputError(
        f"{where} is neither a Zarr store (a folder with zarr.json or .zgroup) nor Parquet "
        "(a .parquet file or a folder of .parquet files). Give the data's store, file or folder."
    )


def _files_signature(paths: Sequence[str], storage_options: dict | None) -> str:
    """Hash of the names, sizes and modification times of files (not their content).

    Cheap (one stat per file) and changes whenever data are rewritten in place,
    which is what a checkpoint needs to tell "the same data" from "new data at
    the same path".
    """
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(paths):
        if "://" in path:
            import fsspec

            fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
            info = fs.info(root)
            stamp = (info.get("size"), info.get("mtime") or info.get("LastModified") or info.get("ETag"))
        else:
            stat = os.stat(path)
            stamp = (stat.st_size, stat.st_mtime_ns)
        digest.update(f"{path}|{stamp}\n".encode())
    return digest.hexdigest()


def _store_signature(uri: str, path: str, storage_options: dict | None) -> str:
    """:func:`_files_signature` of every file of one array in a Zarr store."""
    if "://" in uri:
        import fsspec

        fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
        base = f"{root.rstrip('/')}/{path}" if path else root
        protocol = uri.split("://", 1)[0]
        files = [f"{protocol}://{name}" for name in fs.find(base)]
    else:
        base = os.path.join(uri, path) if path else uri
        files = [os.path.join(d, n) for d, _, names in os.walk(base) for n in names]
    return _files_signature(files, storage_options)


def open_rows(
    source: Any,
    *,
    variable: str | None = None,
    columns: Sequence[str] | None = None,
    sample_dim: str = "sample",
    feature_dim: str = "feature",
    format: str | None = None,
    storage_options: dict | None = None,
) -> RowData:
    """Open any supported source as lazy rows.

    Parameters
    ----------
    source : dask.array.Array, xarray.DataArray, xarray.Dataset, zarr.Array, zarr.Group, str or PathLike
        The data. Paths and URLs ending in ``.parquet`` or folders of Parquet
        files are Parquet; anything else is opened as Zarr (or give ``format``).
    variable : str, optional
        Dataset variable or Zarr array name; default the only 2-D one.
    columns : sequence of str, optional
        Parquet columns to use as features. Default: the feature columns a file
        declares in its schema metadata (``streamgmm datagen`` output: ``x0`` ...,
        not the truth column ``label``), else all columns (all must be numeric).
    sample_dim, feature_dim : str
        Dimension names for xarray and Zarr sources.
    format : {"zarr", "parquet"}, optional
    storage_options : dict, optional
        Passed to fsspec for URLs.

    Returns
    -------
    RowData
    """
    import dask.array as da

    if isinstance(source, da.Array):
        array = _as_row_major(source, "the Dask array")
        return RowData(array=array, uri="dask array", description={
            "format": "dask", "shape": list(array.shape), "row_chunks": list(map(int, array.chunks[0])),
            "dtype": str(array.dtype), "name": array.name})
    module = type(source).__module__
    if module.startswith("xarray"):
        if hasattr(source, "data_vars"):
            names = [n for n, v in source.data_vars.items() if v.ndim == 2]
            if variable is None and len(names) != 1:
                raise InvalidInputError(
                    f"The Dataset has {len(names)} two-dimensional variables "
                    f"({', '.join(map(str, names)) or 'none'}); name one with variable="
                )
            name = variable or names[0]
            if name not in source.data_vars:
                raise InvalidInputError(
                    f"The Dataset has no variable {name!r}; it has: "
                    f"{', '.join(map(str, source.data_vars))}"
                )
            return _open_dataarray(source[name], sample_dim, feature_dim, f"variable {name!r}")
        return _open_dataarray(source, sample_dim, feature_dim, f"DataArray {source.name!r}")
    if module.startswith("zarr"):
        store = getattr(source, "store", None)
        root = getattr(store, "root", None)
        if root is None:
            raise InvalidInputError(
                "Only zarr arrays and groups backed by a local or fsspec store can be read out of "
                "core; pass the store's path or URL instead"
            )
        path = getattr(source, "path", "")
        uri = os.fspath(root)
        if hasattr(source, "arrays"):
            return _open_zarr(uri, variable or None, sample_dim, feature_dim, storage_options)
        return _open_zarr(uri, path or variable, sample_dim, feature_dim, storage_options)
    if isinstance(source, (str, os.PathLike)):
        uri = os.fspath(source)
        kind = format or _detect_format(uri, storage_options)
        if kind == "parquet":
            return _open_parquet(uri, columns, storage_options)
        if kind != "zarr":
            raise InvalidInputError(f"format={format!r} is not supported; use 'zarr' or 'parquet'")
        if "://" not in uri and not os.path.exists(uri):
            raise InvalidInputError(f"No such file or directory: '{uri}'")
        return _open_zarr(uri, variable, sample_dim, feature_dim, storage_options)
    raise InvalidInputError(
        f"Cannot read data of type {type(source).__name__}; give a numpy or Dask array, an "
        "xarray DataArray/Dataset, a zarr array, or a Zarr/Parquet path or URL"
    )


def stored_location(data: Any) -> str | None:
    """The path or URL that ``data`` were read from, or None for data held in memory.

    A path or URL as given; a :class:`RowData` opened from a Zarr store or Parquet
    files; an xarray object opened from a store (its ``encoding["source"]``). What a
    writer compares its target with, so that an output never touches its input
    (:func:`streamgmm.io.destinations.check_outside_inputs`).
    """
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    if isinstance(data, RowData):
        return data.uri if data.reader is not None else None
    encoding = getattr(data, "encoding", None)
    where = encoding.get("source") if isinstance(encoding, dict) else None
    return str(where) if where else None
