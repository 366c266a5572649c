"""BayesianGaussianMixture out of core: the same model as in memory, on any scheduler.

A Zarr store written by the test, a Dask array on a real two-worker
``distributed.LocalCluster``; a checkpointed fit interrupted mid-way resumes to the
uninterrupted model; integer sample weights equal repeated rows; float32 compute is
close to float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster
from ooc_helpers import CountComputes, Interrupted, StopAfter

from streamgmm import BayesianGaussianMixture

CHUNK = 400
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_",
          "degrees_of_freedom_", "mean_prior_", "covariance_prior_", "lower_bounds_")


def _model(**options) -> BayesianGaussianMixture:
    params = dict(n_components=6, random_state=0, chunk_size=CHUNK, max_iter=8, tol=0.0)
    params.update(options)
    return BayesianGaussianMixture(**params)


def assert_same(got, expected, context: str) -> None:
    for name in FITTED:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        assert np.array_equal(a, b), f"{context}: {name} differs (max {np.abs(a - b).max():.3e})"
    for a, b in zip(got.weight_concentration_, expected.weight_concentration_):
        assert np.array_equal(a, b), f"{context}: weight_concentration_ differs"
    assert got.n_iter_ == expected.n_iter_


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -2.0]])
    rng = np.random.default_rng(17)
    rows = np.vstack([rng.normal(c, 1.0, size=(767, 3)) for c in centres])
    return rows[:2300] + 50.0  # a ragged last chunk


@pytest.fixture(scope="module")
def zarr_path(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("bgm") / "rows.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array("X", shape=X.shape, chunks=(CHUNK, X.shape[1]), dtype="float64",
                               dimension_names=["sample", "feature"])
    array[:] = X
    return path


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_zarr_on_threads_and_a_cluster_equals_in_memory(X, zarr_path, client, covariance_type):
    in_memory = _model(covariance_type=covariance_type).fit(X)
    threads = _model(covariance_type=covariance_type, scheduler="threads").fit(str(zarr_path))
    cluster = _model(covariance_type=covariance_type, scheduler=client).fit(str(zarr_path))
    assert_same(threads, in_memory, "Zarr on threads vs in memory")
    assert_same(cluster, threads, "Zarr on a LocalCluster vs threads")


def test_dask_array_on_a_cluster_equals_threads(X, client):
    import dask.array as da

    rows = da.from_array(X, chunks=(CHUNK, 3))
    threads = _model(covariance_type="tied", scheduler="threads").fit(rows)
    cluster = _model(covariance_type="tied", scheduler=client).fit(rows)
    assert_same(cluster, threads, "Dask array on a LocalCluster vs threads")
    np.testing.assert_allclose(cluster.predict_proba(rows).compute(), threads.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_an_interrupted_checkpointed_fit_resumes_to_the_same_model(zarr_path, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    uninterrupted = _model(scheduler="synchronous").fit(str(zarr_path))
    # reference sample + moments + initialisation sample + 3 iterations
    with pytest.raises(Interrupted), StopAfter(6):
        _model(scheduler="synchronous").fit(str(zarr_path), checkpoint=checkpoint)
    with CountComputes() as computes:
        resumed = _model(scheduler="threads").fit(str(zarr_path), checkpoint=checkpoint)
    assert computes.count == 2 + (8 - 3), "the priors' two passes, then the 5 remaining iterations"
    assert_same(resumed, uninterrupted, "resumed after an interruption")


def test_integer_sample_weights_equal_repeated_rows(X):
    rng = np.random.default_rng(2)
    weights = rng.integers(0, 4, size=len(X))
    resp = rng.dirichlet(np.ones(4), size=len(X))
    params = dict(n_components=4, max_iter=15, tol=0.0, covariance_type="full")
    weighted = BayesianGaussianMixture(responsibilities_init=resp, **params).fit(X, sample_weight=weights)
    repeated = BayesianGaussianMixture(responsibilities_init=np.repeat(resp, weights, axis=0),
                                       **params).fit(np.repeat(X, weights, axis=0))
    for name in FITTED:
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-9,
                                   err_msg=name)


def test_float32_is_close_to_float64(X):
    resp = np.random.default_rng(4).dirichlet(np.ones(4), size=len(X))
    params = dict(n_components=4, max_iter=15, tol=0.0, covariance_type="full", responsibilities_init=resp)
    f64 = BayesianGaussianMixture(**params).fit(X)
    f32 = BayesianGaussianMixture(dtype="float32", **params).fit(X.astype(np.float32))
    np.testing.assert_allclose(f32.means_, f64.means_, rtol=1e-5)
    np.testing.assert_allclose(f32.covariances_, f64.covariances_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(f32.lower_bounds_, f64.lower_bounds_, rtol=1e-4)
    assert f32.means_.dtype == np.float64
