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
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .core.estep import NaturalForm, natural_form
from .core.params import MixtureParameters
from .core.stepwise import OnlineState
from .engine import MixtureSpec, WarmStart, fit
from .mixture_base import MixtureEstimator, still_shown
from .online.partial_fit import StepwiseEMMixin
from .validation import resolve_dtype

if TYPE_CHECKING:  # pragma: no cover - annotation only; any object with .parameters works
    from .registry.version import ModelVersion

__all__ = ["GaussianMixture"]


class GaussianMixture(StepwiseEMMixin, MixtureEstimator):
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
        Initialisation method, computed on at most ``init_sample_size`` rows (with
        ``init_sample_size=None``: on every row, exactly as scikit-learn does).
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
    init_sample_size : int or None, default=100000
        Rows drawn (seeded, without replacement, chosen the same way whatever the
        chunking) for initialisation when X is larger. None initialises on every row
        exactly as scikit-learn does: its ``KMeans``/``kmeans_plusplus`` on X as
        given and its random stream (``check_random_state(random_state)`` shared by
        the ``n_init`` initialisations), so with the same ``random_state`` the fit
        starts, and ends, where scikit-learn's does. Out-of-core X is then read into
        memory once.
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
        After ``fit``, in the compute dtype (float32 when ``dtype="float32"`` or
        float32 input, as scikit-learn keeps float32); the fit itself accumulates
        in float64.
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
        init_sample_size: int | None = 100_000,
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
    def _mixture_spec(self) -> MixtureSpec:
        """The mixture to fit, for the engine."""
        return MixtureSpec(
            n_components=self.n_components, covariance_type=self.covariance_type,
            init_params=self.init_params, weights_init=self.weights_init,
            means_init=self.means_init, precisions_init=self.precisions_init,
        )

    def _set_fitted(self, params: MixtureParameters, dtype: Any = np.float64) -> None:
        # float64 parameters shown in ``dtype`` (scikit-learn keeps float32 fits float32);
        # the float64 value is kept for parameters_ (registry, warm starts, partial_fit).
        self._fitted_parameters = params
        self.weights_ = np.array(params.weights, dtype=dtype)
        self.means_ = np.array(params.means, dtype=dtype)
        self.covariances_ = np.array(params.covariances, dtype=dtype)
        self.precisions_cholesky_ = np.array(params.precisions_cholesky, dtype=dtype)
        self.precisions_ = np.array(params.precisions, dtype=dtype)

    @property
    def parameters_(self) -> MixtureParameters:
        """The fitted parameters as one immutable value (for registries and drivers).

        float64 always: after a float32 fit, the fit's own float64 parameters (the
        attributes show them rounded to float32), unless the attributes were changed.
        """
        check_is_fitted(self, "precisions_cholesky_")
        kept = self.__dict__.get("_fitted_parameters")
        names = ("weights", "means", "covariances", "precisions_cholesky")
        if kept is not None and kept.covariance_type == self.covariance_type and still_shown(
            {name: getattr(self, name + "_") for name in names},
            {name: getattr(kept, name) for name in names},
        ):  # the attributes still show the fit: its exact float64 value
            return kept
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

    @classmethod
    def from_version(cls, version: ModelVersion, **estimator_params: Any) -> "GaussianMixture":
        """A fitted estimator holding a registry version's parameters.

        The registry returns parameters and metadata; estimators are built here, above it.

        Parameters
        ----------
        version : ModelVersion
            E.g. ``ModelRegistry(root).load(name, "latest")``.
        **estimator_params
            Other constructor parameters (``chunk_size``, ``dtype``, ...).
        """
        return cls.from_parameters(version.parameters, **estimator_params)

    # ================================================================== fitting
    def fit(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        sample_dim: str | None = None,
        feature_dim: str | None = None,
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
        sample_dim, feature_dim : str, optional
            Names of the row and feature dimensions of xarray or Zarr X (default
            "sample" and "feature"), e.g. ``fit(da, sample_dim="time", feature_dim="band")``.

        Returns
        -------
        self
        """
        X, data, store = self._open_fit(X, sample_weight, checkpoint, sample_dim, feature_dim)
        warm = (
            WarmStart(self.parameters_, self.lower_bound_)
            if self.warm_start and hasattr(self, "converged_") else None
        )
        with data.driver as driver:
            result = fit(driver, self._mixture_spec(), self._fit_plan(), warm_start=warm,
                         checkpoint=store, stacklevel=2)
        self._set_fitted(result.state.params, resolve_dtype(self.dtype, data.driver.dtype))
        self._record_fit(result)
        return self

    # =============================================================== prediction
    def _prediction_form(self, dtype: np.dtype) -> NaturalForm:
        return natural_form(self.parameters_, dtype)

    def _n_parameters(self) -> int:
        return self.parameters_.n_parameters

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on X (lower is better)."""
        mean, n_samples = self._mean_log_likelihood(X)
        return float(-2 * mean * n_samples + self._n_parameters() * np.log(n_samples))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on X (lower is better)."""
        mean, n_samples = self._mean_log_likelihood(X)
        return float(-2 * mean * n_samples + 2 * self._n_parameters())



def _stream_model(online: OnlineState | None, params: dict[str, Any]) -> GaussianMixture:
    """The stream runner's model: fresh (it warms up), or continuing ``online``."""
    if online is None:
        return GaussianMixture(**params)
    return GaussianMixture.from_online_state(online, **params)

