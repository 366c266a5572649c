"""A loaded (or just published) model version: verified metadata plus parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamgmm.core.params import MixtureParameters

from .metadata import ModelMetadata

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

__all__ = ["ModelVersion"]


@dataclass(frozen=True, kw_only=True, eq=False)
class ModelVersion:
    """One immutable model version.

    The registry returns parameters and metadata; a ``streamgmm.GaussianMixture``
    is built from them above it, with ``GaussianMixture.from_version(version)``.

    Parameters
    ----------
    metadata : ModelMetadata
        Lineage, training config, data source, metrics, checksums.
    parameters : MixtureParameters
        weights (K,), means (K, D), covariances, precisions_cholesky.
    location : str
        Path or URL of the version's folder.
    """

    metadata: ModelMetadata
    parameters: MixtureParameters
    location: str

    @property
    def name(self) -> str:
        """Model name."""
        return self.metadata.name

    @property
    def version(self) -> int:
        """Version number."""
        return self.metadata.version

    def to_sklearn(self, **estimator_params: Any) -> SklearnGaussianMixture:
        """A fitted ``sklearn.mixture.GaussianMixture`` with these parameters.

        Feature names and the fit diagnostics (``converged_``, ``n_iter_``,
        ``lower_bound_``) come from the metadata. ``estimator_params`` go to the
        constructor (e.g. ``random_state``).
        """
        from .sklearn_interop import to_sklearn

        metrics = self.metadata.metrics
        return to_sklearn(
            self.parameters,
            feature_names=self.metadata.feature_names,
            converged=True if metrics.converged is None else metrics.converged,
            n_iter=metrics.n_iter or 0,
            lower_bound=metrics.lower_bound,
            **estimator_params,
        )
