"""What ``GaussianMixture`` and ``BayesianGaussianMixture`` share as scikit-learn estimators.

Input validation, driver options, checkpoint keys, the fitted features, and
prediction through the driver (``predict``, ``predict_proba``,
``score_samples``, ``score``: bounded memory in memory, lazy Dask arrays out
of core), ``sample`` and the tags. A subclass supplies its constructor, ``fit``
and :meth:`MixtureEstimator._prediction_form` (the fused E-step's coefficients
of its fitted model); the attributes ``weights_``, ``means_``,
``covariances_`` and ``precisions_cholesky_`` mean the same in both.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .core.errors import InvalidInputError, InvalidParameterError
from .core.estep import NaturalForm
from .core.family import MAXIMUM_LIKELIHOOD, MixtureFamily
from .drivers.checkpoint import fit_key
from .engine import Checkpointing, Driver, DriverOptions, FitPlan, FitResult, OpenedData, open_driver
from .io.destinations import check_outside_inputs
from .io.detect import is_out_of_core
from .io.labelled import is_lazy_xarray, like_input, rows_named
from .io.sources import stored_location
from .online.partial_fit import ONLINE_ATTRIBUTES
from .validation import check_estimator_parameters, check_finite_rows, resolve_dtype

__all__ = ["MixtureEstimator", "still_shown"]


def still_shown(attributes: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether each fitted attribute still equals its float64 value rounded to its dtype.

    A float32 fit shows its parameters in float32 (as scikit-learn does) and keeps
    the float64 values it computed for the registry, warm starts and ``partial_fit``;
    those are used only while the attributes still show them (a user may assign new
    values to the attributes).
    """
    return all(
        np.array_equal(np.asarray(shown), np.asarray(value).astype(np.asarray(shown).dtype))
        for name, shown in attributes.items()
        for value in [values[name]]
    )


