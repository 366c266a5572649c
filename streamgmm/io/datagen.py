"""Synthetic Gaussian-mixture datasets of any size, written chunk by chunk to Zarr or Parquet.

The generator is for tests, examples and benchmarks: it writes ``n_samples`` rows drawn from a
random Gaussian mixture whose parameters it saves beside the data, so a fit can be compared with
the truth. Memory stays bounded by a few chunks whatever ``n_samples`` is: rows are generated and
written one chunk at a time, optionally by several threads at once.

Determinism
    The mixture parameters come from ``SeedSequence(seed, spawn_key=(0,))`` and chunk ``i`` (rows
    ``i * chunk_rows`` to ``(i + 1) * chunk_rows``) from ``numpy.random.default_rng([seed, i])``.
    The content therefore depends on ``seed``, ``chunk_rows`` and the other generation options,
    never on how many threads write it or in which order chunks finish. (A separate parameter
    stream is needed because ``SeedSequence([seed])`` equals ``SeedSequence([seed, 0])``.) Float32
    data are the float64 data rounded: every value is computed in float64 and cast once. Full and
    tied covariances use a BLAS matrix product, so on another machine or BLAS build the values may
    differ in the last bit.

The generating mixture
    Component covariances have eigenvalues (variances) drawn uniformly in [0.25, 1]; full ones
    have a random orientation, ``tied`` shares one matrix, ``diag`` is axis aligned and
    ``spherical`` isotropic. The means are spread over a hypercube by farthest-point selection and
    then scaled so that the closest pair of means is exactly ``separation`` times the largest
    component standard deviation apart (along any direction). Nearest-mean classification of the
    closest pair then errs with probability at most ``Phi(-separation / 2)``: about 0.6% for the
    default 5, 3e-5 for 8. Weights are drawn uniformly in [1, 2] and normalised. Finally every row
    is mapped to ``offset + scales * z``; the saved true parameters are those of the final data
    (``separation`` is measured before ``scales`` are applied).

Layouts
    Zarr (format 3 by default, 2 on request): a group holding ``X`` of shape (n_samples,
    n_features) and chunks (chunk_rows, n_features); ``labels`` (int32, the true component of each
    row); and the coordinates ``sample`` (int64 row index) and ``feature`` ("x0", "x1", ...). The
    dimension names ("sample", "feature") are written as ``dimension_names`` (format 3) or the
    ``_ARRAY_DIMENSIONS`` attribute (format 2), and the metadata are consolidated, so
    ``xarray.open_zarr(path)["X"]`` works without warnings. ``X`` has fill value NaN, so a missing
    chunk reads as NaN rather than as plausible zeros.

    Parquet: a folder of files ``part-00000.parquet``, ``part-00001.parquet``, ... (more digits
    when there are more than 100,000 chunks), one file and one row group per chunk, with float
    columns ``x0`` ... ``x{D-1}`` and an int32 column ``label``. Injected NaN are NaN values, not
    nulls.

    Both layouts hold the true parameters in ``_true_params.npz`` inside the dataset folder (read
    them with :func:`true_parameters`). The leading underscore is deliberate: Parquet dataset
    readers (pyarrow, Dask) skip files starting with ``_`` but try to parse any other file, so a
    file named ``true_params.npz`` would break ``pyarrow.parquet.read_table(folder)``. Zarr readers
    that open the consolidated metadata (the default) never look at it; only listing the group
    without consolidated metadata warns that the file is not part of the hierarchy.

Atomicity
    The dataset is built in a hidden temporary sibling of the target (``.NAME.datagen-*.tmp``) and
    renamed into place at the end, so a crash or an interrupt never leaves a half-written dataset at
    the target path (a process killed with ``kill -9`` can leave the hidden temporary folder behind;
    delete it). With ``overwrite=True`` the old dataset is renamed aside, the new one renamed in and
    the old one deleted: a reader sees the old or the new dataset, or briefly none.

Command line
    ``python -m streamgmm.io.datagen PATH --size 8GB --n-features 16 --n-components 8`` (see
    ``--help``). ``add_datagen_arguments`` and ``run_datagen`` let another command mount it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ..core.covariance import COVARIANCE_TYPES, check_covariance_type
from ..core.errors import InvalidParameterError
from ..core.params import MixtureParameters
from .destinations import DestinationError, check_replaceable, probe_writable, write_marker

__all__ = [
    "DatasetInfo",
    "TRUE_PARAMS_FILENAME",
    "add_datagen_arguments",
    "generate_mixture_dataset",
    "main",
    "parse_size",
    "run_datagen",
    "true_parameters",
]

logger = logging.getLogger(__name__)

TRUE_PARAMS_FILENAME = "_true_params.npz"
"""Name of the file holding the true mixture parameters, inside the dataset folder."""

SCHEMA_VERSION = 1
"""Version of the layout written here (the ``_true_params.npz`` keys and the group attributes)."""

DEFAULT_CHUNK_BYTES = 16 * 2**20
"""Target size of one chunk of ``X`` when ``chunk_rows`` is not given (16 MiB)."""

SAMPLE_DIM = "sample"
FEATURE_DIM = "feature"
_FORMATS = ("zarr", "parquet")
_DTYPES = ("float32", "float64")
_PARAMS_SPAWN_KEY = (0,)
_MIN_VARIANCE, _MAX_VARIANCE = 0.25, 1.0

DatasetFormat = Literal["zarr", "parquet"]
ProgressCallback = Callable[[int, int], None]


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`generate_mixture_dataset` wrote.

    Parameters
    ----------
    path : Path
        The dataset: a Zarr group folder or a folder of Parquet files.
    format : {"zarr", "parquet"}
        Storage format.
    shape : tuple of int
        ``(n_samples, n_features)`` of the data array ``X``.
    chunk_rows : int
        Rows per chunk (Zarr chunk, or Parquet file and row group); the last chunk may be shorter.
    dtype : str
        ``"float32"`` or ``"float64"``.
    true_params_path : Path
        The ``_true_params.npz`` file; load it with :func:`true_parameters`.
    nbytes : int
        Uncompressed size of ``X`` in bytes (``n_samples * n_features * itemsize``).
    n_chunks : int
        Number of chunks written.
    zarr_format : int or None
        2 or 3 for Zarr, None for Parquet.
    seed : int
        The seed the data were generated from.
    n_nan_rows : int
        Number of rows holding an injected NaN.
    """

    path: Path
    format: DatasetFormat
    shape: tuple[int, int]
    chunk_rows: int
    dtype: str
    true_params_path: Path
    nbytes: int
    n_chunks: int
    zarr_format: int | None
    seed: int
    n_nan_rows: int


