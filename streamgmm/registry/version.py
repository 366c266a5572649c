"""A loaded (or just published) model version: verified metadata plus parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import VariationalPosterior, VariationalPriors

from .metadata import ModelMetadata

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.mixture import BayesianGaussianMixture as SklearnBayesianGaussianMixture
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

__all__ = ["ModelVersion"]


@dataclass(frozen=True, kw_only=True, eq=False)
class ModelVersion:
    """One immutable model version.

    The registry returns parameters and metadata; a ``streamgmm.GaussianMixture``
    (or, for a Bayesian version, a ``streamgmm.BayesianGaussianMixture``) is built
    from them above it, with ``from_version(version)``.

    Parameters
    ----------
    metadata : ModelMetadata
        Lineage, training config, data source, metrics, checksums.
    parameters : MixtureParameters
        weights (K,), means (K, D), covariances, precisions_cholesky (for a
        Bayesian version, its posterior's point estimate: expected weights).
    location : str
        Path or URL of the version's folder.
    posterior : VariationalPosterior or None
        A Bayesian version's whole variational posterior.
    priors : VariationalPriors or None
        A Bayesian version's priors.
    """

    metadata: ModelMetadata
    parameters: MixtureParameters
    location: str
    posterior: VariationalPosterior | None = None
    priors: VariationalPriors | None = None

    @property
    def kind(self) -> str:
        """The kind of mixture: "gaussian" or "bayesian"."""
        return self.metadata.kind

    @property
    def scored_model(self) -> MixtureParameters | VariationalPosterior:
        """What scores rows as the version's estimator does: the posterior of a Bayesian
        version (``write_predictions`` and the score job take either), else the parameters."""
        return self.parameters if self.posterior is None else self.posterior

    @property
    def components_in_use(self) -> int:
        """Components whose weight reaches the version's weight threshold (all K if Gaussian)."""
        return self.metadata.components_in_use

    @property
    def name(self) -> str:
        """Model name."""
        return self.metadata.name

    @property
    def version(self) -> int:
        """Version number."""
        return self.metadata.version

    def to_sklearn(self, **estimator_params: Any) -> SklearnGaussianMixture | SklearnBayesianGaussianMixture:
        """A fitted ``sklearn.mixture.GaussianMixture`` with these parameters, or a
        ``BayesianGaussianMixture`` with this posterior and priors for a Bayesian version.

        Feature names and the fit diagnostics (``converged_``, ``n_iter_``,
        ``lower_bound_``) come from the metadata. ``estimator_params`` go to the
        constructor (e.g. ``random_state``).
        """
        from .sklearn_interop import to_sklearn, to_sklearn_bayesian

        metrics = self.metadata.metrics
        if self.posterior is not None and self.priors is not None:
            return to_sklearn_bayesian(
                self.posterior,
                self.priors,
                feature_names=self.metadata.feature_names,
                converged=True if metrics.converged is None else metrics.converged,
                n_iter=metrics.n_iter or 0,
                lower_bound=metrics.lower_bound,
                **estimator_params,
            )
        return to_sklearn(
            self.parameters,
            feature_names=self.metadata.feature_names,
            converged=True if metrics.converged is None else metrics.converged,
            n_iter=metrics.n_iter or 0,
            lower_bound=metrics.lower_bound,
            **estimator_params,
        )
