"""``streamgmm.GaussianMixture``: scikit-learn's estimator, exact and faster.

Same parameters, attributes and methods as ``sklearn.mixture.GaussianMixture``
(it is a real scikit-learn estimator: ``clone``, ``Pipeline`` and grid search
work). Inside, every EM iteration is ONE fused pass over fixed-size chunks of
rows (:mod:`streamgmm.core.estep`), run on worker threads and merged in chunk
order, so the model depends on the chunking only, never on the thread count.

Beyond scikit-learn: ``fit(X, sample_weight=...)``, float32 computation with
float64 accumulation (``dtype``), bounded-memory prediction,
``init_sample_size`` so initialisation never needs more than a bounded sample,
and ``partial_fit`` (stepwise EM, :mod:`streamgmm.online.partial_fit`).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .core.covariance import covariance_shape, precisions_cholesky_from_precisions
from .core.em import EMState, run_em
from .core.errors import InvalidInputError, InvalidParameterError
from .core.estep import (
    NaturalForm,
    chunk_posteriors,
    chunk_weighted_log_prob,
    natural_form,
)
from .core.init import initial_parameters
from .core.params import MixtureParameters
from .drivers.in_memory import ChunkedArray, available_cores, single_threaded_blas
from .io.detect import driver_dtype, is_out_of_core
from .online.partial_fit import ONLINE_ATTRIBUTES, StepwiseEMMixin
from .validation import (
    check_estimator_parameters,
    check_finite_rows,
    check_sample_weight,
    finite_row_mask,
    resolve_dtype,
)

__all__ = ["GaussianMixture"]



def _content_hash(array: np.ndarray) -> str:
    """sha256 of an in-memory array's bytes (a fit's identity for checkpoints)."""
    import hashlib

    digest = hashlib.sha256(str((array.shape, array.dtype.str)).encode())
    flat = np.ascontiguousarray(array).reshape(-1)
    step = 1 << 22
    for start in range(0, flat.size, step):
        digest.update(flat[start : start + step].tobytes())
    return digest.hexdigest()


def _weights_fingerprint(sample_weight: Any) -> str | None:
    """Identity of out-of-core sample weights: a Dask array's name, or an in-memory hash."""
    if sample_weight is None:
        return None
    name = getattr(sample_weight, "name", None)
    if type(sample_weight).__module__.startswith("dask") and name:
        return f"dask:{name}"
    return _content_hash(np.asarray(sample_weight, dtype=np.float64))


