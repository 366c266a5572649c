"""The fit: seeds, initialisations, best-of, checkpoints, convergence and warnings.

One function, :func:`fit`, for one mixture (a lone fit, as
``GaussianMixture.fit``) or for many mixtures sharing every pass over the data
(model selection, as :func:`streamgmm.selection.fit_candidates`). Underneath,
:func:`streamgmm.core.em.run_em` is the per-iteration loop; the mixture family
(:class:`FitPlan.family`, a :class:`~streamgmm.core.family.MixtureFamily`:
maximum likelihood by default, or variational) supplies the E-step's form, the
update, the lower bound, the first state and the checkpointed arrays.

A lone fit runs its ``n_init`` initialisations one after the other (a
checkpoint records the one in progress; ``verbose`` prints as scikit-learn
does). Many mixtures run every (initialisation, mixture) pair together, one
shared pass per iteration (:mod:`streamgmm.engine.shared`). Either way each
mixture's iterations are exactly those of its lone fit: the same seeds, the same
sample, the same statistics; bitwise the same model.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..core.em import EMState, run_em
from ..core.errors import InvalidInputError, InvalidParameterError
from ..core.family import MAXIMUM_LIKELIHOOD, MixtureFamily
from ..core.params import MixtureParameters
from ..core.statistics import SufficientStatistics
from ..drivers.checkpoint import CheckpointRecord, FitCheckpoint
from ..drivers.in_memory import single_threaded_blas
from ..validation import resolve_dtype
from .driver import Driver
from .report import VerboseReport
from .shared import SharedPass, run_shared_em
from .start import MixtureSpec, init_seeds, initial_states

__all__ = ["Checkpointing", "FitPlan", "FitResult", "PassReport", "WarmStart", "check_sizes", "fit"]


@dataclass(frozen=True, kw_only=True)
class FitPlan:
    """How to fit, the same for every mixture of one call.

    Attributes
    ----------
    tol, reg_covar, max_iter, n_init, random_state, init_sample_size
        As in scikit-learn's ``GaussianMixture`` (``max_iter`` per initialisation);
        ``init_sample_size=None`` initialises on every row exactly as scikit-learn
        does (see :mod:`streamgmm.engine.start`).
    dtype : {"float32", "float64"} or None
        Compute dtype of each tile of rows; None follows the data's dtype.
    family : MixtureFamily
        The kind of mixture: maximum likelihood (``GaussianMixture``, the default) or
        :class:`~streamgmm.core.family.Variational` (``BayesianGaussianMixture``).
    verbose, verbose_interval : int
        Progress lines of a lone fit.
    """

    tol: float = 1e-3
    reg_covar: float = 1e-6
    max_iter: int = 100
    n_init: int = 1
    random_state: Any = None
    init_sample_size: int | None = 100_000
    dtype: Any = None
    family: MixtureFamily = MAXIMUM_LIKELIHOOD
    verbose: int = 0
    verbose_interval: int = 10


@dataclass(frozen=True)
class WarmStart:
    """Continue from an earlier state (one initialisation, the change measured from ``lower_bound``).

    ``params`` is the family's state (:class:`MixtureParameters` for maximum likelihood).
    """

    params: MixtureParameters | Any
    lower_bound: float


@dataclass(frozen=True)
class Checkpointing:
    """Write the state after every iteration to ``directory``; resume from it.

    ``key`` returns the fit's identity (data and parameters): a checkpoint written
    by another fit is refused, not resumed.
    """

    directory: str | os.PathLike
    key: Callable[[], str]


@dataclass(frozen=True)
class PassReport:
    """Progress after one shared pass.

    Attributes
    ----------
    number : int
        Passes so far.
    updates : tuple of (int, int, EMState, float)
        Every fit the pass advanced: its mixture's index, its initialisation
        (0-based), its new state and the change of its lower bound (``inf`` first).
    n_running : int
        Fits still running.
    """

    number: int
    updates: tuple[tuple[int, int, EMState, float], ...]
    n_running: int


@dataclass(frozen=True)
class FitResult:
    """The best initialisation of every mixture, and what the passes found.

    Attributes
    ----------
    states : list of EMState
        One per mixture, in order.
    n_invalid_rows : int
        Rows with NaN or infinite values left out.
    persisted : bool or None
        Out of core: whether the rows were held in memory; None in memory.
    """

    states: list[EMState]
    n_invalid_rows: int
    persisted: bool | None

    @property
    def state(self) -> EMState:
        """The state of a lone fit."""
        return self.states[0]


def _better(state: EMState, best: EMState | None, max_iter: int) -> bool:
    """The best-of rule: a higher lower bound wins; the first wins ties (and max_iter=0)."""
    return best is None or (max_iter > 0 and state.lower_bound > best.lower_bound)


def check_sizes(driver: Driver, mixtures: Sequence[MixtureSpec], lone: bool) -> None:
    """Refuse data with fewer rows than a mixture's components (or than 2), before any pass."""
    too_many = [m for m in mixtures if driver.n_samples < max(2, m.n_components)]
    if not too_many:
        return
    if lone:
        raise InvalidInputError(
            f"Expected n_samples >= n_components (and at least 2) but got n_components = "
            f"{too_many[0].n_components}, n_samples = {driver.n_samples}. Give more rows or "
            "fewer components."
        )
    raise InvalidInputError(
        f"{driver.where} has {driver.n_samples} rows, fewer than the components of candidate(s) "
        f"{', '.join(m.label for m in too_many)}; give more rows or drop those candidates"
    )


