"""Out-of-core predictions written to Zarr, aligned with the input's samples.

The output is a Zarr group (xarray-readable) with, along the input's sample
dimension and chunking:

``labels``            (n,) int64       most probable component
``responsibilities``  (n, K) float64   posterior probabilities
``log_likelihood``    (n,) float64     per-sample log-likelihood
``<sample_dim>``      (n,)             the input's sample coordinate (or row index)

It is built in a temporary sibling folder and renamed into place, so a crash
leaves either the previous output or the complete new one, never a mixture.

Where it may be written (:mod:`streamgmm.io.destinations`): never at, around or
inside the input; ``overwrite=True`` replaces only a group streamgmm wrote as
predictions (its group attributes carry the ``streamgmm_output`` marker). A group written
by an earlier version (no marker) is replaced only if it has exactly the old
layout (:func:`is_legacy_predictions`); anything else is refused, even with
``overwrite``: delete it yourself or choose a new path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import InvalidInputError
from ..core.estep import natural_form
from ..core.params import MixtureParameters
from ..core.variational import VariationalPosterior, variational_form
from ..io.atomic import named_write_error, replace_directory, staging_directory
from ..io.zarr_metadata import consolidate_metadata
from ..io.destinations import (
    MARKER_ATTRIBUTE,
    check_outside_inputs,
    check_replaceable,
    marker_record,
    probe_writable,
)
from ..io.sources import RowData, open_rows, stored_location
from .dask_rows import DaskRows

__all__ = ["write_predictions", "is_legacy_predictions", "input_location", "PREDICTION_OUTPUTS"]

PREDICTION_OUTPUTS = ("labels", "responsibilities", "log_likelihood")


#: Attributes the writer has always set on the group (before markers existed too).
_GROUP_ATTRIBUTES = frozenset({"model_n_components", "covariance_type", "source"})


def is_legacy_predictions(path: Path) -> bool:
    """Whether ``path`` is a predictions group written by a streamgmm without markers.

    Strict on purpose: a Zarr v3 group whose attributes are exactly the writer's
    (``model_n_components``, ``covariance_type``, ``source``), whose members are
    ``component``, at least one of :data:`PREDICTION_OUTPUTS` and at most one
    more (the sample coordinate), and no other files. A user's store hardly
    matches that by chance; one that does not is never replaced.
    """
    try:
        meta = json.loads((path / "zarr.json").read_text())
        entries = {entry.name: entry for entry in os.scandir(path)}
    except (OSError, ValueError):
        return False
    if meta.get("node_type") != "group" or set(meta.get("attributes", {})) != _GROUP_ATTRIBUTES:
        return False
    members = {name for name, entry in entries.items() if entry.is_dir()}
    files = {name for name, entry in entries.items() if not entry.is_dir()}
    outputs = members & set(PREDICTION_OUTPUTS)
    others = members - set(PREDICTION_OUTPUTS) - {"component"}
    return files == {"zarr.json"} and "component" in members and bool(outputs) and len(others) <= 1


def input_location(source: Any, rows: RowData) -> str | None:
    """Where ``source`` is stored, if anywhere: its path or URL (None for data in memory)."""
    return stored_location(source) or stored_location(rows)


def write_predictions(
    params: MixtureParameters | VariationalPosterior,
    source: Any,
    target: str | os.PathLike,
    *,
    outputs: Sequence[str] = PREDICTION_OUTPUTS,
    dtype: Any = None,
    overwrite: bool = False,
    scheduler: Any = None,
    **source_options: Any,
) -> Path:
    """Score every row of ``source`` and write the results to a Zarr group.

    Parameters
    ----------
    params : MixtureParameters or VariationalPosterior
        The model (e.g. ``GaussianMixture(...).fit(...).parameters_``), or a
        Bayesian mixture's posterior (``BayesianGaussianMixture(...).fit(...).posterior_``),
        scored as its ``predict`` and ``score_samples`` do.
    source : RowData, path, URL or array
        Data as accepted by :func:`streamgmm.open_rows`.
    target : path
        Local folder of the Zarr group to write.
    outputs : sequence of {"labels", "responsibilities", "log_likelihood"}
    dtype : {"float32", "float64"}, optional
        Compute dtype; default follows the data.
    overwrite : bool
        Replace an existing output (atomically) instead of refusing; only
        predictions streamgmm wrote are replaced (see the module docstring).
    scheduler : optional
        Dask scheduler for the pass.
    **source_options
        Passed to :func:`open_rows` (variable, columns, sample_dim, ...).

    Returns
    -------
    Path
        The written group.

    Raises
    ------
    DestinationError
        ``target`` is, contains or lies inside the input; exists without
        ``overwrite``; is not predictions streamgmm wrote; or cannot be written.
    """
    import dask.array as da
    import zarr

    unknown = [o for o in outputs if o not in PREDICTION_OUTPUTS]
    if unknown or not outputs:
        raise InvalidInputError(
            f"outputs={list(outputs)!r} is invalid: choose from {', '.join(PREDICTION_OUTPUTS)}"
        )
    rows = source if isinstance(source, RowData) else open_rows(source, **source_options)
    if rows.shape[1] != params.n_features:
        raise InvalidInputError(
            f"{rows.uri} has {rows.shape[1]} features but the model expects {params.n_features}"
        )
    target = Path(target)
    # Checked before the pass, and again by the rename's guard below: the input is
    # never replaced, and only our own predictions are.
    check_outside_inputs(target, [("source", input_location(source, rows))])
    check_replaceable(target, "predictions", overwrite=overwrite, legacy=is_legacy_predictions)
    probe_writable(target.parent)
    compute_dtype = np.dtype(dtype) if dtype is not None else (
        np.dtype(np.float32) if rows.array.dtype == np.float32 else np.dtype(np.float64)
    )
    driver = DaskRows(rows.array, where=rows.uri, scheduler=scheduler)
    form = (
        variational_form(params, compute_dtype) if isinstance(params, VariationalPosterior)
        else natural_form(params, compute_dtype)
    )
    log_likelihood, responsibilities = driver.posteriors(form)
    lazy = {
        "labels": responsibilities.argmax(axis=1).astype(np.int64),
        "responsibilities": responsibilities,
        "log_likelihood": log_likelihood,
    }
    built = staging_directory(target)
    try:
        group = zarr.open_group(built, mode="w", zarr_format=3)
        row_chunk = max(rows.row_chunks)
        index = rows.sample_index
        if index is None:
            index = da.arange(rows.shape[0], chunks=row_chunk, dtype=np.int64)
        elif not isinstance(index, da.Array):
            index = da.from_array(np.asarray(index), chunks=row_chunk)
        coordinate = group.create_array(
            rows.sample_dim, shape=index.shape, chunks=(row_chunk,), dtype=index.dtype,
            dimension_names=(rows.sample_dim,), config={"write_empty_chunks": True},
        )
        coordinate.attrs.update(rows.sample_index_attrs)  # e.g. CF time units: decoded alike
        component = group.create_array(
            "component", shape=(params.n_components,), dtype=np.int64, dimension_names=("component",)
        )
        component[:] = np.arange(params.n_components)
        sources, targets = [index.rechunk(row_chunk)], [coordinate]
        for name in outputs:
            array = lazy[name].rechunk({0: row_chunk})
            dims = (rows.sample_dim, "component") if array.ndim == 2 else (rows.sample_dim,)
            chunks = (row_chunk, params.n_components) if array.ndim == 2 else (row_chunk,)
            sources.append(array)
            targets.append(group.create_array(
                name, shape=array.shape, chunks=chunks, dtype=array.dtype, dimension_names=dims,
                config={"write_empty_chunks": True},  # complete even where a chunk is all zeros
            ))
        group.attrs.update({"model_n_components": params.n_components,
                            "covariance_type": params.covariance_type, "source": rows.uri,
                            MARKER_ATTRIBUTE: marker_record("predictions")})
        stored = da.store(sources, targets, lock=False, compute=False)
        with driver:
            driver.compute(stored)
        consolidate_metadata(built)
        replace_directory(built, target)
    except BaseException as exc:
        shutil.rmtree(built, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            # A full disk or a quota while writing a chunk: errors from write() name no file.
            raise named_write_error(exc, target) from exc
        raise
    return target
