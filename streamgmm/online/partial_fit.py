"""``partial_fit``: stepwise EM as a mixin of :class:`streamgmm.GaussianMixture`.

The numeric recursion lives in :mod:`streamgmm.core.stepwise`; this module is the
estimator's side of it: validating a batch (fast path for plain arrays), the
warm-up buffer of an unfitted model, and the fitted attributes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

from ..core.errors import (
    EmptyComponentWarning,
    InvalidInputError,
    NonFiniteModelError,
    ValuesTooLargeError,
)
from ..core.estep import chunk_statistics, natural_form
from ..core.finite import magnitude_problem, remedy
from ..core.stepwise import (
    OnlineState,
    StepSchedule,
    start_from_parameters,
    start_from_statistics,
    stepwise_update,
)
from ..drivers.in_memory import single_threaded_blas
from ..validation import (
    check_estimator_parameters,
    check_finite_rows,
    check_sample_weight,
    finite_row_mask,
    resolve_dtype,
)
from .warm_up import WarmUpBuffer, default_warm_up_size

__all__ = ["ONLINE_ATTRIBUTES", "StepwiseEMMixin", "update_failure"]

#: Fitted attributes of partial_fit, dropped when fit starts a new model.
ONLINE_ATTRIBUTES = (
    "online_state_",
    "n_steps_",
    "n_samples_seen_",
    "step_size_",
    "batch_log_likelihood_",
    "_warm_up_buffer",
)


class StepwiseEMMixin:
    """``partial_fit`` and ``from_online_state`` for ``GaussianMixture``.

    With it the estimator is an :class:`streamgmm.online.model.OnlineModel`, the
    interface the stream runner updates.

    Relies on the estimator's parameters (``step_decay``, ``step_offset``,
    ``step_size``, ``average``, ``warm_up_size``, ``nan_policy``, ``dtype``,
    ``reg_covar``) and its ``fit``, ``_validate_X``, ``_set_fitted``,
    ``parameters_`` and ``from_parameters``.
    """

    @classmethod
    def from_online_state(cls, state: OnlineState, **estimator_params: Any) -> Any:
        """An estimator that continues stepwise EM from ``state`` (e.g. a stream's commit).

        Parameters
        ----------
        state : OnlineState
        **estimator_params
            Constructor parameters; ``n_components`` and ``covariance_type`` come
            from the state.
        """
        params = {k: v for k, v in estimator_params.items() if k not in ("n_components", "covariance_type")}
        model = cls.from_parameters(state.params, **params)
        model.online_state_ = state
        model._set_fitted(state.reported_parameters(model.reg_covar))
        model.n_steps_ = state.n_updates
        model.n_samples_seen_ = state.n_samples_seen
        model.step_size_ = float("nan")
        model.batch_log_likelihood_ = float("nan")
        return model

    def _step_schedule(self) -> StepSchedule:
        return StepSchedule(decay=self.step_decay, offset=self.step_offset, constant=self.step_size)

    def _average_after(self) -> int | None:
        """Updates before averaging starts, or None when averaging is off."""
        if isinstance(self.average, (bool, np.bool_)):
            return 0 if self.average else None
        return int(self.average)

    def _online_batch(self, X: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
        """A validated batch (rows, weights), or None for an empty or all-invalid batch."""
        if getattr(X, "shape", None) is not None and len(X.shape) == 2 and X.shape[0] == 0:
            return None
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float64, np.float32)
            and hasattr(self, "n_features_in_")
            and not hasattr(self, "feature_names_in_")
        ):
            # The common streaming case, checked without scikit-learn's general input
            # validation, whose fixed cost is a large share of a small batch's update.
            if X.shape[1] != self.n_features_in_:
                raise InvalidInputError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
        else:
            X = self._validate_X(X, reset=not hasattr(self, "n_features_in_"), finite=False)
        weights = check_sample_weight(sample_weight, X.shape[0]) if sample_weight is not None else None
        if self.nan_policy == "raise":
            check_finite_rows(X)
        else:
            valid = finite_row_mask(X)
            if valid is not None:
                self.n_invalid_rows_ = getattr(self, "n_invalid_rows_", 0) + int((~valid).sum())
                X = X[valid]
                weights = None if weights is None else weights[valid]
                if X.shape[0] == 0:
                    return None
        return X, weights

    def _finish_warm_up(self) -> None:
        """Batch EM on the buffered rows, then stepwise EM starts from their statistics."""
        buffer = self._warm_up_buffer
        X, weights = buffer.concatenated()
        del self._warm_up_buffer
        self.fit(X, sample_weight=weights)
        form = natural_form(self.parameters_, resolve_dtype(self.dtype, X.dtype))
        with single_threaded_blas():
            stats = chunk_statistics(X, form, weights)
        self.online_state_ = start_from_statistics(
            self.parameters_, stats, n_samples=X.shape[0], weight=stats.weight_sum
        )
        self.n_steps_ = 0
        self.n_samples_seen_ = X.shape[0]
        self.step_size_ = 1.0
        self.batch_log_likelihood_ = stats.mean_log_likelihood

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Update the model with one batch of rows by stepwise EM.

        Blends the batch's per-sample sufficient statistics into the running ones,
        ``S <- (1 - eta_t) S + eta_t s(batch)``, and re-derives the parameters from
        ``S`` (see :mod:`streamgmm.core.stepwise`). An unfitted model first collects
        ``warm_up_size`` rows and fits them by batch EM; a fitted one (by ``fit``,
        :meth:`from_parameters` or a loaded model version) continues from its
        parameters. Empty batches are ignored. A batch that raises (e.g.
        :class:`~streamgmm.core.errors.NonFiniteModelError` for values too large to
        square) leaves the model exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
        y : ignored
        sample_weight : array-like of shape (n_batch,), optional

        Returns
        -------
        self
        """
        if not hasattr(self, "online_state_") and not hasattr(self, "_warm_up_buffer"):
            check_estimator_parameters(self.get_params())
        # All or nothing: a batch that fails (rows refused, a warm-up fit or an update
        # that would be non-finite) leaves the model exactly as it was, its warm-up
        # rows included. The copy is of a few dozen references.
        before = dict(self.__dict__)
        buffered = len(before["_warm_up_buffer"].rows) if "_warm_up_buffer" in before else 0
        try:
            self._partial_fit_batch(X, sample_weight)
        except BaseException:
            buffer = before.get("_warm_up_buffer")
            if buffer is not None:  # the one value changed in place: drop this batch's rows
                del buffer.rows[buffered:], buffer.weights[buffered:]
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def _partial_fit_batch(self, X: Any, sample_weight: Any) -> None:
        """:meth:`partial_fit`'s work on one batch (may leave the model half updated on error)."""
        batch = self._online_batch(X, sample_weight)
        if batch is None:
            return
        X, weights = batch
        if not hasattr(self, "online_state_"):
            if not hasattr(self, "precisions_cholesky_") or hasattr(self, "_warm_up_buffer"):
                if not hasattr(self, "_warm_up_buffer"):
                    self._check_first_batch(X)
                buffer = self.__dict__.setdefault("_warm_up_buffer", WarmUpBuffer())
                buffer.add(X, weights)
                size = self.warm_up_size or default_warm_up_size(self.n_components, X.shape[1])
                if buffer.n_rows >= size:
                    self._finish_warm_up()
                return
            self._start_online_from_fitted()
        self._stepwise_step(X, weights)

    def _check_first_batch(self, X: np.ndarray) -> None:
        """Checks that need the first batch's shape, before its rows are buffered (none here)."""

    def _start_online_from_fitted(self) -> None:
        """Online updates continue a fitted model (by ``fit``, or a loaded version)."""
        self.online_state_ = start_from_parameters(self.parameters_)
        self.n_steps_, self.n_samples_seen_ = 0, 0

    @property
    def warmed_up(self) -> bool:
        """Whether stepwise updates have started (past the warm-up, or fitted)."""
        return hasattr(self, "online_state_")

    def partial_fit_scored(
        self, X: np.ndarray, responsibilities: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`partial_fit` of finite rows, also returning how the model saw them.

        For the stream runner, which scores every batch before updating on it: the
        scores come from the update's own E-step instead of a second one.

        Parameters
        ----------
        X : ndarray of shape (n_batch, n_features)
            Finite rows (the runner has set the others aside); the model must
            already be updating online (past its warm-up).
        responsibilities : bool
            Also return the responsibilities.

        Returns
        -------
        scores : ndarray of shape (n_batch,)
            Each row's log-likelihood under the parameters before this update.
        responsibilities : ndarray of shape (n_batch, n_components) or None
        """
        if not hasattr(self, "online_state_"):
            raise NotFittedError("partial_fit_scored needs a model past its warm-up")
        batch = self._online_batch(X, None)
        if batch is None:
            empty = np.empty((0, self.n_components)) if responsibilities else None
            return np.empty(0), empty
        X, _ = batch
        scores = np.empty(X.shape[0])
        resp = np.empty((X.shape[0], self.n_components)) if responsibilities else None
        self._stepwise_step(X, None, scores, resp)
        return scores, resp

    def _stepwise_step(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        out_log_likelihood: np.ndarray | None = None,
        out_responsibilities: np.ndarray | None = None,
    ) -> None:
        """One stepwise-EM update from the batch ``X`` (finite rows, validated).

        All or nothing: the fitted attributes change only when the update yields a
        finite model; otherwise a ``NonFiniteModelError`` leaves them as they were.
        """
        state = self.online_state_
        dtype = resolve_dtype(self.dtype, X.dtype)
        # Everything on one BLAS thread: the matrices of one batch are small, and
        # waking BLAS threads for them costs more than the work (much more on a busy
        # machine, where they spin for a core). numpy's overflow warnings are silenced
        # because the M-step checks the result and raises a clear error instead.
        try:
            with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
                form = natural_form(state.params, dtype)
                stats = chunk_statistics(
                    X, form, weights,
                    out_log_likelihood=out_log_likelihood, out_responsibilities=out_responsibilities,
                )
                result = stepwise_update(
                    state,
                    stats,
                    self._step_schedule(),
                    reg_covar=self.reg_covar,
                    average_after=self._average_after(),
                )
                reported = result.state.reported_parameters(self.reg_covar)
        except NonFiniteModelError as error:
            raise update_failure(error, X, dtype, state.params.mixture_mean) from error
        if result.empty_components:
            warnings.warn(
                f"Component(s) {list(result.empty_components)} have no responsibility mass "
                f"after {result.state.n_updates} stepwise updates; their previous means and "
                "covariances were kept.",
                EmptyComponentWarning,
                stacklevel=3,  # the caller of partial_fit
            )
        self.online_state_ = result.state
        self._set_fitted(reported)
        self.n_steps_ = result.state.n_updates
        self.n_samples_seen_ = result.state.n_samples_seen
        self.step_size_ = result.step_size
        self.batch_log_likelihood_ = result.batch_mean_log_likelihood



def update_failure(
    error: NonFiniteModelError, X: np.ndarray, dtype: np.dtype, reference: np.ndarray
) -> NonFiniteModelError:
    """The error to raise for an online update that came out non-finite.

    Names the cause when it is the batch's magnitude (checked only now, so a good
    batch pays nothing for it), and says that the model is unchanged.
    """
    problem = magnitude_problem(X, dtype, reference=reference)
    if problem is not None:
        return ValuesTooLargeError(
            f"Cannot update the model with this batch: {problem}. {remedy(dtype)}. "
            "The model is unchanged."
        )
    return NonFiniteModelError(f"{error} The model is unchanged.")
