"""Exchange parameters with ``sklearn.mixture.GaussianMixture``, without refitting.

Arrays are copied verbatim both ways (``precisions_cholesky_`` is never
recomputed), so an exported model scores bitwise the same as the parameters it
came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from streamgmm.core.errors import InvalidParameterError
from streamgmm.core.params import MixtureParameters

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

__all__ = ["from_sklearn", "to_sklearn"]

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
    estimator.converged_ = bool(converged)
    estimator.n_iter_ = int(n_iter)
    estimator.lower_bound_ = float("-inf") if lower_bound is None else float(lower_bound)
    estimator.lower_bounds_ = [] if lower_bound is None else [float(lower_bound)]
    estimator.n_features_in_ = parameters.n_features
    if feature_names is not None:
        names = np.asarray(list(feature_names), dtype=object)
        if names.shape != (parameters.n_features,):
            raise InvalidParameterError(
                f"feature_names has {names.size} names but the parameters have "
                f"{parameters.n_features} features."
            )
        estimator.feature_names_in_ = names
    return estimator


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
