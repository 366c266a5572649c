"""The EM loop, in one place for every driver.

A driver supplies one function, ``compute_statistics(params)``, that makes one
pass over its data (numpy chunks, Dask blocks, a sample) and returns the merged
sufficient statistics. The loop owns convergence, the lower-bound history,
emptied-component warnings and the per-iteration callback (progress,
checkpoints). It resumes from any :class:`EMState`, so a checkpointed fit
continues exactly where it stopped. Non-finite statistics or parameters stop it
with a :class:`~streamgmm.core.errors.NonFiniteModelError` naming the iteration
(checked once per iteration, on the K-sized values, by the M-step); the last
state handed to ``on_iteration`` (e.g. a checkpoint) is then the last finite one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

from .errors import EmptyComponentWarning
from .family import MAXIMUM_LIKELIHOOD, MixtureFamily
from .mstep import MStepResult
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = ["EMState", "UpdateRule", "run_em"]


@dataclass(frozen=True)
class EMState:
    """Where one EM run stands after a completed iteration.

    Attributes
    ----------
    params : MixtureParameters or VariationalPosterior
        The family's state after the last update (the initial one when
        ``n_iter == 0``): :class:`MixtureParameters` for maximum likelihood.
    n_iter : int
        Completed iterations.
    lower_bounds : tuple of float
        The family's lower bound after each iteration (scikit-learn's
        ``lower_bounds_``): for maximum likelihood the mean log-likelihood per
        sample of the iteration's E-step.
    converged : bool
        Whether the last change of the lower bound was below ``tol``.
    """

    params: Any
    n_iter: int = 0
    lower_bounds: tuple[float, ...] = field(default_factory=tuple)
    converged: bool = False

    @property
    def lower_bound(self) -> float:
        """The latest lower bound, ``-inf`` before the first iteration."""
        return self.lower_bounds[-1] if self.lower_bounds else float("-inf")


IterationCallback = Callable[[EMState, float], None]


class UpdateRule(Protocol):
    """The M-step of a mixture family: merged statistics -> new parameters.

    :func:`streamgmm.core.mstep.maximise` is the default of
    :class:`~streamgmm.core.family.MaximumLikelihood`; another kind of mixture is
    another :class:`~streamgmm.core.family.MixtureFamily`.
    """

    def __call__(
        self,
        stats: SufficientStatistics,
        reg_covar: float,
        previous: MixtureParameters | None = None,
        *,
        step: str = "the M-step",
    ) -> MStepResult: ...


def run_em(
    state: EMState,
    compute_statistics: Callable[[Any], SufficientStatistics],
    *,
    reg_covar: float,
    tol: float,
    max_iter: int,
    previous_lower_bound: float | None = None,
    on_iteration: IterationCallback | None = None,
    family: MixtureFamily = MAXIMUM_LIKELIHOOD,
) -> EMState:
    """Iterate E- and M-steps from ``state`` until convergence or ``max_iter``.

    Parameters
    ----------
    state : EMState
        Starting point: freshly initialised (``n_iter=0``) or resumed.
    compute_statistics : callable
        One pass over the data: the family's state -> merged statistics.
    reg_covar, tol, max_iter
        As in scikit-learn's ``GaussianMixture``; ``max_iter`` counts all
        iterations including those already in ``state``.
    previous_lower_bound : float, optional
        Lower bound to measure the first change against (warm start);
        defaults to the state's latest lower bound.
    on_iteration : callable, optional
        Called as ``on_iteration(state, change)`` after every iteration.
    family : MixtureFamily, default maximum likelihood
        The update and the lower bound.

    Returns
    -------
    EMState
        The final state; ``converged`` tells whether ``tol`` was reached.

    Raises
    ------
    NonFiniteModelError
        If an iteration's statistics or parameters hold NaN or inf.
    """
    lower_bound = state.lower_bound if previous_lower_bound is None else previous_lower_bound
    while state.n_iter < max_iter and not state.converged:
        stats = compute_statistics(state.params)
        step = f"EM iteration {state.n_iter + 1}"
        params, empty_components = family.update(stats, reg_covar, state.params, step=step)
        if empty_components:
            warnings.warn(
                f"Component(s) {list(empty_components)} lost all their responsibility "
                f"mass in iteration {state.n_iter + 1}; their previous means and covariances "
                "were kept. Consider fewer components or a different initialisation.",
                EmptyComponentWarning,
                stacklevel=3,
            )
        new_lower_bound = family.lower_bound(stats, state.params, params)
        change = new_lower_bound - lower_bound
        state = replace(
            state,
            params=params,
            n_iter=state.n_iter + 1,
            lower_bounds=state.lower_bounds + (new_lower_bound,),
            converged=bool(abs(change) < tol),
        )
        lower_bound = new_lower_bound
        if on_iteration is not None:
            on_iteration(state, change)
    return state