@dataclass(frozen=True, eq=False)
class _Mixture:
    """The generating mixture, as one affine map per component.

    A row of component ``k`` is ``means[k] + maps[k] @ e`` with ``e`` standard normal, where
    ``maps[k]`` is a (D, D) matrix for full, one shared (D, D) matrix for tied, and a (D,) vector
    of standard deviations (elementwise product) for diag and spherical. ``scales`` and ``offset``
    are already folded in, so the true parameters follow from these arrays exactly.
    """

    covariance_type: str
    weights: np.ndarray  # (K,)
    cumulative_weights: np.ndarray  # (K,), last entry exactly 1
    means: np.ndarray  # (K, D)
    maps: np.ndarray  # (K, D, D) full, (D, D) tied, (K, D) diag and spherical

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.means.shape[1])

    def component_map(self, k: int) -> np.ndarray:
        """The map of component ``k``: (D, D) or (D,)."""
        return self.maps if self.covariance_type == "tied" else self.maps[k]

    def covariances(self) -> np.ndarray:
        """True covariances in scikit-learn's shapes (see ``streamgmm.core.params``)."""
        if self.covariance_type == "full":
            return np.einsum("kij,klj->kil", self.maps, self.maps)
        if self.covariance_type == "tied":
            return self.maps @ self.maps.T
        if self.covariance_type == "diag":
            return self.maps**2
        return self.maps[:, 0] ** 2  # spherical: every entry of a row is the same


# ----------------------------------------------------------------------- the mixture
def _spread_points(rng: np.random.Generator, n_points: int, n_features: int) -> np.ndarray:
    """``n_points`` well spread points of the cube [-1, 1]^D by farthest-point selection, (K, D)."""
    n_candidates = int(min(max(50 * n_points, 1000), 20_000))
    candidates = rng.uniform(-1.0, 1.0, size=(n_candidates, n_features))
    chosen = [0]
    squared = np.sum((candidates - candidates[0]) ** 2, axis=1)
    for _ in range(1, n_points):
        index = int(np.argmax(squared))
        chosen.append(index)
        np.minimum(squared, np.sum((candidates - candidates[index]) ** 2, axis=1), out=squared)
    return candidates[chosen]


def _min_pairwise_distance(points: np.ndarray) -> float:
    """Smallest Euclidean distance between two distinct rows of ``points`` (K, D), K >= 2."""
    squared = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    squared[np.diag_indices_from(squared)] = np.inf
    return float(np.sqrt(squared.min()))


def _random_factor(rng: np.random.Generator, n_features: int) -> np.ndarray:
    """A random (D, D) factor ``A = Q diag(sqrt(lambda))``: covariance ``A A^T``."""
    q, r = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    variances = rng.uniform(_MIN_VARIANCE, _MAX_VARIANCE, size=n_features)
    return q * np.sqrt(variances)


