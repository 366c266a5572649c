"""The key metrics of a fitted mixture, with BIC and AIC from one exact pass.

``lower_bound_`` is the mean log-likelihood of the *last E-step*, i.e. under the
parameters before the final M-step. BIC and AIC here use the mean
log-likelihood under the *final* parameters (as ``GaussianMixture.bic`` does),
computed in one extra pass over the data; rows with NaN or infinite values are
left out and counted, so the numbers are also right with ``nan_policy="drop"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["FitMetrics", "evaluate_fit", "metrics_from_log_likelihood"]


@dataclass(frozen=True, kw_only=True)
class FitMetrics:
    """How a fit went and how well the final model explains its data.

    Attributes
    ----------
    lower_bound : float
        The estimator's ``lower_bound_`` (mean log-likelihood of the last E-step).
    lower_bounds : tuple of float
        ``lower_bound_`` of every iteration.
    n_iter : int
    converged : bool
    n_samples : int
        Rows the model was evaluated on (valid rows).
    n_invalid_rows : int
        Rows with NaN or infinite values, left out.
    n_parameters : int
        Free parameters of the mixture.
    mean_log_likelihood : float
        Mean log-likelihood per row under the final parameters.
    bic, aic : float
        ``-2 n L + p log n`` and ``-2 n L + 2 p`` with L the mean above.
    fit_seconds : float
        Wall time of the fit.
    components_in_use : int or None
        A Bayesian mixture's components whose expected weight reaches its
        ``weight_threshold`` (``n_active_components_``); None for a Gaussian mixture.
    """

    lower_bound: float
    lower_bounds: tuple[float, ...]
    n_iter: int
    converged: bool
    n_samples: int
    n_invalid_rows: int
    n_parameters: int
    mean_log_likelihood: float
    bic: float
    aic: float
    fit_seconds: float
    components_in_use: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``lower_bounds`` as a list)."""
        values = asdict(self)
        values["lower_bounds"] = list(self.lower_bounds)
        return values

    def registry_metrics(self) -> dict[str, Any]:
        """The ``metrics`` mapping for ``ModelRegistry.publish``."""
        return {
            "lower_bound": self.lower_bound,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "bic": self.bic,
            "aic": self.aic,
            "n_samples": self.n_samples,
            "extra": {
                "mean_log_likelihood": self.mean_log_likelihood,
                "n_invalid_rows": self.n_invalid_rows,
                "n_parameters": self.n_parameters,
                "fit_seconds": round(self.fit_seconds, 3),
                "lower_bounds": list(self.lower_bounds),
                **({} if self.components_in_use is None else {"components_in_use": self.components_in_use}),
            },
        }


def _log_likelihood_sum(model: Any, data: Any, scheduler: Any) -> tuple[float, int]:
    """Sum of per-row log-likelihoods over the finite rows, and their count (one pass)."""
    from streamgmm.io.detect import is_out_of_core

    scores = model.score_samples(data)
    if not is_out_of_core(data):
        finite = np.isfinite(scores)
        return float(scores[finite].sum()), int(finite.sum())
    import dask
    import dask.array as da

    from streamgmm.drivers.in_memory import single_threaded_blas

    finite = da.isfinite(scores)
    total = da.where(finite, scores, 0.0).sum()
    count = finite.sum()
    kwargs = {} if scheduler is None else {"scheduler": scheduler}
    with single_threaded_blas():
        total, count = dask.compute(total, count, **kwargs)
    return float(total), int(count)


def evaluate_fit(model: Any, data: Any, *, fit_seconds: float, scheduler: Any = None) -> FitMetrics:
    """Metrics of a fitted ``streamgmm.GaussianMixture`` on its training data.

    Parameters
    ----------
    model : streamgmm.GaussianMixture
        Fitted.
    data : array, RowData or path
        The data it was fitted on (anything ``score_samples`` accepts).
    fit_seconds : float
        Wall time of the fit, recorded as is.
    scheduler : optional
        Dask scheduler for the pass over out-of-core data.

    Returns
    -------
    FitMetrics
    """
    total, n_samples = _log_likelihood_sum(model, data, scheduler)
    return metrics_from_log_likelihood(model, total, n_samples, fit_seconds=fit_seconds)


def metrics_from_log_likelihood(
    model: Any, total: float, n_samples: int, *, fit_seconds: float
) -> FitMetrics:
    """Metrics of a fitted model from its summed log-likelihood on its valid rows.

    For callers that computed the sum themselves, e.g. one pass shared by the
    candidates of a model selection (:func:`streamgmm.selection.evaluate_candidates`).

    Parameters
    ----------
    model : streamgmm.GaussianMixture
        Fitted.
    total : float
        Sum of the per-row log-likelihoods under the final parameters.
    n_samples : int
        Rows in that sum.
    fit_seconds : float
        Wall time of the fit, recorded as is.
    """
    if n_samples == 0:
        raise ValueError("no row with finite values to evaluate the model on")
    n_parameters = int(model.parameters_.n_parameters)
    mean = total / n_samples
    return FitMetrics(
        lower_bound=float(model.lower_bound_),
        lower_bounds=tuple(float(v) for v in model.lower_bounds_),
        n_iter=int(model.n_iter_),
        converged=bool(model.converged_),
        n_samples=n_samples,
        n_invalid_rows=int(getattr(model, "n_invalid_rows_", 0)),
        n_parameters=n_parameters,
        mean_log_likelihood=mean,
        bic=-2.0 * total + n_parameters * math.log(n_samples),
        aic=-2.0 * total + 2.0 * n_parameters,
        fit_seconds=float(fit_seconds),
        components_in_use=getattr(model, "n_active_components_", None),
    )