class GaussianMixture(StepwiseEMMixin, DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by exact EM in one fused pass per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance parameterisation, as in scikit-learn.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the covariance diagonals.
    max_iter : int, default=100
        EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initialisation method, computed on at most ``init_sample_size`` rows.
    weights_init : array-like of shape (K,), optional
    means_init : array-like of shape (K, D), optional
    precisions_init : array-like, optional
        Shape (K, D, D), (D, D), (K, D) or (K,) by ``covariance_type``.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Continue from the previous fit's parameters (a single initialisation).
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int, default=16384
        Rows per unit of work. Results depend on it only by rounding.
    dtype : {"float32", "float64"} or None, default=None
        Compute dtype of each tile of rows (features, products, exponentials); None
        computes float32 input in float32 and anything else in float64. Every tile's
        statistics are added in float64, so precision does not degrade with N, and
        rows are shifted before rounding, so offsets cost none. float32 is about
        twice as fast; its covariances are within ~1e-3 relative of float64's in the
        worst case (components ~100 sigma from the mixture mean; farther ones are
        accumulated about their own means) and typically ~1e-5. Use "float64" for
        scikit-learn's precision on float32 data.
    n_jobs : int or None, default=None
        Worker threads; None or -1 uses every available core. The fitted model is
        bitwise the same for any value.
    init_sample_size : int, default=100000
        Rows drawn (seeded, without replacement, chosen the same way whatever the
        chunking) for initialisation when X is larger.
    nan_policy : {"raise", "drop"}, default="raise"
        Rows with NaN or infinite values raise an error naming the count and the first
        row, or are skipped and counted in ``n_invalid_rows_``.
    scheduler : str, distributed.Client or None, default=None
        Dask scheduler for out-of-core data ("threads", "processes", "synchronous", a
        Client); None uses the active one. Ignored for in-memory data.
    persist : {False, True, "auto"}, default=False
        Out-of-core fits only. False reads the data on every pass (memory bounded by a
        few chunks). True reads the rows into the scheduler's memory (the workers', on
        ``distributed``) once, before the first pass, so later passes only compute.
        "auto" does that only when they take at most a quarter of that memory (the
        workers' memory limits, or this machine's available memory; never on the
        "processes" scheduler, which would send them to its workers on every pass).
        The model is the same either way.
    step_decay : float, default=0.7
        ``partial_fit`` only: alpha of the step sizes ``eta_t = (t + step_offset)^-alpha``
        of stepwise EM, in (0.5, 1].
    step_offset : float, default=2.0
        ``partial_fit`` only: ``t0 >= 0`` of the step sizes; larger values keep more of
        the model the stream started from in the first updates.
    step_size : float or None, default=None
        ``partial_fit`` only: a constant step size in (0, 1] instead of the decaying
        schedule, for non-stationary streams (the model forgets with a window of about
        ``1 / step_size`` batches).
    average : bool or int, default=False
        ``partial_fit`` only: report Polyak-Ruppert averaged parameters (the mean of the
        running statistics). An int starts averaging after that many updates.
    warm_up_size : int or None, default=None
        ``partial_fit`` on an unfitted model collects this many rows, then fits them by
        batch EM (``init_params``, ``n_init``, ``max_iter``) before stepping; None uses
        ``10 * n_components * n_features``.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_ : ndarray
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation (weighted mean
        with ``sample_weight``).
    lower_bounds_ : list of float
        The lower bound of every iteration of the best initialisation.
    online_state_ : OnlineState
        After ``partial_fit``: the running statistics and counters of stepwise EM
        (see :mod:`streamgmm.core.stepwise`).
    n_steps_ : int
        After ``partial_fit``: stepwise updates made.
    n_samples_seen_ : int
        After ``partial_fit``: rows used, including the warm-up.
    step_size_ : float
        After ``partial_fit``: the last step size.
    batch_log_likelihood_ : float
        After ``partial_fit``: the last batch's mean log-likelihood, scored *before*
        the update (what drift detection monitors).
    persisted_ : bool
        Out-of-core fits only: whether the rows were held in memory (see ``persist``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (D,)
        Only for input with string column names (e.g. a pandas DataFrame).
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int = 16384,
        dtype: Any = None,
        n_jobs: int | None = None,
        init_sample_size: int = 100_000,
        nan_policy: str = "raise",
        scheduler: Any = None,
        persist: bool | str = False,
        step_decay: float = 0.7,
        step_offset: float = 2.0,
        step_size: float | None = None,
        average: bool | int = False,
        warm_up_size: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.init_sample_size = init_sample_size
        self.nan_policy = nan_policy
        self.scheduler = scheduler
        self.persist = persist
        self.step_decay = step_decay
        self.step_offset = step_offset
        self.step_size = step_size
        self.average = average
        self.warm_up_size = warm_up_size

    # ================================================================ helpers
    def _n_threads(self) -> int:
        return available_cores() if self.n_jobs in (None, -1) else max(1, int(self.n_jobs))

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

    def _check_initial_parameters(self, n_features: int) -> None:
        """Shapes and values of weights_init, means_init, precisions_init."""
        k = self.n_components
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
            if weights.shape != (k,):
                raise InvalidParameterError(
                    f"weights_init has shape {weights.shape}; expected ({k},) for n_components={k}"
                )
            if np.any(weights < 0) or np.any(weights > 1):
                raise InvalidParameterError(
                    "weights_init must lie in [0, 1]; got min "
                    f"{weights.min():.5g} and max {weights.max():.5g}"
                )
            if not np.allclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
                raise InvalidParameterError(
                    f"weights_init must sum to 1 (normalise them); got sum {weights.sum():.6f}"
                )
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (k, n_features):
                raise InvalidParameterError(
                    f"means_init has shape {means.shape}; expected ({k}, {n_features}) for "
                    f"n_components={k} and {n_features} features"
                )
            if not np.isfinite(means).all():
                raise InvalidParameterError("means_init contains NaN or infinite values")
        if self.precisions_init is not None:
            precisions = np.asarray(self.precisions_init, dtype=np.float64)
            expected = covariance_shape(self.covariance_type, k, n_features)
            if precisions.shape != expected:
                raise InvalidParameterError(
                    f"precisions_init has shape {precisions.shape}; a '{self.covariance_type}' "
                    f"mixture with {k} components and {n_features} features needs {expected}"
                )
            if not np.isfinite(precisions).all():
                raise InvalidParameterError("precisions_init contains NaN or infinite values")
            if self.covariance_type in ("full", "tied"):
                asymmetry = np.abs(precisions - np.swapaxes(precisions, -1, -2)).max()
                if asymmetry > 1e-8 * max(np.abs(precisions).max(), 1.0):
                    raise InvalidParameterError(
                        "precisions_init must be symmetric; the largest difference between "
                        f"P and P.T is {asymmetry:.3g}. Symmetrise it, e.g. (P + P.T) / 2"
                    )

    def _initial_state(self, driver: Any, n_features: int, rng: np.random.RandomState) -> EMState:
        """Initial parameters from the user's values and/or a bounded sample of the data."""
        given_precisions_cholesky = (
            None
            if self.precisions_init is None
            else precisions_cholesky_from_precisions(self.precisions_init, self.covariance_type)
        )
        if (
            self.weights_init is not None
            and self.means_init is not None
            and given_precisions_cholesky is not None
        ):
            params = MixtureParameters.from_precisions_cholesky(
                self.weights_init, self.means_init, given_precisions_cholesky, self.covariance_type
            )
            return EMState(params=params)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        sample, sample_weight, _ = driver.init_sample(self.init_sample_size, seed)
        params = initial_parameters(
            sample,
            self.n_components,
            self.covariance_type,
            self.init_params,
            self.reg_covar,
            rng,
            sample_weight,
            dtype=resolve_dtype(self.dtype, sample.dtype),
        )
        weights = params.weights if self.weights_init is None else self.weights_init
        means = params.means if self.means_init is None else self.means_init
        if given_precisions_cholesky is None:
            params = MixtureParameters(
                weights, means, params.covariances, params.precisions_cholesky, self.covariance_type
            )
        else:
            params = MixtureParameters.from_precisions_cholesky(
                weights, means, given_precisions_cholesky, self.covariance_type
            )
        if params.n_features != n_features:
            raise InvalidInputError(
                f"the initial parameters have {params.n_features} features but the data has {n_features}"
            )
        return EMState(params=params)

    def _set_fitted(self, params: MixtureParameters) -> None:
        self.weights_ = np.array(params.weights)
        self.means_ = np.array(params.means)
        self.covariances_ = np.array(params.covariances)
        self.precisions_cholesky_ = np.array(params.precisions_cholesky)
        self.precisions_ = np.array(params.precisions)

    @property
    def parameters_(self) -> MixtureParameters:
        """The fitted parameters as one immutable value (for registries and drivers)."""
        check_is_fitted(self, "precisions_cholesky_")
        return MixtureParameters(
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
            self.covariance_type,
        )

    @classmethod
    def from_parameters(cls, params: MixtureParameters, **estimator_params: Any) -> "GaussianMixture":
        """A fitted estimator holding ``params`` (e.g. a loaded model version).

        Parameters
        ----------
        params : MixtureParameters
        **estimator_params
            Other constructor parameters (``chunk_size``, ``dtype``, ...).
        """
        model = cls(
            n_components=params.n_components,
            covariance_type=params.covariance_type,
            **estimator_params,
        )
        model._set_fitted(params)
        model.n_features_in_ = params.n_features
        model.converged_ = True
        model.n_iter_ = 0
        model.lower_bound_ = float("-inf")
        model.lower_bounds_ = []
        return model

    def _form(self, X: np.ndarray) -> NaturalForm:
        return natural_form(self.parameters_, resolve_dtype(self.dtype, X.dtype))

    # ================================================================== fitting
    def _driver(self, X: Any, sample_weight: Any) -> tuple[Any, Callable[[], dict[str, Any]]]:
        """The pass driver for X, and a function describing the data for checkpoint keys.

        The description hashes the data (or stats every stored file), so it is
        computed only when a checkpoint asks for it.
        """
        if is_out_of_core(X):
            from .drivers.dask_rows import DaskRows
            from .io.sources import RowData, open_rows

            rows = X if isinstance(X, RowData) else open_rows(X)
            self.n_features_in_ = rows.shape[1]
            if rows.feature_names is not None:
                self.feature_names_in_ = np.asarray(rows.feature_names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            driver = DaskRows(
                rows.array, sample_weight, self.nan_policy, rows.uri, self.scheduler, rows.reader,
                persist=self.persist,
            )
            return driver, lambda: {
                "uri": rows.uri, **rows.fingerprint(),
                "sample_weight": _weights_fingerprint(sample_weight),
            }
        X = self._validate_X(X, reset=True, finite=self.nan_policy == "raise")
        weights = check_sample_weight(sample_weight, X.shape[0])
        self.n_invalid_rows_ = 0
        if self.nan_policy == "drop":
            finite = finite_row_mask(X)
            if finite is not None:
                self.n_invalid_rows_ = int((~finite).sum())
                X = X[finite]
                weights = None if weights is None else weights[finite]
        def describe() -> dict[str, Any]:
            return {
                "format": "numpy", "shape": list(X.shape), "dtype": str(X.dtype),
                "content": _content_hash(X),
                "sample_weight": None if weights is None else _content_hash(weights),
            }

        return ChunkedArray(X, weights, self.chunk_size, self._n_threads()), describe

    def _fit_key(self, description: dict[str, Any]) -> str:
        from .drivers.checkpoint import fit_key

        ignored = {"verbose", "verbose_interval", "n_jobs", "scheduler"}
        params = {
            name: (value.tolist() if isinstance(value, np.ndarray) else value)
            for name, value in self.get_params().items()
            if name not in ignored
        }
        return fit_key({"data": description, "params": params})

    def fit(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        checkpoint: str | os.PathLike | None = None,
    ) -> "GaussianMixture":
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), Dask array, xarray, zarr, RowData or path
            In-memory data are processed in ``chunk_size`` chunks on threads; Dask,
            xarray and zarr arrays and Zarr/Parquet paths or URLs are processed out of
            core, one Dask pass per iteration (see :func:`streamgmm.open_rows` for
            variable/column selection).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights (weighted EM). Integer weights are equivalent
            to repeating rows.
        checkpoint : path, optional
            Folder for a checkpoint written after every iteration. A fit started again
            with the same checkpoint, data and parameters resumes from the last
            completed iteration and ends with the same model.

        Returns
        -------
        self
        """
        check_estimator_parameters(self.get_params())
        # A batch fit starts a new model: a later partial_fit continues from it afresh.
        for attribute in ONLINE_ATTRIBUTES:
            self.__dict__.pop(attribute, None)
        driver, describe = self._driver(X, sample_weight)
        n_samples, n_features = driver.n_samples, self.n_features_in_
        if n_samples < max(2, self.n_components):
            raise InvalidInputError(
                f"Expected n_samples >= n_components (and at least 2) but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}. Give more rows or fewer components."
            )
        self._check_initial_parameters(n_features)
        dtype = resolve_dtype(self.dtype, driver_dtype(driver))

        def compute_statistics(params: MixtureParameters):
            return driver.statistics(natural_form(params, dtype))

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_init)

        store = None
        best: EMState | None = None
        resumed: EMState | None = None
        first_init = 0
        if checkpoint is not None:
            from .drivers.checkpoint import CheckpointRecord, FitCheckpoint

            store = FitCheckpoint(checkpoint)
            key = self._fit_key(describe())
            record = store.load(key)
            if record is not None:
                first_init, resumed, best = record.init_index, record.current, record.best

        try:
            with single_threaded_blas():
                for init in range(first_init, n_init):
                    started = time.perf_counter()
                    self._report_init_start(init)
                    previous_lower_bound = None
                    if resumed is not None:
                        state, resumed = resumed, None
                    elif do_init:
                        state = self._initial_state(driver, n_features, np.random.RandomState(seeds[init]))
                    else:
                        state = EMState(params=self.parameters_)
                        previous_lower_bound = self.lower_bound_
                    report = self._iteration_reporter()

                    def on_iteration(current: EMState, change: float, init: int = init) -> None:
                        report(current, change)
                        if store is not None:
                            store.save(CheckpointRecord(key, init, current, best))

                    if store is not None:
                        store.save(CheckpointRecord(key, init, state, best))
                    state = run_em(
                        state,
                        compute_statistics,
                        reg_covar=self.reg_covar,
                        tol=self.tol,
                        max_iter=self.max_iter,
                        previous_lower_bound=previous_lower_bound,
                        on_iteration=on_iteration,
                    )
                    self._report_init_end(state, time.perf_counter() - started)
                    if best is None or (self.max_iter > 0 and state.lower_bound > best.lower_bound):
                        best = state
                    if store is not None:
                        store.save(CheckpointRecord(key, init + 1, None, best))
        finally:
            if hasattr(driver, "close"):
                driver.close()
        assert best is not None
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        if is_out_of_core(X):
            self.n_invalid_rows_ = int(driver.invalid_rows.count)
            self.persisted_ = bool(driver.persisted)
        self._set_fitted(best.params)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = list(best.lower_bounds)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return the labels of X under the fitted model, shape (n_samples,)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    # =============================================================== prediction
    def _chunks(self, X: np.ndarray) -> ChunkedArray:
        return ChunkedArray(X, None, self.chunk_size, self._n_threads())

    def _lazy_posteriors(self, X: Any) -> tuple[Any, Any, Any]:
        """Lazy row log-likelihoods and responsibilities of out-of-core X, and their driver."""
        from .drivers.dask_rows import DaskRows
        from .io.sources import RowData, open_rows

        rows = X if isinstance(X, RowData) else open_rows(X)
        if rows.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"{rows.uri} has {rows.shape[1]} features, but GaussianMixture is expecting "
                f"{self.n_features_in_} features as input."
            )
        driver = DaskRows(rows.array, where=rows.uri, scheduler=self.scheduler)
        form = natural_form(self.parameters_, resolve_dtype(self.dtype, rows.array.dtype))
        return (*driver.posteriors(form), driver)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of every row under the mixture, shape (n_samples,).

        For out-of-core X (Dask, xarray, zarr, paths) the result is a lazy Dask
        array computed chunk by chunk; see also :func:`streamgmm.write_predictions`.
        """
        check_is_fitted(self, "precisions_cholesky_")
        if is_out_of_core(X):
            return self._lazy_posteriors(X)[0]
        X = self._validate_X(X, reset=False)
        form = self._form(X)
        out = np.empty(X.shape[0])

        def one_chunk(start: int, stop: int) -> None:
            out[start:stop] = chunk_posteriors(X[start:stop], form)[0]

        with single_threaded_blas():
            self._chunks(X).map(one_chunk)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row, shape (n_samples, K).

        Temporaries are bounded by ``chunk_size`` rows, whatever n_samples. For
        out-of-core X the result is a lazy Dask array.
        """
        check_is_fitted(self, "precisions_cholesky_")
        if is_out_of_core(X):
            return self._lazy_posteriors(X)[1]
        X = self._validate_X(X, reset=False)
        form = self._form(X)
        out = np.empty((X.shape[0], self.n_components))

        def one_chunk(start: int, stop: int) -> None:
            out[start:stop] = chunk_posteriors(X[start:stop], form)[1]

        with single_threaded_blas():
            self._chunks(X).map(one_chunk)
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape (n_samples,) (lazy for out-of-core X)."""
        check_is_fitted(self, "precisions_cholesky_")
        if is_out_of_core(X):
            return self._lazy_posteriors(X)[1].argmax(axis=1)
        X = self._validate_X(X, reset=False)
        form = self._form(X)
        out = np.empty(X.shape[0], dtype=np.int64)

        def one_chunk(start: int, stop: int) -> None:
            out[start:stop] = chunk_weighted_log_prob(X[start:stop], form).argmax(axis=1)

        with single_threaded_blas():
            self._chunks(X).map(one_chunk)
        return out

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row of X."""
        if is_out_of_core(X):
            scores, _, driver = self._lazy_posteriors(X)
            with driver:
                (mean,) = driver.compute(scores.mean())
            return float(mean)
        return float(self.score_samples(X).mean())

    @staticmethod
    def _n_rows(X: Any) -> int:
        if isinstance(X, (str, os.PathLike)):
            from .io.sources import open_rows

            return open_rows(X).shape[0]
        return int(getattr(X, "shape", np.shape(X))[0])

    def _n_parameters(self) -> int:
        return self.parameters_.n_parameters

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on X (lower is better)."""
        n_samples = self._n_rows(X)
        return float(-2 * self.score(X) * n_samples + self._n_parameters() * np.log(n_samples))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on X (lower is better)."""
        n_samples = self._n_rows(X)
        return float(-2 * self.score(X) * n_samples + 2 * self._n_parameters())

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

    # ================================================================ reporting
    def _report_init_start(self, init: int) -> None:
        if self.verbose >= 1:
            print(f"Initialization {init}")
        self._last_report = time.perf_counter()

    def _iteration_reporter(self):
        def report(state: EMState, change: float) -> None:
            if self.verbose == 0 or state.n_iter % self.verbose_interval != 0:
                return
            if self.verbose == 1:
                print(f"  Iteration {state.n_iter}")
            else:
                now = time.perf_counter()
                print(
                    f"  Iteration {state.n_iter}\t time lapse {now - self._last_report:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._last_report = now

        return report

    def _report_init_end(self, state: EMState, elapsed: float) -> None:
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

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn protocol
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