def _make_mixture(
    seed: int,
    n_components: int,
    n_features: int,
    covariance_type: str,
    separation: float,
    offset: np.ndarray,
    scales: np.ndarray | None,
) -> _Mixture:
    """Draw the generating mixture from the parameter stream of ``seed``.

    ``offset`` and ``scales`` have shape (D,); the result generates ``offset + scales * z`` for
    ``z`` drawn from the unscaled mixture.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_PARAMS_SPAWN_KEY))
    K, D = n_components, n_features
    weights = rng.uniform(1.0, 2.0, size=K)
    weights /= weights.sum()
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0

    maps: np.ndarray
    if covariance_type == "full":
        maps = np.stack([_random_factor(rng, D) for _ in range(K)])
        max_variance = max(float(np.linalg.eigvalsh(a @ a.T).max()) for a in maps)
    elif covariance_type == "tied":
        maps = _random_factor(rng, D)
        max_variance = float(np.linalg.eigvalsh(maps @ maps.T).max())
    elif covariance_type == "diag":
        maps = np.sqrt(rng.uniform(_MIN_VARIANCE, _MAX_VARIANCE, size=(K, D)))
        max_variance = float(np.max(maps) ** 2)
    else:  # spherical
        maps = np.repeat(np.sqrt(rng.uniform(_MIN_VARIANCE, _MAX_VARIANCE, size=(K, 1))), D, axis=1)
        max_variance = float(np.max(maps) ** 2)

    if K == 1:
        means = np.zeros((1, D))
    else:
        points = _spread_points(rng, K, D)
        means = points * (separation * math.sqrt(max_variance) / _min_pairwise_distance(points))

    if scales is not None:
        means = means * scales
        # diag(s) @ A for matrices; s * std for vectors: both scale the rows' feature axis.
        maps = maps * scales[:, None] if covariance_type in ("full", "tied") else maps * scales
    return _Mixture(covariance_type, weights, cumulative, means + offset, maps)


# ------------------------------------------------------------------------- one chunk
def _generate_chunk(
    mixture: _Mixture,
    *,
    seed: int,
    index: int,
    n_rows: int,
    start: int,
    dtype: np.dtype,
    nan_fraction: float,
    nan_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``start:start + n_rows`` of the dataset: chunk ``index``.

    The random stream of the chunk is used in a fixed order: one uniform per row (its label),
    then for each component ``k`` in turn a (count_k, D) block of standard normals, then (only
    when NaN are asked for) the NaN draws.

    Returns
    -------
    X : ndarray of shape (n_rows, D), dtype ``dtype``
    labels : ndarray of shape (n_rows,), int32
    bad_rows : ndarray of shape (n_bad,), int64
        Global indices of the rows given a NaN, sorted.
    """
    rng = np.random.default_rng([seed, index])
    K, D = mixture.n_components, mixture.n_features
    labels = np.searchsorted(mixture.cumulative_weights, rng.random(n_rows), side="right")
    labels = np.minimum(labels, K - 1).astype(np.int16 if K <= 2**15 else np.int32)
    # Rows grouped by component: each group is one small GEMM (or product) written with one
    # scatter that also casts to ``dtype``; no (n, D, D) or per-row parameter temporaries.
    order = np.argsort(labels, kind="stable")  # radix sort for int16
    bounds = np.concatenate(([0], np.cumsum(np.bincount(labels, minlength=K))))
    X = np.empty((n_rows, D), dtype=dtype)
    matrix_maps = mixture.covariance_type in ("full", "tied")
    for k in range(K):
        count = int(bounds[k + 1] - bounds[k])
        if count == 0:
            continue
        block = rng.standard_normal((count, D))
        linear = mixture.component_map(k)
        block = block @ linear.T if matrix_maps else block * linear
        block += mixture.means[k]
        X[order[bounds[k] : bounds[k + 1]]] = block

    # NaN draws come after the data, so the clean values equal those of a NaN-free dataset.
    bad = np.empty(0, dtype=np.int64)
    if nan_fraction > 0.0:
        bad = np.flatnonzero(rng.random(n_rows) < nan_fraction).astype(np.int64)
    if nan_rows.size:
        lo, hi = np.searchsorted(nan_rows, [start, start + n_rows])
        bad = np.union1d(bad, nan_rows[lo:hi] - start)
    if bad.size:
        X[bad, rng.integers(0, D, size=bad.size)] = np.nan
    return X, labels.astype(np.int32), bad + start


# --------------------------------------------------------------------------- writers
class _ZarrWriter:
    """Creates the Zarr group and writes chunks into it (thread-safe: chunks never overlap)."""

    def __init__(
        self,
        root: Path,
        *,
        shape: tuple[int, int],
        chunk_rows: int,
        dtype: np.dtype,
        zarr_format: int,
        attributes: dict[str, Any],
    ) -> None:
        import zarr

        self._root = root
        n_samples, n_features = shape
        group = zarr.open_group(
            store=str(root), mode="w", zarr_format=zarr_format, attributes=attributes
        )

        def dims(*names: str) -> dict[str, Any]:
            if zarr_format == 3:
                return {"dimension_names": names}
            return {"attributes": {"_ARRAY_DIMENSIONS": list(names)}}

        # Format 2 readers (xarray) treat a fill value as a missing-value mask, which would turn
        # integer arrays into floats; format 3 needs one. NaN for X makes a lost chunk visible.
        int_fill = -1 if zarr_format == 3 else None
        # Write every chunk even if it equals the fill value (e.g. all NaN), so readers that refuse
        # missing chunks never see a hole in a complete dataset.
        always_write = {"write_empty_chunks": True}
        self.X = group.create_array(
            "X",
            shape=shape,
            chunks=(chunk_rows, n_features),
            dtype=dtype,
            fill_value=np.nan,
            config=always_write,
            **dims(SAMPLE_DIM, FEATURE_DIM),
        )
        self.labels = group.create_array(
            "labels",
            shape=(n_samples,),
            chunks=(chunk_rows,),
            dtype="int32",
            fill_value=int_fill,
            config=always_write,
            **dims(SAMPLE_DIM),
        )
        self.sample = group.create_array(
            SAMPLE_DIM,
            shape=(n_samples,),
            chunks=(chunk_rows,),
            dtype="int64",
            fill_value=int_fill,
            config=always_write,
            **dims(SAMPLE_DIM),
        )
        feature = group.create_array(
            FEATURE_DIM, shape=(n_features,), chunks=(n_features,), dtype=str, **dims(FEATURE_DIM)
        )
        feature[:] = np.array(_feature_names(n_features))

    def write(self, index: int, start: int, X: np.ndarray, labels: np.ndarray) -> None:
        stop = start + X.shape[0]
        self.X[start:stop] = X
        self.labels[start:stop] = labels
        self.sample[start:stop] = np.arange(start, stop, dtype=np.int64)

    def finish(self) -> None:
        import zarr

        with warnings.catch_warnings():
            # Consolidated metadata are not (yet) in the format 3 specification; xarray and
            # zarr-python read them, and without them xarray warns on every open.
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
            zarr.consolidate_metadata(str(self._root))


