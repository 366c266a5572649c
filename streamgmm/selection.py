"""Choosing the number of components (and the covariance type) by BIC or AIC, out of core.

>>> from streamgmm.selection import choose, evaluate_candidates, fit_candidates
>>> candidates = [(k, "full") for k in (2, 4, 8)]                         # doctest: +SKIP
>>> models = fit_candidates("data/big.zarr", candidates, random_state=0)  # doctest: +SKIP
>>> metrics = evaluate_candidates(models, "data/big.zarr")                # doctest: +SKIP
>>> best = models[choose(metrics, "bic")]                                 # doctest: +SKIP
>>> dp = fit_variational("data/big.zarr", 8, "full", random_state=0)     # doctest: +SKIP
>>> dp.n_active_components_         # beside best.n_components           # doctest: +SKIP

Every candidate is fitted to the same rows with the passes over the data
shared: all candidates start from one bounded initialisation sample (drawn in
one pass per initialisation), then one Dask pass per EM iteration computes the
statistics of every candidate still running, reading each chunk once.
Candidates converge at their own pace and drop out of later passes. Each
candidate ends bitwise where
``GaussianMixture(n_components=k, covariance_type=c, **params).fit(X)`` ends
for an integer ``random_state``: the same initialisation, the same iterations,
the same reduction order. The evaluation (log-likelihood under the final
parameters, for BIC and AIC) is one more pass, shared too.

:func:`fit_variational` gives the other answer to the same question: a
Dirichlet-process mixture fitted once with the largest K, whose components the
data do not need are switched off; its ``n_active_components_`` can be set
beside the criterion's choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .core.covariance import COVARIANCE_TYPES
from .core.em import EMState
from .core.errors import InvalidInputError, InvalidParameterError
from .core.variational import DEFAULT_WEIGHT_THRESHOLD
from .bayesian import BayesianGaussianMixture
from .core.estep import natural_form
from .engine import DriverOptions, PassReport, fit, open_driver
from .estimator import GaussianMixture
from .io.detect import is_out_of_core
from .reporting.metrics import FitMetrics, metrics_from_log_likelihood
from .validation import check_estimator_parameters, resolve_dtype

__all__ = [
    "CRITERIA",
    "Candidate",
    "SelectionPass",
    "choose",
    "evaluate_candidates",
    "fit_candidates",
    "fit_variational",
]

#: Information criteria a selection can use (lower is better for both).
CRITERIA = ("bic", "aic")

# Initial parameters are per candidate (their shapes differ), and a warm start has
# no previous fit to start from: neither fits a selection.
_UNSUPPORTED = ("weights_init", "means_init", "precisions_init", "warm_start")


class Candidate(NamedTuple):
    """One mixture to try: K and the covariance type."""

    n_components: int
    covariance_type: str

    @property
    def label(self) -> str:
        """``"K=4 full"``: how progress lines and reports name it."""
        return f"K={self.n_components} {self.covariance_type}"


@dataclass(frozen=True)
class SelectionPass:
    """Progress after one shared EM pass (given to ``fit_candidates``'s ``on_pass``).

    Attributes
    ----------
    number : int
        EM passes over the data so far.
    updates : tuple of (Candidate, int, EMState, float)
        Every fit the pass advanced: its candidate, its initialisation (0-based),
        its new state and the change of its lower bound (``inf`` the first time).
    n_running : int
        Fits still running.
    """

    number: int
    updates: tuple[tuple[Candidate, int, EMState, float], ...]
    n_running: int


def _check_candidates(candidates: Sequence[Any]) -> list[Candidate]:
    checked = []
    for item in candidates:
        try:
            k, covariance_type = item
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"candidate {item!r} is invalid: give (n_components, covariance_type) pairs"
            ) from None
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidParameterError(
                f"candidate {item!r} is invalid: n_components must be an integer >= 1"
            )
        if covariance_type not in COVARIANCE_TYPES:
            raise InvalidParameterError(
                f"candidate {item!r} is invalid: covariance_type must be one of "
                f"{', '.join(COVARIANCE_TYPES)}"
            )
        checked.append(Candidate(int(k), str(covariance_type)))
    if not checked:
        raise InvalidParameterError("no candidates: give at least one (n_components, covariance_type)")
    repeated = sorted({c.label for c in checked if checked.count(c) > 1})
    if repeated:
        raise InvalidParameterError(f"candidate(s) {', '.join(repeated)} listed twice; list each once")
    return checked


def _fitted_model(state: EMState, feature_names: Sequence[str] | None, n_invalid_rows: int,
                  estimator_params: dict[str, Any], data_dtype: np.dtype) -> GaussianMixture:
    """A fitted estimator as ``GaussianMixture(...).fit(rows)`` leaves it (attributes in
    the compute dtype of rows of ``data_dtype``)."""
    model = GaussianMixture.from_parameters(state.params, **estimator_params)
    model._set_fitted(state.params, resolve_dtype(model.dtype, data_dtype))
    model.converged_ = bool(state.converged)
    model.n_iter_ = int(state.n_iter)
    model.lower_bound_ = float(state.lower_bound)
    model.lower_bounds_ = list(state.lower_bounds)
    model.n_invalid_rows_ = int(n_invalid_rows)
    if feature_names is not None:
        model.feature_names_in_ = np.asarray(feature_names, dtype=object)
    return model


def fit_candidates(
    X: Any,
    candidates: Sequence[tuple[int, str]],
    *,
    on_pass: Callable[[SelectionPass], None] | None = None,
    **estimator_params: Any,
) -> list[GaussianMixture]:
    """Fit every candidate mixture to out-of-core data, sharing each pass between them.

    Parameters
    ----------
    X : RowData, path, URL, Dask/xarray/zarr array
        Out-of-core data, as :func:`streamgmm.open_rows` accepts (for an array in
        memory, wrap it: ``dask.array.from_array(X, chunks=...)``).
    candidates : sequence of (int, str)
        ``(n_components, covariance_type)`` of each mixture to fit.
    on_pass : callable, optional
        Called with a :class:`SelectionPass` after every EM pass (progress).
    **estimator_params
        Any other :class:`~streamgmm.GaussianMixture` parameter (``tol``,
        ``max_iter``, ``n_init``, ``random_state``, ``dtype``, ``nan_policy``,
        ``scheduler``, ``persist``, ...), the same for every candidate; not the initial
        parameters nor ``warm_start``.

    Returns
    -------
    list of GaussianMixture
        One fitted estimator per candidate, in order; its ``get_params()`` are the
        candidate's, so ``clone(model).fit(X)`` refits it alone (bitwise the same
        for an integer ``random_state``).

    Raises
    ------
    InvalidParameterError
        Bad candidates or parameters (named).
    InvalidInputError
        In-memory data, or fewer rows than a candidate's components.
    """
    checked = _check_candidates(candidates)
    for name in ("n_components", "covariance_type"):
        if name in estimator_params:
            raise InvalidParameterError(f"{name} is set by each candidate; do not pass it")
    given = [
        name for name in _UNSUPPORTED
        if estimator_params.get(name) is not None and estimator_params.get(name) is not False
    ]
    if given:
        raise InvalidParameterError(
            f"{', '.join(given)} cannot be used to fit candidates; each candidate is "
            "initialised from the data"
        )
    prototypes = [
        GaussianMixture(n_components=c.n_components, covariance_type=c.covariance_type,
                        **estimator_params)
        for c in checked
    ]
    for prototype in prototypes:
        check_estimator_parameters(prototype.get_params())
    first = prototypes[0]
    if not is_out_of_core(X):
        raise InvalidInputError(
            "fit_candidates reads out-of-core data (a Zarr/Parquet path, RowData or a Dask "
            "array); wrap an in-memory array with dask.array.from_array(X, chunks=...)"
        )
    def report(shared: PassReport) -> None:
        if on_pass is not None:
            updates = tuple((checked[m], init, state, change)
                            for m, init, state, change in shared.updates)
            on_pass(SelectionPass(shared.number, updates, shared.n_running))

    # Every candidate is fitted as its own estimator would fit it alone.
    mixtures = [prototype._mixture_spec() for prototype in prototypes]
    with open_driver(X, None, first._driver_options()).driver as driver:
        result = fit(driver, mixtures, first._fit_plan(), on_pass=report, stacklevel=2)
    return [_fitted_model(state, driver.feature_names, result.n_invalid_rows, estimator_params,
                          driver.dtype)
            for state in result.states]


def evaluate_candidates(
    models: Sequence[GaussianMixture], X: Any, *, fit_seconds: float = 0.0, scheduler: Any = None
) -> list[FitMetrics]:
    """Metrics (log-likelihood under the final parameters, BIC, AIC) of every model, in one pass.

    The numbers are those of :func:`streamgmm.reporting.evaluate_fit` for each
    model, up to the order of the floating-point sum; rows with NaN or infinite
    values are left out.

    Parameters
    ----------
    models : sequence of GaussianMixture
        Fitted, with the same number of features as X.
    X : RowData, path, URL, Dask/xarray/zarr array
        The data they were fitted on.
    fit_seconds : float
        Recorded in every model's metrics (the wall time of the shared fit).
    scheduler : optional
        Dask scheduler for the pass.
    """
    options = DriverOptions(nan_policy="drop", scheduler=scheduler)
    with open_driver(X, None, options).driver as driver:
        wrong = [i for i, m in enumerate(models) if m.n_features_in_ != driver.n_features]
        if wrong:
            raise InvalidInputError(
                f"{driver.where} has {driver.n_features} features, but model(s) {wrong} expect "
                f"{models[wrong[0]].n_features_in_}"
            )
        forms = [natural_form(m.parameters_, resolve_dtype(m.dtype, driver.dtype)) for m in models]
        sums, n_valid = driver.log_likelihood_many(forms)
    return [
        metrics_from_log_likelihood(m, float(total), n_valid, fit_seconds=fit_seconds)
        for m, total in zip(models, sums)
    ]


def choose(metrics: Sequence[FitMetrics], criterion: str = "bic") -> int:
    """Index of the candidate with the lowest criterion (ties: fewer parameters, then first).

    Raises
    ------
    InvalidParameterError
        An unknown criterion.
    ValueError
        No candidate has a finite criterion.
    """
    if criterion not in CRITERIA:
        raise InvalidParameterError(
            f"criterion={criterion!r} is invalid: choose one of {', '.join(CRITERIA)}"
        )
    values = [getattr(m, criterion) for m in metrics]
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        raise ValueError(f"no candidate has a finite {criterion.upper()}; check the data and fits")
    return min(finite, key=lambda i: (values[i], metrics[i].n_parameters, i))


def fit_variational(
    X: Any,
    n_components: int,
    covariance_type: str,
    *,
    weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD,
    **estimator_params: Any,
) -> BayesianGaussianMixture:
    """A Dirichlet-process mixture with ``n_components`` as the upper bound, fitted to X.

    The variational counterpart of a selection by BIC or AIC: fitted once, with
    more components than needed, it switches off those the data do not need, and
    ``n_active_components_`` (expected weight >= ``weight_threshold``) is its
    choice of K.

    Parameters
    ----------
    X : array-like, RowData, path, URL, Dask/xarray/zarr array
        The data, in memory or out of core.
    n_components : int
        The upper bound on K (the largest candidate, usually).
    covariance_type : str
    weight_threshold : float in [0, 1), default 0.01
    **estimator_params
        Any other :class:`~streamgmm.BayesianGaussianMixture` parameter (``tol``,
        ``max_iter``, ``random_state``, ``dtype``, ``scheduler``, priors, ...), except
        ``weight_concentration_prior_type``, which is the Dirichlet process.

    Returns
    -------
    BayesianGaussianMixture
        Fitted.
    """
    if "weight_concentration_prior_type" in estimator_params:
        raise InvalidParameterError(
            "weight_concentration_prior_type is the Dirichlet process here; do not pass it "
            "(fit BayesianGaussianMixture directly for a Dirichlet distribution prior)"
        )
    model = BayesianGaussianMixture(
        n_components, covariance_type=covariance_type,
        weight_concentration_prior_type="dirichlet_process",
        weight_threshold=weight_threshold, **estimator_params,
    )
    return model.fit(X)
