"""Generating a dataset: check the options, write the chunks, save the truth, swap into place.

The public entry points are re-exported by :mod:`streamgmm.io.datagen`, whose docstring
describes the determinism, the generating mixture, the layouts and the atomicity.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ...core.covariance import check_covariance_type
from ...core.errors import InvalidParameterError
from ...core.params import MixtureParameters
from ..atomic import replace_directory, staging_directory
from ..destinations import check_replaceable, probe_writable, write_marker
from .sampling import generate_chunk, make_mixture
from .writers import (
    FORMATS,
    SCHEMA_VERSION,
    TRUE_PARAMS_FILENAME,
    ParquetWriter,
    ZarrWriter,
    save_truth,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DTYPES",
    "DatasetFormat",
    "DatasetInfo",
    "ProgressCallback",
    "default_chunk_rows",
    "generate_mixture_dataset",
    "local_path",
    "resolve_dtype",
    "true_parameters",
]

# The logger of the package, as before the split: configurations naming it keep working.
logger = logging.getLogger(__package__)

DEFAULT_CHUNK_BYTES = 16 * 2**20
"""Target size of one chunk of ``X`` when ``chunk_rows`` is not given (16 MiB)."""

DTYPES = ("float32", "float64")

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


# ------------------------------------------------------------------------ validation
def local_path(path: str | os.PathLike[str]) -> Path:
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


def resolve_dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidParameterError(
            f"dtype={dtype!r} is not a dtype; use 'float32' or 'float64'"
        ) from exc
    if resolved.name not in DTYPES:
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
    itemsize = resolve_dtype(dtype).itemsize
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
    if format not in FORMATS:
        raise InvalidParameterError(f"format={format!r} is not supported; use 'zarr' or 'parquet'")
    np_dtype = resolve_dtype(dtype)
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

    target = local_path(path)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True (command line: --overwrite) to replace "
            "it, or choose another path"
        )
    if overwrite:  # only a dataset streamgmm generated (marker, or its _true_params.npz) is replaced
        check_replaceable(target, "datagen", overwrite=True,
                          legacy=lambda folder: (folder / TRUE_PARAMS_FILENAME).is_file())
    probe_writable(target.parent)

    mixture = make_mixture(
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
    temporary = staging_directory(target, "datagen")
    logger.info(
        "writing %d x %d %s rows in %d chunks to %s (%s)",
        n_samples, n_features, np_dtype.name, n_chunks, target, format,
    )
    try:
        writer: ZarrWriter | ParquetWriter
        if format == "zarr":
            writer = ZarrWriter(
                temporary,
                shape=(n_samples, n_features),
                chunk_rows=chunk_rows,
                dtype=np_dtype,
                zarr_format=zarr_format,
                attributes={"streamgmm_datagen": description},
            )
        else:
            writer = ParquetWriter(
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
                X, labels, bad = generate_chunk(
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
        save_truth(temporary / TRUE_PARAMS_FILENAME, mixture, description, bad_rows)
        write_marker(temporary, "datagen")
        replace_directory(temporary, target, overwrite=overwrite)
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
    given = local_path(path)
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
