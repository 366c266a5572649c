"""The fit engine: the Driver contract, the one factory, the one fit, the update rule.

Real data on real storage (a Zarr store in ``tmp_path``); the references are
the estimator's own fits, compared bit for bit.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm import GaussianMixture
from streamgmm.core.errors import InvalidInputError, InvalidParameterError, StreamGMMError
from streamgmm.core.estep import natural_form
from streamgmm.core.family import MaximumLikelihood
from streamgmm.core.mstep import MStepResult, maximise
from streamgmm.core.params import MixtureParameters
from streamgmm.core.stepwise import start_from_parameters
from streamgmm.drivers.dask_rows import DaskRows
from streamgmm.drivers.in_memory import ChunkedArray
from streamgmm.engine import (
    Checkpointing,
    Driver,
    DriverOptions,
    FitPlan,
    MixtureSpec,
    WarmStart,
    fit,
    open_driver,
)
from streamgmm.online.model import OnlineModel, default_model_factory

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _rows(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 6.0, 6.0]])
    return rng.randn(n, 3) + centres[rng.randint(3, size=n)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, str]:
    X = _rows()
    path = str(tmp_path_factory.mktemp("engine") / "rows.zarr")
    da.from_array(X, chunks=(700, 3)).to_zarr(path)
    return X, path


# ------------------------------------------------------------------------ driver contract
def test_both_drivers_satisfy_the_driver_protocol(store: tuple[np.ndarray, str]) -> None:
    X, path = store
    with open_driver(X, options=DriverOptions(chunk_size=700)).driver as in_memory:
        assert isinstance(in_memory, ChunkedArray) and isinstance(in_memory, Driver)
        assert not in_memory.out_of_core and in_memory.persisted is None
    with open_driver(path).driver as out_of_core:
        assert isinstance(out_of_core, DaskRows) and isinstance(out_of_core, Driver)
        assert out_of_core.out_of_core and out_of_core.where == path
    for driver in (in_memory, out_of_core):
        assert (driver.n_samples, driver.n_features, driver.dtype) == (3000, 3, np.float64)
        assert driver.n_invalid_rows == 0


def test_both_drivers_give_bitwise_the_same_passes_on_the_same_chunking(
    store: tuple[np.ndarray, str],
) -> None:
    X, path = store
    params = GaussianMixture(3, covariance_type="diag", random_state=0, max_iter=2).fit(X).parameters_
    forms = [natural_form(params, np.dtype(np.float64))] * 2
    with open_driver(X, options=DriverOptions(chunk_size=700)).driver as a, \
            open_driver(path).driver as b:
        for driver in (a, b):
            single = driver.statistics(forms[0])
            for many in driver.statistics_many(forms):
                assert np.array_equal(many.s1, single.s1) and np.array_equal(many.n, single.n)
        assert np.array_equal(a.statistics(forms[0]).s2, b.statistics(forms[0]).s2)
        assert np.array_equal(a.init_sample(500, 3)[0], b.init_sample(500, 3)[0])
        sums_a, n_a = a.log_likelihood_many(forms)
        sums_b, n_b = b.log_likelihood_many(forms)
        assert n_a == n_b == 3000
        np.testing.assert_allclose(sums_a, sums_b, rtol=1e-12)
        labels = b.compute(b.labels(forms[0]))[0]
        assert np.array_equal(a.labels(forms[0]), labels)


def test_the_factory_applies_the_nan_policy_in_memory() -> None:
    X = _rows(200)
    X[[5, 50]] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        open_driver(X)
    driver = open_driver(X, options=DriverOptions(nan_policy="drop")).driver
    assert (driver.n_samples, driver.n_invalid_rows) == (198, 2)


def test_the_factory_records_feature_names_of_a_dataframe() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(_rows(100), columns=["a", "b", "c"])
    assert open_driver(frame).driver.feature_names == ["a", "b", "c"]
    assert open_driver(frame.to_numpy()).driver.feature_names is None


# ---------------------------------------------------------------------------------- fit
def _spec(covariance_type: str, k: int = 3) -> MixtureSpec:
    return MixtureSpec(n_components=k, covariance_type=covariance_type)


PLAN = FitPlan(n_init=2, random_state=4, tol=1e-6, max_iter=40)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_engine_fit_is_the_estimators_fit(covariance_type: str) -> None:
    X = _rows()
    estimator = GaussianMixture(3, covariance_type=covariance_type, n_init=2, random_state=4,
                                tol=1e-6, max_iter=40, chunk_size=700).fit(X)
    with open_driver(X, options=DriverOptions(chunk_size=700)).driver as driver:
        state = fit(driver, _spec(covariance_type), PLAN).state
    assert np.array_equal(state.params.means, estimator.means_)
    assert np.array_equal(state.params.covariances, estimator.covariances_)
    assert list(state.lower_bounds) == estimator.lower_bounds_


def test_shared_passes_end_where_each_lone_fit_ends_in_memory_too() -> None:
    X = _rows()
    specs = [_spec(c, k) for c, k in (("full", 2), ("diag", 3), ("spherical", 4))]
    with open_driver(X, options=DriverOptions(chunk_size=700)).driver as driver:
        passes = []
        shared = fit(driver, specs, PLAN, on_pass=passes.append).states
        lone = [fit(driver, spec, PLAN).state for spec in specs]
    for a, b in zip(shared, lone):
        assert np.array_equal(a.params.precisions_cholesky, b.params.precisions_cholesky)
        assert a.lower_bounds == b.lower_bounds
    assert passes and passes[-1].n_running == 0
    assert len(passes) >= max(b.n_iter for b in lone)  # one pass per iteration of the slowest fit


def test_the_update_rule_is_a_parameter_of_the_family() -> None:
    X = _rows()
    calls = []

    def equal_weights(stats, reg_covar, previous=None, *, step="the M-step") -> MStepResult:
        calls.append(stats.weight_sum)
        result = maximise(stats, reg_covar, previous=previous, step=step)
        p = result.params
        k = p.n_components
        params = MixtureParameters(np.full(k, 1 / k), p.means, p.covariances,
                                   p.precisions_cholesky, p.covariance_type)
        return MStepResult(params=params, empty_components=result.empty_components)

    with open_driver(X).driver as driver:
        default = fit(driver, _spec("full"), PLAN).state
        explicit = fit(driver, _spec("full"), replace(PLAN, family=MaximumLikelihood(update_rule=maximise))).state
        custom_plan = replace(PLAN, family=MaximumLikelihood(update_rule=equal_weights))
        custom = fit(driver, _spec("full"), custom_plan).state
        shared = fit(driver, [_spec("full"), _spec("diag")], custom_plan).states
    assert np.array_equal(default.params.means, explicit.params.means)
    assert np.array_equal(custom.params.weights, np.full(3, 1 / 3))
    assert all(np.array_equal(s.params.weights, np.full(3, 1 / 3)) for s in shared)
    assert len(calls) >= custom.n_iter + sum(s.n_iter for s in shared)


def test_shared_fits_refuse_a_checkpoint_or_a_warm_start(tmp_path: Path) -> None:
    X = _rows(300)
    with open_driver(X).driver as driver:
        start = fit(driver, _spec("diag"), FitPlan(max_iter=2)).state
        with pytest.raises(InvalidParameterError, match="one mixture"):
            fit(driver, [_spec("diag")], PLAN, warm_start=WarmStart(start.params, start.lower_bound))
        with pytest.raises(InvalidParameterError, match="one mixture"):
            fit(driver, [_spec("diag")], PLAN, checkpoint=Checkpointing(tmp_path, lambda: "key"))
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_too_few_rows_name_the_candidates(store: tuple[np.ndarray, str]) -> None:
    with open_driver(_rows(5)).driver as driver:
        with pytest.raises(InvalidInputError, match="K=8 full"):
            fit(driver, [_spec("full", 2), _spec("full", 8)], PLAN)
        with pytest.raises(InvalidInputError, match="Expected n_samples >= n_components"):
            fit(driver, _spec("full", 8), PLAN)


def test_the_convergence_warning_points_at_the_users_call() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixture(3, max_iter=1, random_state=0).fit(_rows(500))
    (warning,) = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert warning.filename == __file__


# ------------------------------------------------------------------------ online, registry
def test_the_estimator_is_the_stream_runners_online_model() -> None:
    X = _rows(2000)
    fitted = GaussianMixture(3, random_state=0).fit(X)
    online = start_from_parameters(fitted.parameters_)
    model = default_model_factory()(online, {"n_components": 3, "random_state": 0})
    assert isinstance(model, OnlineModel) and model.warmed_up
    scores, resp = model.partial_fit_scored(X[:200], responsibilities=True)
    assert scores.shape == (200,) and resp.shape == (200, 3) and model.n_steps_ == 1
    fresh = default_model_factory()(None, {"n_components": 3})
    assert isinstance(fresh, GaussianMixture) and not fresh.warmed_up


def test_registry_errors_live_in_the_registry_and_at_the_top() -> None:
    import streamgmm.core.errors as core_errors
    import streamgmm.registry.errors as registry_errors

    for name in ("RegistryError", "ModelNotFoundError", "ArtifactIntegrityError",
                 "UnsupportedSchemaVersionError", "ReadOnlyRegistryError",
                 "RegistryLockTimeoutError"):
        error = getattr(registry_errors, name)
        assert getattr(streamgmm, name) is error and issubclass(error, StreamGMMError)
        assert not hasattr(core_errors, name)
