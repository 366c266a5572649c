"""Verbose progress of a fit, printed as scikit-learn's ``GaussianMixture`` prints it."""

from __future__ import annotations

import time

from ..core.em import EMState

__all__ = ["VerboseReport"]


class VerboseReport:
    """Lines for ``verbose`` 1 (iteration numbers) or 2 (also timings and changes).

    Parameters
    ----------
    verbose : int
        0 prints nothing.
    interval : int
        Report every ``interval``-th iteration.
    """

    def __init__(self, verbose: int, interval: int) -> None:
        self.verbose = verbose
        self.interval = interval
        self._last = time.perf_counter()

    def init_start(self, init: int) -> None:
        if self.verbose >= 1:
            print(f"Initialization {init}")
        self._last = time.perf_counter()

    def iteration(self, state: EMState, change: float) -> None:
        if self.verbose == 0 or state.n_iter % self.interval != 0:
            return
        if self.verbose == 1:
            print(f"  Iteration {state.n_iter}")
        else:
            now = time.perf_counter()
            print(
                f"  Iteration {state.n_iter}\t time lapse {now - self._last:.5f}s\t "
                f"ll change {change:.5f}"
            )
            self._last = now

    def init_end(self, state: EMState, elapsed: float) -> None:
        if self.verbose == 0:
            return
        verdict = "converged" if state.converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {verdict}.")
        else:
            print(
                f"Initialization {verdict}. time lapse {elapsed:.5f}s\t "
                f"lower bound {state.lower_bound:.5f}."
            )