def _fit_lone(driver: Driver, mixture: MixtureSpec, plan: FitPlan, dtype: np.dtype,
              warm_start: WarmStart | None, checkpoint: Checkpointing | None) -> EMState:
    """``n_init`` initialisations one after the other; the best one."""

    family = plan.family

    def compute_statistics(params: Any) -> SufficientStatistics:
        return driver.statistics(family.form(params, dtype))

    n_init = plan.n_init if warm_start is None else 1
    seeds = init_seeds(plan.random_state, n_init, sklearn_init=plan.init_sample_size is None)
    report = VerboseReport(plan.verbose, plan.verbose_interval)
    store = None
    key = ""
    best: EMState | None = None
    resumed: EMState | None = None
    first_init = 0
    if checkpoint is not None:
        store = FitCheckpoint(checkpoint.directory, family)
        key = checkpoint.key()
        record = store.load(key)
        if record is not None:
            first_init, resumed, best = record.init_index, record.current, record.best

    with single_threaded_blas():
        for init in range(first_init, n_init):
            started = time.perf_counter()
            report.init_start(init)
            previous_lower_bound = None
            if resumed is not None:
                state, resumed = resumed, None
            elif warm_start is None:
                (state,) = initial_states(driver, [mixture], seeds[init],
                                          init_sample_size=plan.init_sample_size,
                                          reg_covar=plan.reg_covar, dtype=dtype,
                                          family=family)
            else:
                state = EMState(params=warm_start.params)
                previous_lower_bound = warm_start.lower_bound

            def on_iteration(current: EMState, change: float, init: int = init) -> None:
                report.iteration(current, change)
                if store is not None:
                    store.save(CheckpointRecord(key, init, current, best))

            if store is not None:
                store.save(CheckpointRecord(key, init, state, best))
            state = run_em(
                state,
                compute_statistics,
                reg_covar=plan.reg_covar,
                tol=plan.tol,
                max_iter=plan.max_iter,
                previous_lower_bound=previous_lower_bound,
                on_iteration=on_iteration,
                family=family,
            )
            report.init_end(state, time.perf_counter() - started)
            if _better(state, best, plan.max_iter):
                best = state
            if store is not None:
                store.save(CheckpointRecord(key, init + 1, None, best))
    assert best is not None
    return best


