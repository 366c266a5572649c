"""Fixtures of the fault-injection suite: a small real Zarr dataset, shared helpers.

The helpers of the out-of-core, registry and online tests (``ooc_helpers``,
``ooc_fit_process.py``, ``registry_helpers``, ``publisher_process.py``, ``online_helpers``) are reused, not copied: their folders are put
on the import path here (test folders are not packages).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for _folder in (HERE.parent / "ooc", HERE.parent / "registry", HERE.parent / "online"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

from ooc_helpers import CHUNK, N_COMPONENTS, N_FEATURES, N_SAMPLES, SEED  # noqa: E402

from streamgmm.io.datagen import generate_mixture_dataset  # noqa: E402

#: Not what these tests are about (see tests/ooc/conftest.py).
_QUIET = (
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Port .* is already in use:UserWarning",
    "ignore:Consolidated metadata is currently not part:UserWarning",
)


def pytest_collection_modifyitems(config, items):
    """Apply the filters to the tests of this folder only."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            for spec in _QUIET:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def zarr_data(tmp_path_factory) -> Path:
    """A read-only Zarr v3 group: ``X`` (N_SAMPLES, N_FEATURES) float64 in CHUNK-row chunks."""
    folder = tmp_path_factory.mktemp("fault-data")
    info = generate_mixture_dataset(
        folder / "mixture.zarr", n_samples=N_SAMPLES, n_features=N_FEATURES,
        n_components=N_COMPONENTS, chunk_rows=CHUNK, dtype="float64", seed=SEED, n_threads=1,
    )
    return info.path


@pytest.fixture(scope="session")
def other_zarr_data(tmp_path_factory) -> Path:
    """Same shape and chunking as ``zarr_data``, other values (another seed)."""
    folder = tmp_path_factory.mktemp("fault-other-data")
    info = generate_mixture_dataset(
        folder / "other.zarr", n_samples=N_SAMPLES, n_features=N_FEATURES,
        n_components=N_COMPONENTS, chunk_rows=CHUNK, dtype="float64", seed=SEED + 1, n_threads=1,
    )
    return info.path