class MixtureEstimator(DensityMixin, BaseEstimator):
    """Base of streamgmm's mixture estimators (not used alone).

    Subclasses have the constructor parameters ``chunk_size``, ``n_jobs``,
    ``nan_policy``, ``scheduler``, ``persist``, ``dtype`` and ``random_state``.
    """

    def _prediction_form(self, dtype: np.dtype) -> NaturalForm:
        """The fitted model's E-step coefficients in the compute ``dtype``."""
        raise NotImplementedError

    # ================================================================ helpers
    def _validate_X(self, X: Any, reset: bool, finite: bool = True) -> np.ndarray:
        """Array (n, D) of float32/float64 without copying when possible; names recorded."""
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        if finite:
            check_finite_rows(X)
        return X

    def _driver_options(self, nan_policy: str | None = None) -> DriverOptions:
        return DriverOptions(
            chunk_size=self.chunk_size, n_jobs=self.n_jobs,
            nan_policy=self.nan_policy if nan_policy is None else nan_policy,
            scheduler=self.scheduler, persist=self.persist,
        )

    # ================================================================== fitting
    def _fit_plan(self, family: MixtureFamily = MAXIMUM_LIKELIHOOD) -> FitPlan:
        """How to fit (seeds, tolerances, dtype, reporting, the family), for the engine."""
        return FitPlan(
            tol=self.tol, reg_covar=self.reg_covar, max_iter=self.max_iter, n_init=self.n_init,
            random_state=self.random_state, init_sample_size=self.init_sample_size,
            dtype=self.dtype, verbose=self.verbose, verbose_interval=self.verbose_interval,
            family=family,
        )

    def _open_fit(
        self, X: Any, sample_weight: Any, checkpoint: str | os.PathLike | None,
        sample_dim: str | None, feature_dim: str | None,
    ) -> tuple[Any, OpenedData, Checkpointing | None]:
        """What every ``fit`` does before its first pass.

        Checks the parameters, forgets an earlier ``partial_fit`` (a batch fit starts
        a new model), opens X (rows named by ``sample_dim``/``feature_dim`` for xarray
        and Zarr), records its features and checks the checkpoint folder against it.

        Returns
        -------
        X : the input with its dimensions named
        data : OpenedData
            The driver over X and its description.
        store : Checkpointing or None
        """
        check_estimator_parameters(self.get_params())
        for attribute in ONLINE_ATTRIBUTES:
            self.__dict__.pop(attribute, None)
        X = rows_named(X, sample_dim, feature_dim)
        data = open_driver(X, sample_weight, self._driver_options(),
                           estimator_name=type(self).__name__)
        self._record_features(data.driver)
        store = None
        if checkpoint is not None:
            # Checked before the first pass: a checkpoint folder must not touch the data.
            check_outside_inputs(checkpoint, [("X", stored_location(X))], key="checkpoint")
            store = Checkpointing(checkpoint, lambda: self._fit_key(data.describe()))
        return X, data, store

    def _record_fit(self, result: FitResult) -> None:
        """The fit's outcome attributes (the parameters are the subclass's ``_set_fitted``)."""
        best = result.state
        self.n_invalid_rows_ = result.n_invalid_rows
        if result.persisted is not None:
            self.persisted_ = result.persisted
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = list(best.lower_bounds)

    def _fit_key(self, description: dict[str, Any]) -> str:
        ignored = {"verbose", "verbose_interval", "n_jobs", "scheduler"}
        params = {
            name: (value.tolist() if isinstance(value, np.ndarray) else value)
            for name, value in self.get_params().items()
            if name not in ignored
        }
        return fit_key({"data": description, "params": params})

    def _record_features(self, driver: Driver) -> None:
        """``n_features_in_`` and ``feature_names_in_``, as scikit-learn's ``validate_data`` sets them."""
        self.n_features_in_ = driver.n_features
        if driver.feature_names is not None:
            self.feature_names_in_ = np.asarray(driver.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None, *,
                    sample_dim: str | None = None, feature_dim: str | None = None) -> Any:
        """Fit, then return the labels of X under the fitted model, shape (n_samples,)."""
        dims = {"sample_dim": sample_dim, "feature_dim": feature_dim}
        return self.fit(X, y, sample_weight=sample_weight, **dims).predict(X, **dims)

    def _predicting(self, X: Any) -> tuple[Driver, NaturalForm]:
        """The driver over X (rows with NaN or inf are refused) and the fitted model's form."""
        check_is_fitted(self, "precisions_cholesky_")
        if not is_out_of_core(X):  # scikit-learn's checks of the columns against the fit
            X = self._validate_X(X, reset=False, finite=False)
        driver = open_driver(X, None, self._driver_options(nan_policy="raise"),
                             estimator_name=type(self).__name__).driver
        if driver.n_features != self.n_features_in_:
            raise InvalidInputError(
                f"{driver.where} has {driver.n_features} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return driver, self._prediction_form(resolve_dtype(self.dtype, driver.dtype))

    def _per_row(self, X: Any, sample_dim: str | None, feature_dim: str | None,
                 result: str, name: str) -> Any:
        """``driver.<result>(form)`` over X; for xarray X a DataArray along its sample dim."""
        rows = rows_named(X, sample_dim, feature_dim)
        driver, form = self._predicting(rows)
        with driver:
            values = getattr(driver, result)(form)
            if rows is not X and not is_lazy_xarray(X):  # in-memory xarray: in-memory result
                (values,) = driver.compute(values)
        return like_input(values, X, rows, name)

    def score_samples(self, X: Any, *, sample_dim: str | None = None,
                      feature_dim: str | None = None) -> Any:
        """Log-likelihood of every row under the mixture, shape (n_samples,).

        For xarray X, a DataArray along X's sample dimension with its coordinates
        (lazy when X is Dask-backed); ``sample_dim``/``feature_dim`` name X's
        dimensions as in ``fit``. For other out-of-core X (Dask, zarr, paths)
        a lazy Dask array computed chunk by chunk; see also
        :func:`streamgmm.write_predictions`.
        """
        return self._per_row(X, sample_dim, feature_dim, "log_likelihood", "log_likelihood")

    def predict_proba(self, X: Any, *, sample_dim: str | None = None,
                      feature_dim: str | None = None) -> Any:
        """Posterior probability of each component for each row, shape (n_samples, K).

        Temporaries are bounded by ``chunk_size`` rows, whatever n_samples. For
        xarray X, a DataArray with dimensions (X's sample dimension, "component");
        for other out-of-core X a lazy Dask array.
        """
        return self._per_row(X, sample_dim, feature_dim, "responsibilities", "responsibility")

    def predict(self, X: Any, *, sample_dim: str | None = None,
                feature_dim: str | None = None) -> Any:
        """Most probable component of each row, shape (n_samples,).

        A DataArray along the sample dimension for xarray X; lazy for other out-of-core X.
        """
        return self._per_row(X, sample_dim, feature_dim, "labels", "label")

    def _mean_log_likelihood(self, X: Any, sample_dim: str | None = None,
                             feature_dim: str | None = None) -> tuple[float, int]:
        """Mean log-likelihood per row of X, and the number of rows (one pass)."""
        driver, form = self._predicting(rows_named(X, sample_dim, feature_dim))
        with driver:
            (mean,) = driver.compute(driver.log_likelihood(form).mean())
        return float(mean), driver.n_samples

    def score(self, X: Any, y: Any = None, *, sample_dim: str | None = None,
              feature_dim: str | None = None) -> float:
        """Mean log-likelihood per row of X."""
        return self._mean_log_likelihood(X, sample_dim, feature_dim)[0]

    # ================================================================== sampling
    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture (scikit-learn's random stream).

        Returns
        -------
        X : ndarray of shape (n_samples, D)
        y : ndarray of shape (n_samples,)
            Component of each row.
        """
        check_is_fitted(self, "precisions_cholesky_")
        if n_samples < 1:
            raise InvalidParameterError(
                f"n_samples={n_samples!r} is invalid: sampling needs at least one sample"
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type == "full":
            parts = [
                rng.multivariate_normal(mean, cov, int(count))
                for mean, cov, count in zip(self.means_, self.covariances_, counts)
            ]
        elif self.covariance_type == "tied":
            parts = [
                rng.multivariate_normal(mean, self.covariances_, int(count))
                for mean, count in zip(self.means_, counts)
            ]
        else:
            parts = [
                mean + rng.standard_normal(size=(count, n_features)) * np.sqrt(cov)
                for mean, cov, count in zip(self.means_, self.covariances_, counts)
            ]
        labels = np.concatenate([np.full(int(count), k, dtype=np.int64) for k, count in enumerate(counts)])
        return np.vstack(parts), labels

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn protocol
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
