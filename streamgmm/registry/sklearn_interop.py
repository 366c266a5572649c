"""Exchange parameters with scikit-learn's ``GaussianMixture`` and
``BayesianGaussianMixture``, without refitting.

Arrays are copied verbatim both ways (``precisions_cholesky_`` is never
recomputed), so an exported model scores bitwise the same as the parameters it
came from. A Bayesian mixture travels as its whole variational posterior and its
priors (:func:`to_sklearn_bayesian`, :func:`from_sklearn_bayesian`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from streamgmm.core.errors import InvalidParameterError
from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import VariationalPosterior, VariationalPriors

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.mixture import BayesianGaussianMixture as SklearnBayesianGaussianMixture
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

__all__ = ["from_sklearn", "from_sklearn_bayesian", "to_sklearn", "to_sklearn_bayesian"]

_FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def to_sklearn(
    parameters: MixtureParameters,
    *,
    feature_names: Sequence[str] | None = None,
    converged: bool = True,
    n_iter: int = 0,
    lower_bound: float | None = None,
    **estimator_params: Any,
) -> SklearnGaussianMixture:
    """A fitted scikit-learn ``GaussianMixture`` holding ``parameters``.

    Parameters
    ----------
    parameters : MixtureParameters
        weights (K,), means (K, D), covariances and precisions_cholesky.
    feature_names : sequence of str of length D, optional
        Sets ``feature_names_in_`` (scikit-learn then checks DataFrame columns).
    converged, n_iter, lower_bound : optional
        Values for ``converged_``, ``n_iter_`` and ``lower_bound_`` (``-inf`` if None).
    **estimator_params
        Further constructor arguments (``random_state``, ``reg_covar``, ...).
        ``n_components`` and ``covariance_type`` come from ``parameters``.

    Returns
    -------
    sklearn.mixture.GaussianMixture
        Ready for ``predict``, ``predict_proba``, ``score_samples``, ``sample``,
        ``bic``/``aic``, and for warm-started refits (its arrays are writable copies).
    """
    from sklearn.mixture import GaussianMixture

    if not isinstance(parameters, MixtureParameters):
        raise InvalidParameterError(
            f"to_sklearn needs MixtureParameters, got {type(parameters).__name__}; "
            "use ModelVersion.to_sklearn() for a loaded version."
        )
    for key, value in (
        ("n_components", parameters.n_components),
        ("covariance_type", parameters.covariance_type),
    ):
        if key in estimator_params and estimator_params.pop(key) != value:
            raise InvalidParameterError(
                f"{key} is fixed by the parameters ({value!r}); leave it out of estimator_params."
            )
    estimator = GaussianMixture(
        n_components=parameters.n_components,
        covariance_type=parameters.covariance_type,
        **estimator_params,
    )
    estimator.weights_ = np.array(parameters.weights)
    estimator.means_ = np.array(parameters.means)
    estimator.covariances_ = np.array(parameters.covariances)
    estimator.precisions_cholesky_ = np.array(parameters.precisions_cholesky)
    estimator.precisions_ = np.array(parameters.precisions)
    _set_diagnostics(estimator, parameters.n_features, feature_names, converged, n_iter, lower_bound)
    return estimator


def _set_diagnostics(
    estimator: Any,
    n_features: int,
    feature_names: Sequence[str] | None,
    converged: bool,
    n_iter: int,
    lower_bound: float | None,
) -> None:
    """The fitted attributes every exported mixture has besides its parameters."""
    estimator.converged_ = bool(converged)
    estimator.n_iter_ = int(n_iter)
    estimator.lower_bound_ = float("-inf") if lower_bound is None else float(lower_bound)
    estimator.lower_bounds_ = [] if lower_bound is None else [float(lower_bound)]
    estimator.n_features_in_ = n_features
    if feature_names is not None:
        names = np.asarray(list(feature_names), dtype=object)
        if names.shape != (n_features,):
            raise InvalidParameterError(
                f"feature_names has {names.size} names but the model has {n_features} features."
            )
        estimator.feature_names_in_ = names


def from_sklearn(estimator: Any) -> MixtureParameters:
    """The parameters of a fitted scikit-learn (or streamgmm) ``GaussianMixture``.

    Parameters
    ----------
    estimator : sklearn.mixture.GaussianMixture or streamgmm.GaussianMixture
        A fitted estimator. A streamgmm estimator's ``parameters_`` is returned as is.

    Returns
    -------
    MixtureParameters
        Arrays copied bitwise from ``weights_``, ``means_``, ``covariances_`` and
        ``precisions_cholesky_``.

    Raises
    ------
    InvalidParameterError
        If the estimator is not fitted or is not a Gaussian mixture.
    """
    parameters = getattr(estimator, "parameters_", None)
    if isinstance(parameters, MixtureParameters):
        return parameters
    missing = [name for name in _FITTED_ATTRIBUTES if not hasattr(estimator, name)]
    covariance_type = getattr(estimator, "covariance_type", None)
    if missing or covariance_type is None:
        raise InvalidParameterError(
            f"{type(estimator).__name__} has no {', '.join(missing) or 'covariance_type'}: "
            "from_sklearn needs a fitted GaussianMixture. Call fit(X) first."
        )
    return MixtureParameters(
        weights=estimator.weights_,
        means=estimator.means_,
        covariances=estimator.covariances_,
        precisions_cholesky=estimator.precisions_cholesky_,
        covariance_type=covariance_type,
    )


_POSTERIOR_ATTRIBUTES = (
    "weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
    "covariances_", "precisions_cholesky_",
)
_PRIOR_ATTRIBUTES = (
    "weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
    "degrees_of_freedom_prior_", "covariance_prior_",
)


def _copy_concentration(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(np.array(part, dtype=np.float64) for part in value)
    return np.array(value, dtype=np.float64)


def to_sklearn_bayesian(
    posterior: VariationalPosterior,
    priors: VariationalPriors,
    *,
    feature_names: Sequence[str] | None = None,
    converged: bool = True,
    n_iter: int = 0,
    lower_bound: float | None = None,
    **estimator_params: Any,
) -> SklearnBayesianGaussianMixture:
    """A fitted scikit-learn ``BayesianGaussianMixture`` holding ``posterior`` and ``priors``.

    Parameters
    ----------
    posterior : VariationalPosterior
        weight_concentration ((K,), (K,)) or (K,), mean_precision (K,), means (K, D),
        degrees_of_freedom (K,), covariances and precisions_cholesky.
    priors : VariationalPriors
        Set as the fitted ``*_prior_`` attributes and as the constructor's priors.
    feature_names, converged, n_iter, lower_bound : optional
        As in :func:`to_sklearn`.
    **estimator_params
        Further constructor arguments; ``n_components``, ``covariance_type`` and
        ``weight_concentration_prior_type`` come from the posterior.

    Returns
    -------
    sklearn.mixture.BayesianGaussianMixture
        Ready for ``predict``, ``predict_proba``, ``score_samples``, ``sample``
        and warm-started refits.
    """
    from sklearn.mixture import BayesianGaussianMixture

    if not isinstance(posterior, VariationalPosterior) or not isinstance(priors, VariationalPriors):
        raise InvalidParameterError(
            f"to_sklearn_bayesian needs a VariationalPosterior and VariationalPriors, got "
            f"{type(posterior).__name__} and {type(priors).__name__}; use "
            "ModelVersion.to_sklearn() for a loaded version."
        )
    fixed = {
        "n_components": posterior.n_components,
        "covariance_type": posterior.covariance_type,
        "weight_concentration_prior_type": posterior.weight_concentration_prior_type,
    }
    for key, value in fixed.items():
        if key in estimator_params and estimator_params.pop(key) != value:
            raise InvalidParameterError(
                f"{key} is fixed by the posterior ({value!r}); leave it out of estimator_params."
            )
    covariance_prior = np.array(priors.covariance_prior)
    estimator = BayesianGaussianMixture(
        **fixed,
        weight_concentration_prior=priors.weight_concentration_prior,
        mean_precision_prior=priors.mean_precision_prior,
        mean_prior=np.array(priors.mean_prior),
        degrees_of_freedom_prior=priors.degrees_of_freedom_prior,
        covariance_prior=float(covariance_prior) if covariance_prior.ndim == 0 else covariance_prior,
        **estimator_params,
    )
    estimator.weight_concentration_prior_ = priors.weight_concentration_prior
    estimator.mean_precision_prior_ = priors.mean_precision_prior
    estimator.mean_prior_ = np.array(priors.mean_prior)
    estimator.degrees_of_freedom_prior_ = priors.degrees_of_freedom_prior
    estimator.covariance_prior_ = float(covariance_prior) if covariance_prior.ndim == 0 else covariance_prior
    estimator.weight_concentration_ = _copy_concentration(posterior.weight_concentration)
    estimator.mean_precision_ = np.array(posterior.mean_precision)
    estimator.means_ = np.array(posterior.means)
    dof = np.array(posterior.degrees_of_freedom)
    estimator.degrees_of_freedom_ = float(dof) if dof.ndim == 0 else dof
    estimator.covariances_ = np.array(posterior.covariances)
    estimator.precisions_cholesky_ = np.array(posterior.precisions_cholesky)
    estimator.precisions_ = np.array(posterior.precisions)
    estimator.weights_ = np.array(posterior.weights)
    _set_diagnostics(estimator, posterior.n_features, feature_names, converged, n_iter, lower_bound)
    return estimator


def from_sklearn_bayesian(estimator: Any) -> tuple[VariationalPosterior, VariationalPriors]:
    """The posterior and priors of a fitted scikit-learn (or streamgmm) ``BayesianGaussianMixture``.

    Returns
    -------
    posterior : VariationalPosterior
        Arrays copied bitwise from the fitted attributes.
    priors : VariationalPriors
        From ``weight_concentration_prior_``, ``mean_precision_prior_``,
        ``mean_prior_``, ``degrees_of_freedom_prior_`` and ``covariance_prior_``.

    Raises
    ------
    InvalidParameterError
        If the estimator is not a fitted Bayesian Gaussian mixture.
    """
    posterior = getattr(estimator, "posterior_", None)
    priors = getattr(estimator, "priors_", None)
    if isinstance(posterior, VariationalPosterior) and isinstance(priors, VariationalPriors):
        return posterior, priors
    names = _POSTERIOR_ATTRIBUTES + _PRIOR_ATTRIBUTES
    missing = [name for name in names if not hasattr(estimator, name)]
    covariance_type = getattr(estimator, "covariance_type", None)
    prior_type = getattr(estimator, "weight_concentration_prior_type", None)
    if missing or covariance_type is None or prior_type is None:
        raise InvalidParameterError(
            f"{type(estimator).__name__} has no {', '.join(missing) or 'covariance_type'}: "
            "from_sklearn_bayesian needs a fitted BayesianGaussianMixture. Call fit(X) first."
        )
    concentration = _copy_concentration(estimator.weight_concentration_)
    posterior = VariationalPosterior(
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration=concentration,
        mean_precision=np.array(estimator.mean_precision_, dtype=np.float64),
        means=np.array(estimator.means_, dtype=np.float64),
        degrees_of_freedom=np.array(estimator.degrees_of_freedom_, dtype=np.float64),
        covariances=np.array(estimator.covariances_, dtype=np.float64),
        precisions_cholesky=np.array(estimator.precisions_cholesky_, dtype=np.float64),
    )
    priors = VariationalPriors(
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=float(estimator.weight_concentration_prior_),
        mean_precision_prior=float(estimator.mean_precision_prior_),
        mean_prior=np.array(estimator.mean_prior_, dtype=np.float64),
        degrees_of_freedom_prior=float(estimator.degrees_of_freedom_prior_),
        covariance_prior=np.array(estimator.covariance_prior_, dtype=np.float64),
        covariance_type=covariance_type,
    )
    return posterior, priors
