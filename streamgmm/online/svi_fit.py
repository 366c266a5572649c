"""``partial_fit`` by stochastic variational inference, a mixin of :class:`streamgmm.BayesianGaussianMixture`.

The natural-gradient step lives in :mod:`streamgmm.core.svi`; this module is the
estimator's side of it, sharing with stepwise EM
(:class:`~streamgmm.online.partial_fit.StepwiseEMMixin`) the batch validation,
the warm-up buffer, the all-or-nothing update and ``partial_fit_scored``.

Per batch ``B``: the variational E-step under the current posterior (the fused
kernel with :func:`~streamgmm.core.variational.variational_form`), then
``S <- (1 - rho_t) S + rho_t s(B) / |B|`` and ``posterior <- update_posterior(N S)``
with ``rho_t = (t + step_offset)^-step_decay`` (or the constant ``step_size``)
and ``N = total_samples`` (None: the data weight seen so far, warm-up included).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..core.errors import NonFiniteModelError
from ..core.estep import chunk_statistics
from ..core.family import Variational
from ..core.svi import SVIState, svi_start_from_posterior, svi_update
from ..core.variational import check_priors
from ..drivers.in_memory import single_threaded_blas
from ..validation import resolve_dtype
from .partial_fit import StepwiseEMMixin, update_failure

__all__ = ["StochasticVariationalMixin"]


class StochasticVariationalMixin(StepwiseEMMixin):
    """``partial_fit`` and ``from_online_state`` for ``BayesianGaussianMixture``.

    With it the estimator is an :class:`streamgmm.online.model.OnlineModel`.
    Relies on the estimator's parameters (``step_decay``, ``step_offset``,
    ``step_size``, ``warm_up_size``, ``total_samples``, ``nan_policy``,
    ``dtype``, ``reg_covar`` and the priors) and its ``fit``, ``_validate_X``,
    ``_set_fitted``, ``_prior_settings``, ``posterior_``, ``priors_`` and
    ``from_posterior``.
    """

    @classmethod
    def from_online_state(cls, state: SVIState, **estimator_params: Any) -> Any:
        """An estimator that continues SVI from ``state`` (e.g. a stream's commit).

        Parameters
        ----------
        state : SVIState
        **estimator_params
            Constructor parameters; the shape of the mixture and its priors come
            from the state.
        """
        model = cls.from_posterior(state.posterior, state.priors, **estimator_params)
        model.online_state_ = state
        model.n_steps_ = state.n_updates
        model.n_samples_seen_ = state.n_samples_seen
        model.step_size_ = float("nan")
        model.batch_log_likelihood_ = float("nan")
        return model

    def _average_after(self) -> int | None:
        return None  # SVI keeps no average: the posterior is the model

    def _finish_warm_up(self) -> None:
        """Batch variational inference on the buffered rows, then SVI continues from its posterior."""
        buffer = self._warm_up_buffer
        X, weights = buffer.concatenated()
        del self._warm_up_buffer
        self.fit(X, sample_weight=weights)
        self._start_online_from_fitted()
        weight = float(X.shape[0] if weights is None else np.sum(weights))
        self.online_state_ = replace(self.online_state_, n_samples_seen=X.shape[0], weight_seen=weight)
        self.n_samples_seen_ = X.shape[0]
        self.step_size_ = 1.0
        self.batch_log_likelihood_ = float("nan")  # the warm-up is scored by the fit, not here

    def _start_online_from_fitted(self) -> None:
        """SVI continues a fitted posterior: its running statistics are those it stands for."""
        self.online_state_ = svi_start_from_posterior(self.posterior_, self.priors_, self.reg_covar)
        self.n_steps_, self.n_samples_seen_ = 0, 0

    def _check_first_batch(self, X: np.ndarray) -> None:
        """Invalid priors fail on the first batch, not after the warm-up."""
        check_priors(self._prior_settings(), X.shape[1])

    def _stepwise_step(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        out_log_likelihood: np.ndarray | None = None,
        out_responsibilities: np.ndarray | None = None,
    ) -> None:
        """One SVI step from the batch ``X`` (finite rows, validated); all or nothing."""
        state = self.online_state_
        dtype = resolve_dtype(self.dtype, X.dtype)
        try:
            with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
                stats = chunk_statistics(
                    X, state.scoring_form(dtype), weights,
                    out_log_likelihood=out_log_likelihood, out_responsibilities=out_responsibilities,
                )
                result = svi_update(
                    state, stats, self._step_schedule(),
                    reg_covar=self.reg_covar, total_samples=self.total_samples,
                )
        except NonFiniteModelError as error:
            raise update_failure(error, X, dtype, state.params.mixture_mean) from error
        self._set_fitted(result.state.posterior, Variational(result.state.priors))
        self.online_state_ = result.state
        self.n_steps_ = result.state.n_updates
        self.n_samples_seen_ = result.state.n_samples_seen
        self.step_size_ = result.step_size
        self.batch_log_likelihood_ = result.batch_mean_log_likelihood
