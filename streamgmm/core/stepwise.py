"""Stepwise (online) EM in the space of sufficient statistics.

Batch EM replaces the statistics of all the data at every iteration; stepwise
EM (Sato & Ishii 2000; Cappé & Moulines 2009; Liang & Klein 2009) keeps a
running estimate ``S`` of the *per-sample* expected statistics and blends in
each new batch's::

    S_t = (1 - eta_t) S_{t-1} + eta_t s(batch_t; theta_{t-1})
    theta_t = M(S_t)

``s(batch)`` is the batch's statistics divided by its total weight, so batches
of different sizes blend on the same scale, and ``M`` is the batch M-step
(:func:`streamgmm.core.mstep.maximise`): with ``eta = 1`` and one batch, one
stepwise update *is* one batch EM step.

Step sizes ``eta_t = (t + t0)^-alpha`` with ``alpha`` in (0.5, 1] satisfy the
Robbins-Monro conditions (the model converges on a stationary stream); a
constant ``eta`` instead forgets geometrically (a window of about ``1/eta``
batches) and tracks a drifting stream. Polyak-Ruppert averaging of ``S``
(the statistics iterate, which is what the recursion is a stochastic
approximation of) reduces the variance of the reported model without slowing
the recursion itself.

Everything here is a pure function of values: the estimator's ``partial_fit``
and the stream runner share it, and the stream runner persists
:class:`OnlineState` atomically with the source position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .estep import NaturalForm, natural_form
from .mstep import maximise
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = [
    "StepSchedule",
    "OnlineState",
    "StepResult",
    "expected_statistics",
    "start_from_parameters",
    "start_from_statistics",
    "stepwise_update",
    "combine_statistics",
]


@dataclass(frozen=True)
class StepSchedule:
    """The step size ``eta_t`` of the t-th blended batch (t = 1, 2, ...).

    Parameters
    ----------
    decay : float, default=0.7
        ``alpha`` in ``(t + t0)^-alpha``; in (0.5, 1] for convergence.
    offset : float, default=2.0
        ``t0 >= 0``: larger values make the first steps smaller (more weight on
        the model the stream started from).
    constant : float or None, default=None
        A fixed ``eta`` in (0, 1] instead of the decaying schedule (forgetting
        window of about ``1/eta`` batches, for non-stationary streams).
    """

    decay: float = 0.7
    offset: float = 2.0
    constant: float | None = None

    def __post_init__(self) -> None:
        if self.constant is not None:
            if not 0.0 < float(self.constant) <= 1.0:
                raise ValueError(f"the constant step size must lie in (0, 1]; got {self.constant!r}")
        if not 0.5 < float(self.decay) <= 1.0:
            raise ValueError(
                f"the step decay (alpha in (t + t0)^-alpha) must lie in (0.5, 1] for stepwise EM to "
                f"converge; got {self.decay!r}"
            )
        if not float(self.offset) >= 0.0:
            raise ValueError(f"the step offset t0 must be >= 0; got {self.offset!r}")

    def step(self, t: int) -> float:
        """``eta_t`` for the t-th update (t >= 1), capped at 1."""
        if self.constant is not None:
            return float(self.constant)
        return float(min(1.0, (t + self.offset) ** -self.decay))


@dataclass(frozen=True)
class OnlineState:
    """Everything stepwise EM needs to continue, as one value.

    Attributes
    ----------
    params : MixtureParameters
        ``M(S_t)``: the parameters the next batch is scored with.
    running : SufficientStatistics
        ``S_t``, per unit weight (``running.weight_sum`` is 1 once started);
        kept about the current component means so that ``M`` stays exact.
    n_updates : int
        Batches blended in so far (``t``).
    n_samples_seen : int
        Rows read, including those of the warm-up.
    weight_seen : float
        Total sample weight read.
    averaged : SufficientStatistics or None
        Polyak-Ruppert mean of ``S`` over the updates since averaging started.
    n_averaged : int
        Updates in ``averaged``.
    """

    params: MixtureParameters
    running: SufficientStatistics
    n_updates: int = 0
    n_samples_seen: int = 0
    weight_seen: float = 0.0
    averaged: SufficientStatistics | None = None
    n_averaged: int = 0

    def reported_parameters(self, reg_covar: float) -> MixtureParameters:
        """The averaged model when averaging has started, else ``params``."""
        if self.averaged is None or self.n_averaged == 0:
            return self.params
        return maximise(
            self.averaged, reg_covar, previous=self.params, step="the averaged online model"
        ).params

    def scoring_form(self, dtype: np.dtype | type = np.float64) -> NaturalForm:
        """The E-step's coefficients for ``params`` (how the next batch is scored)."""
        return natural_form(self.params, dtype)


@dataclass(frozen=True)
class StepResult:
    """One stepwise update: the new state and what the batch looked like before it.

    Attributes
    ----------
    state : OnlineState
    step_size : float
        ``eta_t`` used.
    batch_mean_log_likelihood : float
        The batch's mean log-likelihood under the parameters *before* the update
        (an honest, out-of-sample score: what drift detection monitors).
    empty_components : tuple of int
        Components the M-step found without mass (kept at their previous values).
    """

    state: OnlineState
    step_size: float
    batch_mean_log_likelihood: float
    empty_components: tuple[int, ...]


