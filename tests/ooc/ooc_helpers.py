"""Constants and assertions shared by the out-of-core tests (imported by the test modules)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
from dask.callbacks import Callback

from streamgmm import GaussianMixture

N_SAMPLES = 2300  # not a multiple of CHUNK: the last chunk has 300 rows
N_FEATURES = 3
N_COMPONENTS = 3
CHUNK = 400
SEED = 11

#: Everything a fit produces that must agree between two fits.
FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_")


def estimator(**options) -> GaussianMixture:
    """A GaussianMixture with the tests' defaults: fixed seed, CHUNK rows, a fixed iteration count."""
    params = dict(
        n_components=N_COMPONENTS,
        random_state=0,
        chunk_size=CHUNK,
        max_iter=6,
        tol=0.0,
    )
    params.update(options)
    return GaussianMixture(**params)


def _describe_difference(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} vs {b.shape}"
    diff = np.abs(a - b)
    return f"max abs difference {diff.max():.3e} at {np.unravel_index(diff.argmax(), diff.shape)}"


def assert_same_model(got: GaussianMixture, expected: GaussianMixture, context: str) -> None:
    """Bitwise equality of every fitted array, the iteration count and convergence."""
    problems = []
    for name in FITTED_ARRAYS:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        if not (a.shape == b.shape and np.array_equal(a, b)):
            problems.append(f"{name} ({_describe_difference(a, b)})")
    if got.n_iter_ != expected.n_iter_:
        problems.append(f"n_iter_ ({got.n_iter_} vs {expected.n_iter_})")
    if got.converged_ != expected.converged_:
        problems.append(f"converged_ ({got.converged_} vs {expected.converged_})")
    assert not problems, f"{context}: not bitwise equal: " + "; ".join(problems)


def assert_models_close(got: GaussianMixture, expected: GaussianMixture, rtol: float, context: str) -> None:
    """Equality to rounding: relative to each array's largest magnitude."""
    for name in FITTED_ARRAYS:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        assert a.shape == b.shape, f"{context}: {name} shapes {a.shape} vs {b.shape}"
        scale = max(float(np.abs(b).max()), 1e-300)
        np.testing.assert_allclose(
            a, b, rtol=rtol, atol=rtol * scale, err_msg=f"{context}: {name} differs beyond rounding"
        )


def given_init(X: np.ndarray, covariance_type: str) -> dict:
    """weights_init, means_init and precisions_init from a few rows (no data-driven init pass)."""
    rows = np.linspace(0, len(X) - 1, N_COMPONENTS).astype(int)
    means = X[rows] + 0.05
    weights = np.array([0.2, 0.5, 0.3])[:N_COMPONENTS]
    weights = weights / weights.sum()
    cov = np.cov(X, rowvar=False) / N_COMPONENTS
    precision = np.linalg.inv(cov)
    precisions = {
        "full": np.stack([precision] * N_COMPONENTS),
        "tied": precision,
        "diag": np.tile(1.0 / np.diag(cov), (N_COMPONENTS, 1)),
        "spherical": np.full(N_COMPONENTS, 1.0 / np.mean(np.diag(cov))),
    }[covariance_type]
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def copy_dataset(source: Path, target: Path) -> Path:
    """A private copy of a read-only session dataset (for tests that damage it)."""
    shutil.copytree(source, target)
    return target


def zarr_chunk_file(store: Path, array: str, row_chunk: int) -> Path:
    """The file of row chunk ``row_chunk`` of a 2-D (sample, feature) array in a v2 or v3 store."""
    v3 = store / array / "c" / str(row_chunk) / "0"
    v2 = store / array / f"{row_chunk}.0"
    if v3.exists():
        return v3
    if v2.exists():
        return v2
    raise FileNotFoundError(f"no chunk file for row chunk {row_chunk} of {array} in {store}")


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (to prove nothing was touched)."""
    digests = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


class Interrupted(Exception):
    """Raised by :class:`StopAfter`: an in-process interruption of a fit."""


class StopAfter(Callback):
    """Raise :class:`Interrupted` at the start of Dask compute number ``n + 1``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.remaining = n

    def _start(self, dsk) -> None:
        if self.remaining == 0:
            raise Interrupted("interrupted by the test")
        self.remaining -= 1


class CountComputes(Callback):
    """Counts Dask computes (passes over the data)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk) -> None:
        self.count += 1