def _fit_shared(driver: Driver, mixtures: Sequence[MixtureSpec], plan: FitPlan,
                dtype: np.dtype, on_pass: Callable[[PassReport], None] | None) -> list[EMState]:
    """Every (initialisation, mixture) pair at once, one shared pass per iteration."""
    n_mixtures = len(mixtures)

    family = plan.family

    def statistics_many(params: Sequence[Any]) -> list[SufficientStatistics]:
        return driver.statistics_many([family.form(p, dtype) for p in params])

    def report(shared: SharedPass) -> None:
        if on_pass is None:
            return
        updates = tuple(
            (i % n_mixtures, i // n_mixtures, state, change) for i, state, change in shared.updates
        )
        on_pass(PassReport(shared.number, updates, shared.n_running))

    with single_threaded_blas():
        states: list[EMState] = []  # init-major
        for seed in init_seeds(plan.random_state, plan.n_init,
                               sklearn_init=plan.init_sample_size is None):
            states += initial_states(driver, mixtures, seed,
                                     init_sample_size=plan.init_sample_size,
                                     reg_covar=plan.reg_covar, dtype=dtype,
                                     family=family)
        states = run_shared_em(
            states, statistics_many, reg_covar=plan.reg_covar, tol=plan.tol,
            max_iter=plan.max_iter, on_pass=report, family=family,
        )
    best: list[EMState] = []
    for m in range(n_mixtures):
        chosen: EMState | None = None
        for init in range(plan.n_init):
            state = states[init * n_mixtures + m]
            if _better(state, chosen, plan.max_iter):
                chosen = state
        assert chosen is not None
        best.append(chosen)
    return best


def fit(
    driver: Driver,
    mixtures: MixtureSpec | Sequence[MixtureSpec],
    plan: FitPlan,
    *,
    warm_start: WarmStart | None = None,
    checkpoint: Checkpointing | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
    stacklevel: int = 1,
) -> FitResult:
    """Fit one mixture, or several sharing every pass, on the driver's rows.

    Parameters
    ----------
    driver : Driver
        Not closed here (the caller owns it).
    mixtures : MixtureSpec or sequence of MixtureSpec
        One mixture: a lone fit. A sequence (even of one): shared passes.
    plan : FitPlan
    warm_start : WarmStart, optional
        Lone fit only: continue from these parameters.
    checkpoint : Checkpointing, optional
        Lone fit only: resume from, and write, a checkpoint.
    on_pass : callable, optional
        Shared passes only: called with a :class:`PassReport` after every pass.
    stacklevel : int
        Where the ConvergenceWarning points: 1 is the line calling this function,
        2 its caller, as for :func:`warnings.warn`.

    Returns
    -------
    FitResult

    Raises
    ------
    InvalidInputError
        Fewer rows than a mixture's components (or than 2).
    InvalidParameterError
        Bad initial parameters; a checkpoint or warm start with shared passes.
    """
    lone = isinstance(mixtures, MixtureSpec)
    specs = [mixtures] if lone else list(mixtures)  # type: ignore[list-item]
    if not lone and (warm_start is not None or checkpoint is not None):
        raise InvalidParameterError(
            "warm_start and checkpoint apply to one mixture; fit shared mixtures without them"
        )
    check_sizes(driver, specs, lone)
    for spec in specs:
        spec.check(driver.n_features)
    dtype = resolve_dtype(plan.dtype, driver.dtype)
    if lone:
        states = [_fit_lone(driver, specs[0], plan, dtype, warm_start, checkpoint)]
    else:
        states = _fit_shared(driver, specs, plan, dtype, on_pass)
    not_converged = [spec.label for spec, state in zip(specs, states) if not state.converged]
    if not_converged and plan.max_iter > 0:
        if lone:
            message = (
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data."
            )
        else:
            message = (
                f"Candidate(s) {', '.join(not_converged)} did not converge in {plan.max_iter} "
                "iterations; their criteria compare unfinished fits. Increase max_iter or tol."
            )
        warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel + 1)
    persisted = bool(driver.persisted) if driver.out_of_core else None
    return FitResult(states, int(driver.n_invalid_rows), persisted)