def expected_statistics(params: MixtureParameters) -> SufficientStatistics:
    """Per-sample statistics that a model generates on its own data.

    ``n_k = w_k``, ``s1_k = 0`` and ``s2_k = w_k Sigma_k`` about the component
    means: the fixed point of ``M``, used to start stepwise EM from a fitted
    model (a batch fit or a loaded version) so that the first batch is blended
    *into* that model instead of replacing it.
    """
    ctype = params.covariance_type
    w = params.weights
    if ctype == "full":
        s2 = w[:, None, None] * params.covariances
    elif ctype == "tied":
        s2 = np.array(params.covariances)  # sum_k w_k Sigma = Sigma
    elif ctype == "diag":
        s2 = w[:, None] * params.covariances
    else:
        s2 = w * params.covariances * params.n_features
    return SufficientStatistics(
        covariance_type=ctype,
        shift=np.array(params.means),
        n=np.array(w),
        s1=np.zeros_like(params.means),
        s2=s2,
        log_likelihood=0.0,
        weight_sum=1.0,
        n_samples=0,
    )


def _per_unit_weight(stats: SufficientStatistics) -> SufficientStatistics:
    return stats.scale(1.0 / stats.weight_sum)


def start_from_parameters(params: MixtureParameters) -> OnlineState:
    """An online state continuing from a fitted model (no rows seen yet)."""
    return OnlineState(params=params, running=expected_statistics(params))


def start_from_statistics(
    params: MixtureParameters, stats: SufficientStatistics, *, n_samples: int, weight: float
) -> OnlineState:
    """An online state whose running statistics are those of a warm-up set.

    Parameters
    ----------
    params : MixtureParameters
        The model fitted on the warm-up rows.
    stats : SufficientStatistics
        The warm-up rows' statistics under ``params`` (any scale).
    n_samples, weight : int, float
        Rows and total weight of the warm-up set.
    """
    running = _per_unit_weight(stats).reshift(params.means)
    return OnlineState(
        params=params, running=running, n_updates=0, n_samples_seen=n_samples, weight_seen=weight
    )


def combine_statistics(
    first: SufficientStatistics, a: float, second: SufficientStatistics, b: float
) -> SufficientStatistics:
    """``a first + b second``, about ``first.shift`` (one pass, one new value)."""
    if not np.array_equal(second.shift, first.shift):
        second = second.reshift(first.shift)
    return SufficientStatistics(
        covariance_type=first.covariance_type,
        shift=first.shift,
        n=a * first.n + b * second.n,
        s1=a * first.s1 + b * second.s1,
        s2=a * first.s2 + b * second.s2,
        log_likelihood=a * first.log_likelihood + b * second.log_likelihood,
        weight_sum=a * first.weight_sum + b * second.weight_sum,
        n_samples=first.n_samples + second.n_samples,
    )


def stepwise_update(
    state: OnlineState,
    batch: SufficientStatistics,
    schedule: StepSchedule,
    *,
    reg_covar: float,
    average_after: int | None = None,
) -> StepResult:
    """Blend one batch's statistics into the running statistics and re-derive parameters.

    Parameters
    ----------
    state : OnlineState
    batch : SufficientStatistics
        The batch's statistics under ``state.params`` (any shift, unnormalised).
    schedule : StepSchedule
    reg_covar : float
        As in batch EM.
    average_after : int or None
        Start Polyak-Ruppert averaging of the statistics once this many updates
        have been made (0: from the first); None: no averaging.

    Returns
    -------
    StepResult

    Raises
    ------
    NonFiniteModelError
        If the batch's statistics or the blended model hold NaN or inf (``state``,
        a value, is untouched: the caller keeps its previous model).
    """
    if batch.weight_sum <= 0:
        raise ValueError("a stepwise update needs a batch with positive total weight")
    t = state.n_updates + 1
    eta = schedule.step(t)
    # (1 - eta) S + eta * batch / weight: the batch blended in per unit weight.
    blended = combine_statistics(state.running, 1.0 - eta, batch, eta / batch.weight_sum)
    result = maximise(blended, reg_covar, previous=state.params, step=f"stepwise update {t}")
    new_params = result.params
    # Keep S about the new means: the M-step's cancellation error grows with the
    # squared distance between a component's mean and its reference point.
    running = blended.reshift(new_params.means)
    averaged, n_averaged = state.averaged, state.n_averaged
    if average_after is not None and t > average_after:
        if averaged is None or n_averaged == 0:
            averaged, n_averaged = running, 1
        else:
            n_averaged += 1
            averaged = combine_statistics(averaged, 1.0 - 1.0 / n_averaged, running, 1.0 / n_averaged)
    new_state = replace(
        state,
        params=new_params,
        running=running,
        n_updates=t,
        n_samples_seen=state.n_samples_seen + batch.n_samples,
        weight_seen=state.weight_seen + batch.weight_sum,
        averaged=averaged,
        n_averaged=n_averaged,
    )
    return StepResult(
        state=new_state,
        step_size=eta,
        batch_mean_log_likelihood=batch.mean_log_likelihood,
        empty_components=result.empty_components,
    )
