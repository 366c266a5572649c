"""Model selection with shared passes: every candidate bitwise equal to its fit alone.

No Prefect here: ``streamgmm.selection`` and ``DaskRows.statistics_many`` are library
code. Small real Zarr/Parquet data (conftest), few iterations.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import streamgmm
from streamgmm.core.errors import InvalidInputError, InvalidParameterError
from streamgmm.core.estep import natural_form
from streamgmm.drivers.dask_rows import DaskRows
from streamgmm.reporting import evaluate_fit
from streamgmm.selection import Candidate, choose, evaluate_candidates, fit_candidates

CANDIDATES = [(k, t) for t in ("full", "diag") for k in (2, 3, 4)]
PARAMS = {"tol": 1e-4, "max_iter": 25, "random_state": 3, "init_sample_size": 2_000}
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _assert_bitwise_equal(shared: streamgmm.GaussianMixture, alone: streamgmm.GaussianMixture) -> None:
    for name in FITTED:
        np.testing.assert_array_equal(getattr(shared, name), getattr(alone, name), err_msg=name)
    assert shared.lower_bounds_ == alone.lower_bounds_
    assert (shared.n_iter_, shared.converged_, shared.lower_bound_) == (
        alone.n_iter_, alone.converged_, alone.lower_bound_,
    )


@pytest.mark.parametrize("n_init", [1, 2])
def test_shared_pass_equals_separate_fits_bitwise(small_zarr, n_init):
    passes = []
    models = fit_candidates(
        str(small_zarr), CANDIDATES, on_pass=passes.append, n_init=n_init, scheduler="threads",
        **PARAMS,
    )

    assert [(m.n_components, m.covariance_type) for m in models] == CANDIDATES
    for model in models:
        alone = clone(model).fit(str(small_zarr))  # same parameters, fitted on its own
        _assert_bitwise_equal(model, alone)
        assert model.n_features_in_ == 3 and list(model.feature_names_in_) == ["x0", "x1", "x2"]
    # One pass per EM iteration for all of them: as many passes as the longest fit (per
    # initialisation), and fits that converged dropped out of later passes.
    fits = len(CANDIDATES) * n_init
    assert len(passes[0].updates) == fits
    assert [p.number for p in passes] == list(range(1, len(passes) + 1))
    assert len(passes) == max(len(u[2].lower_bounds) for p in passes for u in p.updates)
    assert len(passes[-1].updates) < fits and passes[-1].n_running == 0
    assert {u[1] for u in passes[0].updates} == set(range(n_init))
    assert all(isinstance(u[0], Candidate) for u in passes[0].updates)


def test_shared_pass_on_parquet_drops_nan_rows_like_a_lone_fit(small_parquet):
    candidates = [(2, "spherical"), (3, "tied")]
    models = fit_candidates(
        str(small_parquet), candidates, nan_policy="drop", scheduler="synchronous", **PARAMS
    )
    for model in models:
        _assert_bitwise_equal(model, clone(model).fit(str(small_parquet)))
        assert model.n_invalid_rows_ == 2


def test_statistics_many_equals_statistics_per_model(small_zarr):
    rows = streamgmm.open_rows(str(small_zarr))
    models = [
        streamgmm.GaussianMixture(k, covariance_type=t, max_iter=2, random_state=0).fit(rows)
        for k, t in [(2, "full"), (3, "diag"), (4, "tied")]
    ]
    forms = [natural_form(m.parameters_, np.dtype(np.float32)) for m in models]
    driver = DaskRows(rows.array, where=rows.uri, scheduler="threads", reader=rows.reader)

    shared = driver.statistics_many(forms)

    assert driver.statistics_many([]) == []
    for form, stats in zip(forms, shared):
        alone = driver.statistics(form)
        for name in ("n", "s1", "s2", "shift"):
            np.testing.assert_array_equal(getattr(stats, name), getattr(alone, name))
        assert (stats.log_likelihood, stats.n_samples) == (alone.log_likelihood, alone.n_samples)


def test_evaluation_pass_matches_evaluate_fit_and_bic(small_parquet):
    models = fit_candidates(
        str(small_parquet), [(2, "full"), (3, "full")], nan_policy="drop", **PARAMS
    )
    shared = evaluate_candidates(models, str(small_parquet), fit_seconds=1.5)
    for model, metrics in zip(models, shared):
        alone = evaluate_fit(model, str(small_parquet), fit_seconds=1.5)
        assert metrics.n_samples == alone.n_samples == 6_000 - 2
        assert metrics.n_invalid_rows == 2 and metrics.fit_seconds == 1.5
        assert metrics.bic == pytest.approx(alone.bic, rel=1e-12)
        assert metrics.aic == pytest.approx(alone.aic, rel=1e-12)
        assert metrics.lower_bounds == tuple(model.lower_bounds_)


def test_choose_by_criterion_and_the_clear_winner(small_zarr):
    models = fit_candidates(str(small_zarr), [(k, "full") for k in (1, 2, 3, 4, 5)], **PARAMS)
    metrics = evaluate_candidates(models, str(small_zarr))
    assert models[choose(metrics, "bic")].n_components == 3  # the data's true K
    assert models[choose(metrics, "aic")].n_components >= 3
    bic = [m.bic for m in metrics]
    assert choose(metrics) == int(np.argmin(bic))
    with pytest.raises(InvalidParameterError, match="criterion='dic'.*bic, aic"):
        choose(metrics, "dic")


@pytest.mark.parametrize(
    ("candidates", "params", "error", "match"),
    [
        ([], {}, InvalidParameterError, "no candidates"),
        ([(2, "full"), (2, "full")], {}, InvalidParameterError, "K=2 full listed twice"),
        ([(0, "full")], {}, InvalidParameterError, "n_components must be an integer >= 1"),
        ([(2, "fulll")], {}, InvalidParameterError, "covariance_type must be one of"),
        ([3], {}, InvalidParameterError, r"\(n_components, covariance_type\) pairs"),
        ([(2, "full")], {"means_init": np.zeros((2, 3))}, InvalidParameterError, "means_init"),
        ([(2, "full")], {"n_components": 2}, InvalidParameterError, "set by each candidate"),
        ([(2, "full")], {"tol": -1.0}, InvalidParameterError, "tol=-1.0"),
        ([(7000, "full")], {}, InvalidInputError, "fewer than the components of candidate"),
    ],
)
def test_bad_candidates_and_parameters_are_named(small_zarr, candidates, params, error, match):
    with pytest.raises(error, match=match):
        fit_candidates(str(small_zarr), candidates, **params)


def test_in_memory_data_is_refused_with_the_way_out():
    with pytest.raises(InvalidInputError, match="dask.array.from_array"):
        fit_candidates(np.zeros((10, 2)), [(2, "full")])


def test_chunk_progress_counts_the_chunks_of_each_pass(small_zarr):
    from streamgmm.drivers.progress import ChunkProgress

    reports = []
    with ChunkProgress(lambda done, total, seconds: reports.append((done, total)), interval=0.0):
        fit_candidates(
            str(small_zarr), [(2, "full")], max_iter=1, random_state=0, scheduler="synchronous"
        )
    # Two passes (the initialisation sample, one EM iteration) over 6 chunks each.
    assert reports and all(total == 6 for _, total in reports)
    assert reports.count((6, 6)) == 4  # last chunk of each pass, then its end
    assert [done for done, _ in reports[:6]] == [1, 2, 3, 4, 5, 6]
