"""Fixtures for the flow tests: small real datasets and configs.

The session's one Prefect test server (``prefect_harness``) and ``prefect_home`` are
in ``tests/conftest.py``, shared with the examples.

- ``small_zarr`` / ``small_parquet``: real datasets written once per session by
  ``streamgmm.io.datagen`` (6,000 x 3 rows, 3 components, chunks of 1,000 rows; the
  Parquet one has two NaN rows). Tests must not modify them.
- ``write_config``: writes a YAML config into a test's tmp folder;
  ``batch_fit_document`` / ``select_k_document`` / ``score_document`` build configs
  with small-test defaults.
- ``published_registry``: a registry (session-wide, read-only for tests) holding model
  ``small`` fitted on ``small_zarr``: version 1 (K=3, alias ``production``) and
  version 2 (K=2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamgmm.io.datagen import generate_mixture_dataset

N_SAMPLES, N_FEATURES, N_COMPONENTS, CHUNK_ROWS, SEED = 6_000, 3, 3, 1_000, 11
NAN_ROWS = (17, 4321)

@pytest.fixture(scope="session")
def small_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 x 3 float32 rows in a Zarr v3 group (array ``X``), 6 chunks."""
    path = tmp_path_factory.mktemp("data") / "small.zarr"
    generate_mixture_dataset(
        path, n_samples=N_SAMPLES, n_features=N_FEATURES, n_components=N_COMPONENTS,
        chunk_rows=CHUNK_ROWS, seed=SEED, separation=5.0,
    )
    return path


@pytest.fixture(scope="session")
def small_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of rows as a folder of 6 Parquet files, with two NaN rows."""
    path = tmp_path_factory.mktemp("data") / "small-parquet"
    generate_mixture_dataset(
        path, n_samples=N_SAMPLES, n_features=N_FEATURES, n_components=N_COMPONENTS,
        chunk_rows=CHUNK_ROWS, seed=SEED + 1, separation=5.0, format="parquet",
        dtype="float64", nan_rows=list(NAN_ROWS),
    )
    return path


def _batch_fit_document(data: dict[str, Any], **sections: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "data": data,
        "model": {
            "n_components": N_COMPONENTS,
            "covariance_type": "full",
            "tol": 1e-5,
            "max_iter": 50,
            "seed": 3,
            "init_sample_size": 2_000,
        },
        "compute": {"scheduler": "threads", "n_workers": 2},
        "registry": {"root": "registry", "model": "small", "aliases": ["candidate"]},
        "outputs": {"predictions": "predictions.zarr", "reports": "reports"},
    }
    document.update(sections)
    return document


@pytest.fixture
def batch_fit_document() -> Callable[..., dict[str, Any]]:
    """``batch_fit_document(data, **sections)``: a config mapping with small-test defaults.

    Relative paths in it (registry, predictions, reports) land next to the YAML file.
    """
    return _batch_fit_document


def _select_k_document(data: dict[str, Any], **sections: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "data": data,
        "model": {
            "n_components": [2, 3, 4],
            "covariance_type": ["full", "diag"],
            "tol": 1e-4,
            "max_iter": 25,
            "seed": 3,
            "init_sample_size": 2_000,
        },
        "selection": {"criterion": "bic"},
        "compute": {"scheduler": "threads", "n_workers": 2},
        "registry": {"root": "registry", "model": "small-selected", "aliases": ["candidate"]},
        "outputs": {"reports": "reports"},
    }
    document.update(sections)
    return document


@pytest.fixture
def select_k_document() -> Callable[..., dict[str, Any]]:
    """``select_k_document(data, **sections)``: a select_k config mapping for small tests."""
    return _select_k_document


@pytest.fixture(scope="session")
def published_registry(tmp_path_factory: pytest.TempPathFactory, small_zarr: Path) -> Path:
    """A registry with model ``small``: v1 K=3 full (alias production), v2 K=2 diag."""
    import streamgmm
    from streamgmm.registry import ModelRegistry

    root = tmp_path_factory.mktemp("published") / "registry"
    registry = ModelRegistry(root)
    rows = streamgmm.open_rows(str(small_zarr))
    for k, covariance_type, aliases in ((3, "full", ["production"]), (2, "diag", [])):
        model = streamgmm.GaussianMixture(
            k, covariance_type=covariance_type, max_iter=20, random_state=0
        ).fit(rows)
        registry.publish(
            "small", model.parameters_, feature_names=rows.feature_names,
            training_config={"job": "test", "model": {"dtype": None}}, aliases=aliases,
        )
    return root


def _score_document(data: dict[str, Any], registry_root: Path, **sections: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "data": data,
        "registry": {"root": str(registry_root), "model": "small", "version": "production"},
        "compute": {"scheduler": "threads", "n_workers": 2},
        "outputs": {"predictions": "scores.zarr"},
    }
    document.update(sections)
    return document


@pytest.fixture
def score_document() -> Callable[..., dict[str, Any]]:
    """``score_document(data, registry_root, **sections)``: a score config for small tests."""
    return _score_document


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(document, name="batch_fit.yaml")`` -> the YAML file in tmp_path."""

    def write(document: dict[str, Any], name: str = "batch_fit.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    return write
