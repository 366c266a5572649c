"""The EM loop for several mixtures that share every pass over the data.

Model selection fits many mixtures (candidate K, covariance types,
initialisations) to the same rows. Fitted one after the other, each would read
all the data once per EM iteration. Here one pass per iteration computes the
statistics of every mixture still running (the driver reads each chunk once and
runs every model's kernel on it, see
:meth:`streamgmm.engine.Driver.statistics_many`); each mixture then takes its
own M-step (the update rule). A mixture that converged or reached ``max_iter`` drops
out, so later passes do less work.

Each mixture advances through :func:`streamgmm.core.em.run_em` itself, one
iteration per pass, so its iterations are exactly those of a fit on its own:
from the same initial parameters it ends bitwise where a separate fit ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.em import EMState, run_em
from ..core.family import MAXIMUM_LIKELIHOOD, MixtureFamily
from ..core.statistics import SufficientStatistics

__all__ = ["SharedPass", "StatisticsMany", "run_shared_em"]

#: One pass over the data for several models: their states -> their statistics, in order.
StatisticsMany = Callable[[Sequence[Any]], Sequence[SufficientStatistics]]


@dataclass(frozen=True)
class SharedPass:
    """What one shared pass did (given to the ``on_pass`` callback).

    Attributes
    ----------
    number : int
        Passes done so far (1 for the first).
    updates : tuple of (int, EMState, float)
        For every mixture the pass advanced: its index in the input, its new
        state and the change of its lower bound (``inf`` on its first iteration).
    n_running : int
        Mixtures still running after this pass.
    """

    number: int
    updates: tuple[tuple[int, EMState, float], ...]
    n_running: int


def _still_running(state: EMState, max_iter: int) -> bool:
    """Whether ``run_em`` would iterate ``state`` again (a non-finite bound never gets here:
    ``run_em`` raises ``NonFiniteModelError`` instead)."""
    if state.n_iter >= max_iter or state.converged:
        return False
    return state.n_iter == 0 or bool(np.isfinite(state.lower_bound))


def run_shared_em(
    states: Sequence[EMState],
    statistics_many: StatisticsMany,
    *,
    reg_covar: float,
    tol: float,
    max_iter: int,
    on_pass: Callable[[SharedPass], None] | None = None,
    family: MixtureFamily = MAXIMUM_LIKELIHOOD,
) -> list[EMState]:
    """Iterate several mixtures to convergence, one shared data pass per iteration.

    Parameters
    ----------
    states : sequence of EMState
        Starting points (usually freshly initialised), one per mixture.
    statistics_many : callable
        One pass over the data: a list of parameters -> their merged statistics.
    reg_covar, tol, max_iter
        As in :func:`streamgmm.core.em.run_em`, the same for every mixture.
    on_pass : callable, optional
        Called with a :class:`SharedPass` after every pass (progress reports).
    family : MixtureFamily
        The update and lower bound of every mixture.

    Returns
    -------
    list of EMState
        The final state of every mixture, in input order.
    """
    states = list(states)
    running = [i for i, state in enumerate(states) if _still_running(state, max_iter)]
    number = 0
    while running:
        stats = statistics_many([states[i].params for i in running])
        updates = []
        for i, pass_stats in zip(running, stats, strict=True):
            previous = states[i].lower_bound
            # One iteration of the single-model loop, fed this pass's statistics.
            states[i] = run_em(
                states[i],
                lambda _params, pass_stats=pass_stats: pass_stats,
                reg_covar=reg_covar,
                tol=tol,
                max_iter=states[i].n_iter + 1,
                family=family,
            )
            updates.append((i, states[i], states[i].lower_bound - previous))
        running = [i for i in running if _still_running(states[i], max_iter)]
        number += 1
        if on_pass is not None:
            on_pass(SharedPass(number, tuple(updates), len(running)))
    return states
