"""``streamgmm.BayesianGaussianMixture``: scikit-learn's variational mixture, in and out of core.

Same parameters, defaults, attributes and methods as
``sklearn.mixture.BayesianGaussianMixture`` (a Dirichlet-process or Dirichlet
prior on the weights, Gaussian-Wishart priors on the components), fitted by the
same engine as :class:`~streamgmm.GaussianMixture`: one fused pass over the
data per iteration, in memory or out of core (Dask, xarray, Zarr, Parquet),
``sample_weight``, float32 compute with float64 accumulation, checkpoints, and
bitwise the same model on any scheduler. The mathematics is in
:mod:`streamgmm.core.variational`; the family that plugs it into the loop is
:class:`streamgmm.core.family.Variational`.

Differences from scikit-learn
-----------------------------
- Initialisation runs on at most ``init_sample_size`` rows: ``init_params``
  gives responsibilities of the sample, whose statistics (scaled up to the
  data's row count when the sample is smaller) make the first posterior. With
  fewer rows than ``init_sample_size`` this is scikit-learn's ``_initialize``.
- ``responsibilities_init`` starts from given responsibilities instead (in
  memory), which makes a fit comparable with scikit-learn's step for step.
- ``active_components_`` / ``n_active_components_`` report the components whose
  expected weight is at least ``weight_threshold``.
- ``partial_fit`` learns online by stochastic variational inference (Hoffman et
  al. 2013; :mod:`streamgmm.online.svi_fit`, :mod:`streamgmm.core.svi`), which
  makes the estimator a stream runner's model (``model.kind: bayesian``).
- ``from_posterior`` / ``from_version`` build a fitted estimator from a posterior
  and its priors (e.g. a registry version) that predicts identically and
  continues learning (``partial_fit``, ``warm_start``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .core.errors import InvalidParameterError
from .core.estep import NaturalForm
from .core.family import Variational
from .core.init import checked_statistics_from_responsibilities
from .core.params import MixtureParameters
from .core.svi import SVIState
from .core.variational import (
    DEFAULT_WEIGHT_THRESHOLD,
    active_components,
    PriorSettings,
    VariationalPosterior,
    VariationalPriors,
    check_priors,
    resolve_priors,
    variational_form,
)
from .engine import MixtureSpec, WarmStart, fit
from .engine.fit import check_sizes
from .engine.moments import data_moments
from .io.detect import is_out_of_core
from .mixture_base import MixtureEstimator
from .online.svi_fit import StochasticVariationalMixin
from .validation import resolve_dtype

if TYPE_CHECKING:  # pragma: no cover - annotation only; any object with .posterior works
    from .registry.version import ModelVersion

__all__ = ["BayesianGaussianMixture"]


class BayesianGaussianMixture(StochasticVariationalMixin, MixtureEstimator):
    """Variational Bayesian Gaussian mixture, one fused pass over the data per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components; the prior switches off the
        components the data do not need (see ``active_components_``).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (scikit-learn's, a
        total over the rows, not a mean).
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initial responsibilities, computed on at most ``init_sample_size`` rows.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, default="dirichlet_process"
    weight_concentration_prior : float > 0 or None, default=None
        ``1 / n_components`` when None.
    mean_precision_prior : float > 0 or None, default=None
        1 when None.
    mean_prior : array-like of shape (D,) or None, default=None
        The data's mean when None.
    degrees_of_freedom_prior : float > D - 1 or None, default=None
        ``n_features`` when None.
    covariance_prior : float or array-like or None, default=None
        (D, D) for full/tied (symmetric positive definite), (D,) for diag and a
        number for spherical (positive); the data's covariance (ddof=1; its
        diagonal, or the mean of its diagonal) when None. Out of core, defaults for
        ``mean_prior`` or ``covariance_prior`` cost one extra pass over the data
        (plus a 1,000-row sample for a reference point), before the initialisation.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Continue from the previous fit's posterior (a single initialisation).
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size, dtype, n_jobs, init_sample_size, nan_policy, scheduler, persist
        As in :class:`streamgmm.GaussianMixture`.
    weight_threshold : float in [0, 1), default=0.01
        A component whose expected weight (``weights_``) is below it counts as
        switched off in ``active_components_``; nothing else depends on it.
    responsibilities_init : array-like of shape (n_samples, n_components) or None, default=None
        Start from these responsibilities (non-negative; in memory only): the first
        posterior is the update on their statistics, exactly scikit-learn's
        ``_initialize(X, resp)``. ``init_params`` and ``n_init`` are then unused.
    step_decay : float in (0.5, 1], default=0.7
        ``kappa`` of the SVI step sizes ``rho_t = (t + step_offset)^-kappa``
        (``partial_fit``), as in :class:`streamgmm.GaussianMixture`.
    step_offset : float >= 0, default=2.0
    step_size : float in (0, 1] or None, default=None
        A constant step instead (forgets with a window of about ``1 / step_size`` batches).
    warm_up_size : int or None, default=None
        Rows the first ``partial_fit`` calls collect and fit in batch before SVI
        starts (None: ``10 * n_components * n_features``).
    total_samples : float > 0 or None, default=None
        ``N``, the size of the data set the posterior stands for in each SVI step
        (the batch's statistics count ``N / |B|`` times). None: the data weight
        seen so far (warm-up included), so the posterior grows as confident as the
        stream is long; a number keeps it at a window of about that many rows.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As in scikit-learn (``covariances_`` is the Wishart scale divided by the
        degrees of freedom).
    weight_concentration_ : tuple of two (K,) arrays, or ndarray of shape (K,)
    weight_concentration_prior_ : float
    mean_precision_ : ndarray of shape (K,)
    mean_precision_prior_ : float
    mean_prior_ : ndarray of shape (D,)
    degrees_of_freedom_ : ndarray of shape (K,) (a number for tied)
    degrees_of_freedom_prior_ : float
    covariance_prior_ : float or ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        scikit-learn's variational lower bound of the best initialisation.
    lower_bounds_ : list of float
    active_components_ : ndarray of int
        Indices of the components with ``weights_ >= weight_threshold``.
    n_active_components_ : int
    n_invalid_rows_ : int
    persisted_ : bool
        Out-of-core fits only.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (D,)
        Only for input with string column names.
    online_state_ : SVIState
        After ``partial_fit``: posterior, priors, running statistics and counters.
    n_steps_, n_samples_seen_, step_size_, batch_log_likelihood_
        After ``partial_fit``: SVI steps, rows seen, the last ``rho_t`` and the last
        batch's mean log-likelihood under the posterior before its step.
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
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: Any = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: Any = None,
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
        weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD,
        responsibilities_init: Any = None,
        step_decay: float = 0.7,
        step_offset: float = 2.0,
        step_size: float | None = None,
        warm_up_size: int | None = None,
        total_samples: float | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
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
        self.weight_threshold = weight_threshold
        self.responsibilities_init = responsibilities_init
        self.step_decay = step_decay
        self.step_offset = step_offset
        self.step_size = step_size
        self.warm_up_size = warm_up_size
        self.total_samples = total_samples

    # ================================================================ helpers
    def _prior_settings(self) -> PriorSettings:
        return PriorSettings(
            covariance_type=self.covariance_type,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=self.weight_concentration_prior,
            mean_precision_prior=self.mean_precision_prior,
            mean_prior=self.mean_prior,
            degrees_of_freedom_prior=self.degrees_of_freedom_prior,
            covariance_prior=self.covariance_prior,
        )

    def _set_fitted(self, posterior: VariationalPosterior, family: Variational) -> None:
        # float64 whatever the compute dtype, as scikit-learn's variational mixture (its
        # float64 priors promote a float32 fit's parameters).
        priors = family.priors
        concentration = posterior.weight_concentration
        self.weight_concentration_ = (
            (np.array(concentration[0]), np.array(concentration[1]))
            if isinstance(concentration, tuple) else np.array(concentration)
        )
        self.mean_precision_ = np.array(posterior.mean_precision)
        self.means_ = np.array(posterior.means)
        dof = np.asarray(posterior.degrees_of_freedom)
        self.degrees_of_freedom_ = float(dof) if dof.ndim == 0 else np.array(dof)
        self.covariances_ = np.array(posterior.covariances)
        self.precisions_cholesky_ = np.array(posterior.precisions_cholesky)
        self.precisions_ = np.array(posterior.precisions)
        self.weights_ = np.array(posterior.weights)
        self.weight_concentration_prior_ = priors.weight_concentration_prior
        self.mean_precision_prior_ = priors.mean_precision_prior
        self.mean_prior_ = np.array(priors.mean_prior)
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom_prior
        prior = np.array(priors.covariance_prior)
        self.covariance_prior_ = float(prior) if prior.ndim == 0 else prior

    @property
    def posterior_(self) -> VariationalPosterior:
        """The fitted posterior as one immutable value."""
        check_is_fitted(self, "precisions_cholesky_")
        concentration = self.weight_concentration_
        return VariationalPosterior(
            covariance_type=self.covariance_type,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration=concentration,
            mean_precision=self.mean_precision_,
            means=self.means_,
            degrees_of_freedom=np.asarray(self.degrees_of_freedom_, dtype=np.float64),
            covariances=self.covariances_,
            precisions_cholesky=self.precisions_cholesky_,
        )

    @property
    def parameters_(self) -> MixtureParameters:
        """The posterior's point estimate (expected weights, means, covariances), as
        ``GaussianMixture.parameters_``; predictions use the whole posterior."""
        return self.posterior_.mixture

    @property
    def priors_(self) -> VariationalPriors:
        """The resolved priors of the fit as one immutable value."""
        check_is_fitted(self, "covariance_prior_")
        return VariationalPriors(
            weight_concentration_prior_type=self.weight_concentration_prior_type,  # type: ignore[arg-type]
            weight_concentration_prior=float(self.weight_concentration_prior_),
            mean_precision_prior=float(self.mean_precision_prior_),
            mean_prior=np.asarray(self.mean_prior_, dtype=np.float64),
            degrees_of_freedom_prior=float(self.degrees_of_freedom_prior_),
            covariance_prior=np.asarray(self.covariance_prior_, dtype=np.float64),
            covariance_type=self.covariance_type,
        )

    @classmethod
    def from_posterior(
        cls, posterior: VariationalPosterior, priors: VariationalPriors, **estimator_params: Any
    ) -> "BayesianGaussianMixture":
        """A fitted estimator holding ``posterior`` (e.g. a loaded model version).

        The priors become the constructor's (resolved, no data defaults), so a
        ``warm_start`` fit or ``partial_fit`` continues under the same priors.

        Parameters
        ----------
        posterior : VariationalPosterior
        priors : VariationalPriors
        **estimator_params
            Other constructor parameters (``chunk_size``, ``dtype``, ``step_size``, ...).
        """
        fixed = ("n_components", "covariance_type", "weight_concentration_prior_type", "weight_concentration_prior",
                 "mean_precision_prior", "mean_prior", "degrees_of_freedom_prior", "covariance_prior")
        params = {k: v for k, v in estimator_params.items() if k not in fixed}
        prior = np.array(priors.covariance_prior)
        model = cls(
            n_components=posterior.n_components,
            covariance_type=posterior.covariance_type,
            weight_concentration_prior_type=posterior.weight_concentration_prior_type,
            weight_concentration_prior=priors.weight_concentration_prior,
            mean_precision_prior=priors.mean_precision_prior,
            mean_prior=np.array(priors.mean_prior),
            degrees_of_freedom_prior=priors.degrees_of_freedom_prior,
            covariance_prior=float(prior) if prior.ndim == 0 else prior,
            **params,
        )
        model._set_fitted(posterior, Variational(priors))
        model.n_features_in_ = posterior.n_features
        model.converged_ = True
        model.n_iter_ = 0
        model.lower_bound_ = float("-inf")
        model.lower_bounds_ = []
        return model

    @classmethod
    def from_version(cls, version: ModelVersion, **estimator_params: Any) -> "BayesianGaussianMixture":
        """A fitted estimator holding a Bayesian registry version's posterior and priors.

        Parameters
        ----------
        version : ModelVersion
            E.g. ``ModelRegistry(root).load(name, "latest")``; its ``kind`` must be "bayesian".
        **estimator_params
            Other constructor parameters.

        Raises
        ------
        InvalidParameterError
            The version holds a Gaussian mixture (load it with ``GaussianMixture.from_version``).
        """
        if version.posterior is None or version.priors is None:
            raise InvalidParameterError(
                f"model version {version.name}:{version.version} is a Gaussian mixture, not a "
                "variational posterior: load it with streamgmm.GaussianMixture.from_version"
            )
        model = cls.from_posterior(version.posterior, version.priors, **estimator_params)
        lower_bound = version.metadata.metrics.lower_bound
        if lower_bound is not None:
            model.lower_bound_ = float(lower_bound)
            model.lower_bounds_ = [float(lower_bound)]
        return model

    @property
    def active_components_(self) -> np.ndarray:
        """Indices of the components whose expected weight is at least ``weight_threshold``."""
        check_is_fitted(self, "weights_")
        return active_components(self.weights_, self.weight_threshold)

    @property
    def n_active_components_(self) -> int:
        """How many components the data use (``len(active_components_)``)."""
        return int(len(self.active_components_))

    def _prediction_form(self, dtype: np.dtype) -> NaturalForm:
        return variational_form(self.posterior_, dtype)

    def _given_responsibilities(self, X: Any, driver: Any) -> np.ndarray:
        """``responsibilities_init`` checked against the in-memory rows."""
        if driver.out_of_core or is_out_of_core(X):
            raise InvalidParameterError(
                "responsibilities_init needs the rows in memory (a numpy array); for "
                f"{driver.where} leave it None and use init_params"
            )
        resp = np.asarray(self.responsibilities_init, dtype=np.float64)
        expected = (driver.n_samples, self.n_components)
        if resp.shape != expected or driver.n_invalid_rows:
            raise InvalidParameterError(
                f"responsibilities_init has shape {resp.shape}; expected {expected} "
                "(one row per row of X, one column per component; X must have no invalid rows)"
            )
        if not np.isfinite(resp).all() or np.any(resp < 0):
            raise InvalidParameterError(
                "responsibilities_init must be finite and non-negative; found "
                f"min {np.nanmin(resp):.6g} and {int((~np.isfinite(resp)).sum())} non-finite values"
            )
        return resp

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
    ) -> "BayesianGaussianMixture":
        """Estimate the variational posterior.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), Dask array, xarray, zarr, RowData or path
            As for :meth:`streamgmm.GaussianMixture.fit`.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights; integer weights equal repeating rows (the
            lower bound's entropy term is weighted the same way).
        checkpoint : path, optional
            Folder for a checkpoint after every iteration; a fit started again with it
            resumes from the last completed iteration and ends with the same model.
        sample_dim, feature_dim : str, optional
            Names of the row and feature dimensions of xarray or Zarr X (default
            "sample" and "feature"), as for :meth:`streamgmm.GaussianMixture.fit`.

        Returns
        -------
        self
        """
        X, data, store = self._open_fit(X, sample_weight, checkpoint, sample_dim, feature_dim)
        n_features = data.driver.n_features
        # Every prior is refused here, before any pass over the data.
        settings = self._prior_settings()
        check_priors(settings, n_features)
        spec = MixtureSpec(n_components=self.n_components, covariance_type=self.covariance_type,
                           init_params=self.init_params)
        resp = None
        if self.responsibilities_init is not None:
            resp = self._given_responsibilities(X, data.driver)
        with data.driver as driver:
            check_sizes(driver, [spec], lone=True)
            mean = covariance = None
            if settings.needs_data_moments:
                mean, covariance = data_moments(driver, self.covariance_type)
            family = Variational(resolve_priors(settings, self.n_components, mean, covariance))
            warm = None
            if self.warm_start and hasattr(self, "converged_"):
                warm = WarmStart(self.posterior_, self.lower_bound_)
            elif resp is not None:
                weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
                stats = checked_statistics_from_responsibilities(
                    np.asarray(X), resp, self.covariance_type, weights,
                    dtype=resolve_dtype(self.dtype, driver.dtype),
                )
                warm = WarmStart(family.start(stats, self.reg_covar), float("-inf"))
            result = fit(driver, spec, self._fit_plan(family), warm_start=warm, checkpoint=store,
                         stacklevel=2)
        self._set_fitted(result.state.params, family)
        self._record_fit(result)
        return self



def _stream_model(online: SVIState | None, params: dict[str, Any]) -> BayesianGaussianMixture:
    """The stream runner's Bayesian model: fresh (it warms up), or continuing ``online``."""
    if online is None:
        return BayesianGaussianMixture(**params)
    return BayesianGaussianMixture.from_online_state(online, **params)