class _ParquetWriter:
    """Writes one Parquet file (one row group) per chunk: ``part-00000.parquet``, ..."""

    def __init__(
        self, root: Path, *, n_chunks: int, n_features: int, dtype: np.dtype, metadata: str
    ) -> None:
        import pyarrow as pa

        root.mkdir()
        self._root = root
        self._width = max(5, len(str(n_chunks - 1)))
        value_type = pa.from_numpy_dtype(dtype)
        self._names = [*_feature_names(n_features), "label"]
        self._schema = pa.schema(
            [pa.field(name, value_type) for name in self._names[:-1]]
            + [pa.field("label", pa.int32())],
            metadata={b"streamgmm.datagen": metadata.encode()},
        )

    def write(self, index: int, start: int, X: np.ndarray, labels: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = np.ascontiguousarray(X.T)
        arrays = [pa.array(column) for column in columns] + [pa.array(labels)]
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        path = self._root / f"part-{index:0{self._width}d}.parquet"
        # Dictionary encoding of random floats costs ~7x the write time and is then abandoned.
        pq.write_table(
            table, path, row_group_size=max(1, X.shape[0]), use_dictionary=["label"]
        )

    def finish(self) -> None:
        pass


def _feature_names(n_features: int) -> list[str]:
    return [f"x{j}" for j in range(n_features)]


# ------------------------------------------------------------------------ validation
def _local_path(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    if isinstance(text, str) and "://" in text:
        if not text.startswith("file://"):
            raise InvalidParameterError(
                f"path={text!r}: the data generator writes local folders only (it renames a "
                "finished temporary folder into place, which object stores cannot do atomically); "
                "generate locally and upload the folder (e.g. fsspec's put(..., recursive=True))"
            )
        text = text[len("file://") :]
    target = Path(text).expanduser().absolute()
    if target.name in ("", ".", ".."):
        raise InvalidParameterError(
            f"path={text!r} names no folder to create; give e.g. data/mix.zarr"
        )
    return target


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _finite_vector(name: str, value: Any, n_features: int) -> np.ndarray:
    try:
        vector = np.broadcast_to(np.asarray(value, dtype=np.float64), (n_features,)).copy()
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{name} must be a number or a sequence of n_features={n_features} numbers; "
            f"got {value!r}"
        ) from exc
    if not np.all(np.isfinite(vector)):
        raise InvalidParameterError(f"{name}={value!r} must be finite")
    return vector


def _resolve_dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidParameterError(
            f"dtype={dtype!r} is not a dtype; use 'float32' or 'float64'"
        ) from exc
    if resolved.name not in _DTYPES:
        raise InvalidParameterError(f"dtype={dtype!r} is not supported; use 'float32' or 'float64'")
    return resolved


def default_chunk_rows(n_samples: int, n_features: int, dtype: Any = "float32") -> int:
    """Rows per chunk so that a chunk of ``X`` holds about 16 MiB (at most ``n_samples``).

    Parameters
    ----------
    n_samples, n_features : int
        Shape of ``X``.
    dtype : {"float32", "float64"}
        Data type of ``X``.

    Returns
    -------
    int
    """
    itemsize = _resolve_dtype(dtype).itemsize
    return max(1, min(n_samples, DEFAULT_CHUNK_BYTES // (n_features * itemsize)))


def _nan_rows_array(nan_rows: Sequence[int] | np.ndarray | None, n_samples: int) -> np.ndarray:
    if nan_rows is None:
        return np.empty(0, dtype=np.int64)
    rows = np.asarray(nan_rows)
    if rows.size == 0:
        return np.empty(0, dtype=np.int64)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InvalidParameterError(
            f"nan_rows must be a 1-D sequence of integer row indices; got {nan_rows!r}"
        )
    if rows.min() < 0 or rows.max() >= n_samples:
        raise InvalidParameterError(
            f"nan_rows must lie in [0, n_samples={n_samples}); got rows from {rows.min()} "
            f"to {rows.max()}"
        )
    return np.unique(rows.astype(np.int64))


# ---------------------------------------------------------------------- the function
def generate_mixture_dataset(
    path: str | os.PathLike[str],
    *,
    n_samples: int,
    n_features: int,
    n_components: int,
    format: DatasetFormat = "zarr",
    chunk_rows: int | None = None,
    dtype: str | np.dtype = "float32",
    covariance_type: str = "full",
    separation: float = 5.0,
    offset: float | Sequence[float] | np.ndarray = 0.0,
    scales: float | Sequence[float] | np.ndarray | None = None,
    seed: int = 0,
    nan_fraction: float = 0.0,
    nan_rows: Sequence[int] | np.ndarray | None = None,
    zarr_format: int = 3,
    overwrite: bool = False,
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> DatasetInfo:
    """Write a synthetic Gaussian-mixture dataset of any size, chunk by chunk, in bounded memory.

    See the module docstring for the generating mixture, the layouts and the guarantees.

    Parameters
    ----------
    path : str or path-like
        Folder to create (a Zarr group or a folder of Parquet files). Parents are created. A local
        path or ``file://`` URL.
    n_samples, n_features, n_components : int
        Rows N of ``X``, columns D, and components K of the generating mixture.
    format : {"zarr", "parquet"}, default "zarr"
        Storage format.
    chunk_rows : int, optional
        Rows per chunk (Zarr chunk, or Parquet file and row group). Default: about 16 MiB of ``X``
        per chunk. The content depends on it (chunk ``i`` has its own random stream).
    dtype : {"float32", "float64"}, default "float32"
        Data type of ``X``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Form of the generating mixture's covariances.
    separation : float, default 5.0
        Distance between the two closest means, in units of the largest component standard
        deviation (before ``scales``). 8 or more: nearly disjoint clusters; 1-2: heavy overlap.
    offset : float or array-like of shape (D,), default 0.0
        Added to every row last (e.g. 1e6 to test cancellation in the statistics).
    scales : float or array-like of shape (D,), optional
        Positive per-feature factors applied before ``offset`` (e.g. ``[1e-3, 1e3]``).
        ``spherical`` accepts only equal scales (otherwise the data are no longer spherical).
    seed : int, default 0
        Seed of everything random; 0 <= seed < 2**63.
    nan_fraction : float, default 0.0
        Probability that a row gets a NaN (in one random feature), for bad-input tests.
    nan_rows : sequence of int, optional
        Rows that get a NaN (in one random feature), in addition to ``nan_fraction``.
    zarr_format : {3, 2}, default 3
        Zarr format version (ignored for Parquet).
    overwrite : bool, default False
        Replace an existing dataset at ``path``. Without it an existing path is an error. Only a
        dataset this generator wrote is replaced (its marker, or for earlier versions its
        ``_true_params.npz``); any other folder is refused (:mod:`streamgmm.io.destinations`).
    n_threads : int, optional
        Threads generating and writing chunks at once. Default ``min(4, os.cpu_count())``. Peak
        memory grows with it (measured: about 3-4 float32 chunks of ``X`` per thread, e.g.
        ~110 MB above the interpreter for 2 threads and 16 MiB chunks); the content does not.
        BLAS is limited to one thread meanwhile (``threadpoolctl``, process wide).
    progress : callable, optional
        Called as ``progress(chunks_done, n_chunks)`` from the calling thread after each chunk.

    Returns
    -------
    DatasetInfo
        Where and what was written.

    Raises
    ------
    InvalidParameterError
        A parameter is out of range; the message names it.
    FileExistsError
        ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> info = generate_mixture_dataset(                       # doctest: +SKIP
    ...     "mix.zarr", n_samples=1_000_000, n_features=16, n_components=8, seed=1)
    >>> xarray.open_zarr(info.path)["X"].dims                   # doctest: +SKIP
    ('sample', 'feature')
    >>> true_parameters(info.path).means.shape                  # doctest: +SKIP
    (8, 16)
    """
    n_samples = _positive_int("n_samples", n_samples)
    n_features = _positive_int("n_features", n_features)
    n_components = _positive_int("n_components", n_components)
    if format not in _FORMATS:
        raise InvalidParameterError(f"format={format!r} is not supported; use 'zarr' or 'parquet'")
    np_dtype = _resolve_dtype(dtype)
    try:
        check_covariance_type(covariance_type)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    if zarr_format not in (2, 3):
        raise InvalidParameterError(f"zarr_format={zarr_format!r} is not supported; use 3 or 2")
    chunk_rows = (
        default_chunk_rows(n_samples, n_features, np_dtype)
        if chunk_rows is None
        else min(_positive_int("chunk_rows", chunk_rows), n_samples)
    )
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not (
        0 <= seed < 2**63
    ):
        raise InvalidParameterError(f"seed={seed!r} must be an integer with 0 <= seed < 2**63")
    seed = int(seed)
    is_number = isinstance(separation, (int, float, np.number))
    if not (is_number and np.isfinite(separation) and separation > 0):
        raise InvalidParameterError(f"separation={separation!r} must be a finite number > 0")
    if not (isinstance(nan_fraction, (int, float, np.number)) and 0.0 <= nan_fraction <= 1.0):
        raise InvalidParameterError(f"nan_fraction={nan_fraction!r} must lie in [0, 1]")
    offset_vector = _finite_vector("offset", offset, n_features)
    scale_vector: np.ndarray | None = None
    if scales is not None:
        scale_vector = _finite_vector("scales", scales, n_features)
        if np.any(scale_vector <= 0):
            raise InvalidParameterError(f"scales={scales!r} must all be > 0")
        if covariance_type == "spherical" and np.ptp(scale_vector) != 0:
            raise InvalidParameterError(
                "covariance_type='spherical' with unequal scales would give non-spherical data; "
                "use covariance_type='diag' (or 'full'), or equal scales"
            )
    nan_row_array = _nan_rows_array(nan_rows, n_samples)
    if n_threads is None:
        n_threads = min(4, os.cpu_count() or 1)
    n_threads = _positive_int("n_threads", n_threads)

    target = _local_path(path)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True (command line: --overwrite) to replace "
            "it, or choose another path"
        )
    if overwrite:  # only a dataset streamgmm generated (marker, or its _true_params.npz) is replaced
        check_replaceable(target, "datagen", overwrite=True,
                          legacy=lambda folder: (folder / TRUE_PARAMS_FILENAME).is_file())
    probe_writable(target.parent)

    mixture = _make_mixture(
        seed,
        n_components,
        n_features,
        covariance_type,
        float(separation),
        offset_vector,
        scale_vector,
    )
    n_chunks = -(-n_samples // chunk_rows)
    description = {
        "schema_version": SCHEMA_VERSION,
        "generator": "streamgmm.io.datagen",
        "n_samples": n_samples,
        "n_features": n_features,
        "n_components": n_components,
        "covariance_type": covariance_type,
        "separation": float(separation),
        "offset": offset_vector.tolist(),
        "scales": None if scale_vector is None else scale_vector.tolist(),
        "seed": seed,
        "chunk_rows": chunk_rows,
        "dtype": np_dtype.name,
        "nan_fraction": float(nan_fraction),
        "n_explicit_nan_rows": int(nan_row_array.size),
        "true_params_file": TRUE_PARAMS_FILENAME,
    }

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.datagen-{uuid.uuid4().hex[:12]}.tmp"
    logger.info(
        "writing %d x %d %s rows in %d chunks to %s (%s)",
        n_samples, n_features, np_dtype.name, n_chunks, target, format,
    )
    try:
        writer: _ZarrWriter | _ParquetWriter
        if format == "zarr":
            writer = _ZarrWriter(
                temporary,
                shape=(n_samples, n_features),
                chunk_rows=chunk_rows,
                dtype=np_dtype,
                zarr_format=zarr_format,
                attributes={"streamgmm_datagen": description},
            )
        else:
            writer = _ParquetWriter(
                temporary,
                n_chunks=n_chunks,
                n_features=n_features,
                dtype=np_dtype,
                metadata=json.dumps(description),
            )

        def write_chunk(index: int) -> np.ndarray:
            start = index * chunk_rows
            n_rows = min(chunk_rows, n_samples - start)
            try:
                X, labels, bad = _generate_chunk(
                    mixture,
                    seed=seed,
                    index=index,
                    n_rows=n_rows,
                    start=start,
                    dtype=np_dtype,
                    nan_fraction=float(nan_fraction),
                    nan_rows=nan_row_array,
                )
                writer.write(index, start, X, labels)
            except Exception as exc:
                exc.add_note(
                    f"streamgmm datagen: while writing chunk {index} "
                    f"(rows {start}:{start + n_rows}) into {temporary}"
                )
                raise
            return bad

        # Each chunk does small GEMMs of (rows, D) by (D, D): a multithreaded BLAS only adds
        # contention to our own chunk threads (measured 5-7x slower), so it runs single threaded.
        with threadpool_limits(limits=1, user_api="blas"):
            bad_rows = _run_chunks(write_chunk, n_chunks, n_threads, progress)
        writer.finish()
        _save_truth(temporary / TRUE_PARAMS_FILENAME, mixture, description, bad_rows)
        write_marker(temporary, "datagen")
        _move_into_place(temporary, target, overwrite)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info("wrote %s", target)
    return DatasetInfo(
        path=target,
        format=format,
        shape=(n_samples, n_features),
        chunk_rows=chunk_rows,
        dtype=np_dtype.name,
        true_params_path=target / TRUE_PARAMS_FILENAME,
        nbytes=n_samples * n_features * np_dtype.itemsize,
        n_chunks=n_chunks,
        zarr_format=zarr_format if format == "zarr" else None,
        seed=seed,
        n_nan_rows=int(bad_rows.size),
    )


def _run_chunks(
    write_chunk: Callable[[int], np.ndarray],
    n_chunks: int,
    n_threads: int,
    progress: ProgressCallback | None,
) -> np.ndarray:
    """Run ``write_chunk`` on every chunk index; return the NaN rows of all chunks, sorted."""
    bad: dict[int, np.ndarray] = {}
    if n_threads == 1 or n_chunks == 1:
        for index in range(n_chunks):
            bad[index] = write_chunk(index)
            if progress is not None:
                progress(index + 1, n_chunks)
    else:
        # A bounded window of submitted chunks: memory is set by the threads, not by n_chunks.
        with ThreadPoolExecutor(n_threads, thread_name_prefix="streamgmm-datagen") as pool:
            pending: dict[Future[np.ndarray], int] = {}
            next_index = 0
            try:
                while next_index < n_chunks or pending:
                    while next_index < n_chunks and len(pending) < 2 * n_threads:
                        pending[pool.submit(write_chunk, next_index)] = next_index
                        next_index += 1
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        bad[pending.pop(future)] = future.result()
                        if progress is not None:
                            progress(len(bad), n_chunks)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    if not bad:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([bad[index] for index in range(n_chunks)])


def _save_truth(
    file: Path, mixture: _Mixture, description: dict[str, Any], bad_rows: np.ndarray
) -> None:
    with open(file, "wb") as handle:
        np.savez(
            handle,
            schema_version=np.int64(SCHEMA_VERSION),
            covariance_type=np.str_(mixture.covariance_type),
            weights=mixture.weights,
            means=mixture.means,
            covariances=mixture.covariances(),
            nan_rows=bad_rows.astype(np.int64),
            description=np.str_(json.dumps(description)),
        )


def _move_into_place(temporary: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished ``temporary`` folder to ``target`` (replacing it if ``overwrite``)."""
    if overwrite and (target.exists() or target.is_symlink()):
        old = target.parent / f".{target.name}.datagen-{uuid.uuid4().hex[:12]}.old"
        os.rename(target, old)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(old, target)
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
        return
    try:
        os.rename(temporary, target)
    except OSError as exc:
        raise FileExistsError(
            f"{target} appeared while the dataset was being generated; pass overwrite=True "
            "(command line: --overwrite) to replace it, or choose another path"
        ) from exc


# ----------------------------------------------------------------------------- truth
def true_parameters(path: str | os.PathLike[str]) -> MixtureParameters:
    """Load the true mixture parameters saved beside a generated dataset.

    Parameters
    ----------
    path : str or path-like
        The dataset folder written by :func:`generate_mixture_dataset`, or its
        ``_true_params.npz`` file.

    Returns
    -------
    MixtureParameters
        Weights (K,), means (K, D) and covariances (shape by covariance type) of the data as
        written, i.e. after ``scales`` and ``offset``.

    Raises
    ------
    FileNotFoundError
        No ``_true_params.npz`` at ``path``.
    ValueError
        The file was written by an unknown, newer layout.
    """
    given = _local_path(path)
    file = given / TRUE_PARAMS_FILENAME if given.is_dir() else given
    if not file.is_file():
        raise FileNotFoundError(
            f"no true parameters at {file}: {given} was not written by "
            "streamgmm.io.datagen.generate_mixture_dataset (or the file was removed); regenerate "
            "the dataset with the same seed to get them back"
        )
    with np.load(file, allow_pickle=False) as saved:
        version = int(saved["schema_version"])
        if version != SCHEMA_VERSION:
            raise InvalidParameterError(
                f"{file} has schema_version {version}; this streamgmm reads version "
                f"{SCHEMA_VERSION}: upgrade streamgmm or regenerate the dataset"
            )
        return MixtureParameters.from_covariances(
            saved["weights"], saved["means"], saved["covariances"], str(saved["covariance_type"])
        )


# ----------------------------------------------------------------------- command line
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)\s*([a-z]*)\s*$", re.I)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
    "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def parse_size(text: str) -> int:
    """Bytes in a human size: ``"8GB"`` (8 * 10**9), ``"500MB"``, ``"2GiB"`` (2 * 2**30), ``"1e9"``.

    Parameters
    ----------
    text : str
        A number with an optional unit: B, K/KB, M/MB, G/GB, T/TB (powers of 1000) or
        KiB, MiB, GiB, TiB (powers of 1024); case does not matter.

    Returns
    -------
    int
        Number of bytes (rounded down), at least 1.
    """
    match = _SIZE_PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise InvalidParameterError(
            f"size {text!r} is not understood; write e.g. 200MB, 8GB or 2GiB "
            "(units B, KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)"
        )
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise InvalidParameterError(f"size {text!r} is less than one byte")
    return size


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    minutes, seconds = divmod(int(round(s)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _argument(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a converter so argparse reports our message as a usage error."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except (InvalidParameterError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = convert.__name__
    return parse


def _positive_int_text(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be a positive integer")
    return value


def _float_list(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def add_datagen_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data generator's arguments to ``parser`` (for ``run_datagen``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A parser or sub-command parser; nothing else is set on it (no handler default).
    """
    parser.add_argument("path", help="folder to create: a Zarr group or a folder of Parquet files")
    how_many = parser.add_mutually_exclusive_group(required=True)
    how_many.add_argument(
        "--n-samples", type=_argument(_positive_int_text), help="number of rows N"
    )
    how_many.add_argument(
        "--size",
        type=_argument(parse_size),
        help="uncompressed size of X instead of --n-samples, e.g. 200MB, 8GB, 2GiB "
        "(N = size // (n_features * itemsize); GB = 10^9 bytes, GiB = 2^30)",
    )
    parser.add_argument("--n-features", type=_argument(_positive_int_text), default=16)
    parser.add_argument("--n-components", type=_argument(_positive_int_text), default=8)
    parser.add_argument("--format", choices=_FORMATS, default="zarr")
    parser.add_argument("--zarr-format", type=int, choices=(3, 2), default=3)
    parser.add_argument(
        "--chunk-rows",
        type=_argument(_positive_int_text),
        default=None,
        help="rows per chunk / Parquet file (default: about 16 MiB of X per chunk)",
    )
    parser.add_argument("--dtype", choices=_DTYPES, default="float32")
    parser.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full")
    parser.add_argument(
        "--separation",
        type=float,
        default=5.0,
        help="closest pair of means, in largest component standard deviations (default 5)",
    )
    parser.add_argument("--offset", type=float, default=0.0, help="added to every value, e.g. 1e6")
    parser.add_argument(
        "--scales",
        type=_argument(_float_list),
        default=None,
        help="per-feature scales, comma separated (one value, or n_features values)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nan-fraction", type=float, default=0.0, help="probability that a row gets a NaN"
    )
    parser.add_argument(
        "--nan-rows", type=_argument(_int_list), default=None, help="rows that get a NaN, e.g. 0,17"
    )
    parser.add_argument(
        "--threads", type=_argument(_positive_int_text), default=None, help="writer threads"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset at PATH"
    )
    parser.add_argument(
        "--progress-every",
        type=_argument(_positive_int_text),
        default=None,
        metavar="N",
        help="print a progress line every N chunks (default: about 20 lines in all)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")


def run_datagen(args: argparse.Namespace) -> int:
    """Generate the dataset described by parsed ``args``; print progress and a summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`add_datagen_arguments`.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a bad argument or an existing path, 1 for an I/O error.
    """
    out = sys.stdout
    try:
        itemsize = _resolve_dtype(args.dtype).itemsize
        if args.n_samples is not None:
            n_samples = args.n_samples
        else:
            n_samples = args.size // (args.n_features * itemsize)
            if n_samples < 1:
                raise InvalidParameterError(
                    f"--size {_human_bytes(args.size)} holds less than one row of "
                    f"{args.n_features} {args.dtype} features; give a larger --size"
                )
        chunk_rows = (
            default_chunk_rows(n_samples, args.n_features, args.dtype)
            if args.chunk_rows is None
            else min(args.chunk_rows, n_samples)
        )
        n_chunks = -(-n_samples // chunk_rows)
        every = args.progress_every or max(1, n_chunks // 20)
        total_bytes = n_samples * args.n_features * itemsize
        started = time.perf_counter()
        kind = f"zarr v{args.zarr_format}" if args.format == "zarr" else "parquet"
        if not args.quiet:
            print(
                f"datagen: {n_samples:,} rows x {args.n_features} features ({args.dtype}, "
                f"{_human_bytes(total_bytes)}), {args.n_components} {args.covariance_type} "
                f"components -> {args.path} ({kind}, {n_chunks:,} chunks of {chunk_rows:,} rows)",
                file=out,
                flush=True,
            )

        def report(done: int, total: int) -> None:
            if args.quiet or (done % every and done != total):
                return
            elapsed = time.perf_counter() - started
            written = min(done * chunk_rows, n_samples) * args.n_features * itemsize
            rate = written / elapsed if elapsed > 0 else float("inf")
            eta = (total_bytes - written) / rate if rate > 0 else 0.0
            print(
                f"datagen: {done:,}/{total:,} chunks {100 * done / total:5.1f}%  "
                f"{_human_bytes(written)}  {_human_bytes(rate)}/s  eta {_seconds(eta)}",
                file=out,
                flush=True,
            )

        info = generate_mixture_dataset(
            args.path,
            n_samples=n_samples,
            n_features=args.n_features,
            n_components=args.n_components,
            format=args.format,
            chunk_rows=chunk_rows,
            dtype=args.dtype,
            covariance_type=args.covariance_type,
            separation=args.separation,
            offset=args.offset,
            scales=args.scales,
            seed=args.seed,
            nan_fraction=args.nan_fraction,
            nan_rows=args.nan_rows,
            zarr_format=args.zarr_format,
            overwrite=args.overwrite,
            n_threads=args.threads,
            progress=report,
        )
    except (InvalidParameterError, FileExistsError, DestinationError) as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("datagen: interrupted; nothing was left at the target path", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    stored = sum(f.stat().st_size for f in info.path.rglob("*") if f.is_file())
    print(
        f"datagen: wrote {info.path} ({kind}): X {info.shape[0]:,} x {info.shape[1]} "
        f"{info.dtype}, {_human_bytes(info.nbytes)} ({_human_bytes(stored)} on disk), "
        f"{info.n_chunks:,} chunks of {info.chunk_rows:,} rows, {info.n_nan_rows:,} NaN rows, "
        f"in {_seconds(elapsed)} ({_human_bytes(info.nbytes / max(elapsed, 1e-9))}/s); "
        f"true parameters: {info.true_params_path}",
        file=out,
        flush=True,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m streamgmm.io.datagen``."""
    parser = argparse.ArgumentParser(
        prog="python -m streamgmm.io.datagen",
        description="Write a synthetic Gaussian-mixture dataset of any size to Zarr or Parquet, "
        "chunk by chunk in bounded memory, with the true parameters saved beside it "
        f"({TRUE_PARAMS_FILENAME}) and the true labels in the dataset.",
    )
    add_datagen_arguments(parser)
    return run_datagen(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
