"""Fixtures for the out-of-core tests: real Zarr (v2 and v3) and Parquet datasets in tmp folders.

The datasets are written once per session by :mod:`streamgmm.io.datagen` (the project's own
bounded-memory generator): ``N_SAMPLES`` rows of a well separated ``N_COMPONENTS``-component
mixture in ``N_FEATURES`` dimensions, stored in chunks of ``CHUNK`` rows. ``N_SAMPLES`` is not a
multiple of ``CHUNK``, so the last chunk is shorter: every test also covers a ragged last chunk.
Tests must treat these datasets as read-only; a test that damages a dataset copies it first
(:func:`ooc_helpers.copy_dataset`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from ooc_helpers import CHUNK, N_COMPONENTS, N_FEATURES, N_SAMPLES, SEED

from streamgmm.io.datagen import generate_mixture_dataset

HERE = Path(__file__).resolve().parent

#: Warnings that are not what these tests are about: many fits run a fixed number of iterations
#: on purpose (``tol=0``); a LocalCluster's HTTP server falls back to another port when
#: something else on the machine holds 8787; zarr notes that consolidated metadata are not part
#: of the format 3 specification whenever they are written (datagen, xarray, write_predictions).
_QUIET = (
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Port .* is already in use:UserWarning",
    "ignore:Consolidated metadata is currently not part:UserWarning",
)


def pytest_collection_modifyitems(config, items):
    """Apply the filters to setup, call and teardown of the tests in this folder only."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            for spec in _QUIET:
                item.add_marker(pytest.mark.filterwarnings(spec))


def _generate(path: Path, **options) -> Path:
    info = generate_mixture_dataset(
        path,
        n_samples=N_SAMPLES,
        n_features=N_FEATURES,
        n_components=N_COMPONENTS,
        chunk_rows=CHUNK,
        dtype=options.pop("dtype", "float64"),
        seed=options.pop("seed", SEED),
        n_threads=1,
        **options,
    )
    return info.path


@pytest.fixture(scope="session")
def ooc_data(tmp_path_factory) -> Path:
    """Session folder holding the read-only datasets."""
    return tmp_path_factory.mktemp("ooc-data")


@pytest.fixture(scope="session")
def zarr3_path(ooc_data) -> Path:
    """Zarr format 3 group: ``X`` (N, D) float64 in row chunks of CHUNK, ``dimension_names``."""
    return _generate(ooc_data / "mixture-v3.zarr", zarr_format=3)


@pytest.fixture(scope="session")
def zarr2_path(ooc_data) -> Path:
    """The same data as a Zarr format 2 group (dimensions in ``_ARRAY_DIMENSIONS``)."""
    return _generate(ooc_data / "mixture-v2.zarr", zarr_format=2)


@pytest.fixture(scope="session")
def zarr3_float32_path(ooc_data) -> Path:
    """The same mixture stored as float32 (computed in float32, accumulated in float64)."""
    return _generate(ooc_data / "mixture-f32.zarr", zarr_format=3, dtype="float32")


@pytest.fixture(scope="session")
def parquet_path(ooc_data) -> Path:
    """Folder of Parquet files, one row group of CHUNK rows each; columns x0..x2 and ``label``."""
    return _generate(ooc_data / "mixture-parquet", format="parquet")


@pytest.fixture(scope="session")
def X(zarr3_path) -> np.ndarray:
    """The rows of the Zarr v3 dataset, in memory (the reference for in-memory fits)."""
    return np.asarray(zarr.open_group(str(zarr3_path), mode="r")["X"][:])


@pytest.fixture(scope="session")
def zarr_transposed_v2_path(ooc_data, X) -> Path:
    """Zarr format 2 group whose ``X`` is stored (feature, sample), told only by ``_ARRAY_DIMENSIONS``."""
    path = ooc_data / "transposed-v2.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = group.create_array(
        "X",
        shape=(N_FEATURES, N_SAMPLES),
        chunks=(N_FEATURES, CHUNK),
        dtype="float64",
        attributes={"_ARRAY_DIMENSIONS": ["feature", "sample"]},
    )
    array[:] = X.T
    return path
