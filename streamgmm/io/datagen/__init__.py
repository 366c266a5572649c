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
    nulls. The schema metadata declare which columns are features (``streamgmm.columns``), so
    readers without a column selection never take the truth for a feature.

    Both layouts hold the true parameters in ``_true_params.npz`` inside the dataset folder (read
    them with :func:`true_parameters`). The leading underscore is deliberate: Parquet dataset
    readers (pyarrow, Dask) skip files starting with ``_`` but try to parse any other file, so a
    file named ``true_params.npz`` would break ``pyarrow.parquet.read_table(folder)``. Zarr readers
    that open the consolidated metadata (the default) never look at it; only listing the group
    without consolidated metadata warns that the file is not part of the hierarchy.

Atomicity
    The dataset is built in a hidden temporary sibling of the target (``.NAME.datagen~*.tmp``) and
    renamed into place at the end (:mod:`streamgmm.io.atomic`), so a crash or an interrupt never
    leaves a half-written dataset at the target path (a process killed with ``kill -9`` can leave
    the hidden temporary folder behind; the next generation of the same path on this machine
    removes it). With ``overwrite=True`` the old dataset is renamed aside, the new one renamed in and
    the old one swapped with the new one in one step where the system can (a reader sees the old
    or the new dataset), and the old one deleted.

Command line
    ``streamgmm datagen PATH --size 8GB --n-features 16 --n-components 8`` (see ``--help``;
    :mod:`streamgmm.cli.datagen`).

Modules
    :mod:`.sampling` the generating mixture and the rows of one chunk (numpy only);
    :mod:`.writers` the Zarr and Parquet writers and the true-parameter file;
    :mod:`.generate` :func:`generate_mixture_dataset` and :func:`true_parameters`;
    the command line is :mod:`streamgmm.cli.datagen`. The names below are the public interface.
"""

from __future__ import annotations

from ..sizes import parse_size
from .generate import DatasetInfo, default_chunk_rows, generate_mixture_dataset, true_parameters
from .writers import TRUE_PARAMS_FILENAME

__all__ = [
    "DatasetInfo",
    "TRUE_PARAMS_FILENAME",
    "default_chunk_rows",
    "generate_mixture_dataset",
    "parse_size",
    "true_parameters",
]
