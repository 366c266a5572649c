"""The ``select_k`` job's config: candidate mixtures, the criterion, and where the winner goes.

A select_k config is a batch-fit config whose ``model`` lists candidates::

    data:      {uri: ../data/generated/example.zarr, variable: X}
    model:
      n_components: [2, 3, 4, 5, 6, 7, 8]   # candidate K
      covariance_type: [full, diag]          # one type, or candidate types
      max_iter: 200
      seed: 0
    selection:
      criterion: bic                         # bic (default) | aic
      compare_variational: true              # also: components a Dirichlet process keeps
      variational_components: 8              # its K (default: the largest candidate)
    compute:   {scheduler: local-cluster, n_workers: 2}
    registry:  {root: ../registry, model: example-selected, aliases: [candidate]}
    outputs:   {reports: ../reports}         # predictions of the winner: optional

Every pair (covariance type, K) is a candidate; there must be at least two. With
``selection.compare_variational`` the job also reports how many components a
Dirichlet-process mixture keeps in use, beside the criterion's choice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from streamgmm.core.domains import DOMAINS
from streamgmm.core.variational import DEFAULT_WEIGHT_THRESHOLD

from .schema import (
    ComputeConfig,
    DataConfig,
    ModelConfig,
    OutputsConfig,
    RegistryConfig,
    _Section,
    domain_type,
)

__all__ = ["CRITERIA", "SelectKConfig", "SelectKModelConfig", "SelectionConfig"]

#: Information criteria the job can choose by (lower is better for both).
CRITERIA: tuple[str, ...] = ("bic", "aic")

#: The covariance types of the estimator's domain (:data:`streamgmm.core.domains.DOMAINS`).
COVARIANCE_TYPES: tuple[str, ...] = DOMAINS["covariance_type"].choices
CovarianceType = domain_type("covariance_type")


def _allowed_types() -> str:
    names = [repr(t) for t in COVARIANCE_TYPES]
    return ", ".join(names[:-1]) + f" or {names[-1]}"


class SelectKModelConfig(ModelConfig):
    """:class:`ModelConfig` whose ``n_components`` and ``covariance_type`` may list candidates.

    Parameters
    ----------
    n_components : int or list of int
        Candidate K (one value is allowed when several covariance types are listed).
    covariance_type : str or list of str, default "full"
        One covariance type, or candidate types.

    The other settings (tol, max_iter, seed, ...) are shared by every candidate.
    """

    covariance_type: CovarianceType | tuple[CovarianceType, ...] = "full"

    @field_validator("covariance_type", mode="before")
    @classmethod
    def _covariance_types(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in COVARIANCE_TYPES:
                raise ValueError(f"choose one of {_allowed_types()}, or a list of them")
            return value
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"give a covariance type or a list of candidates (e.g. [full, diag]) from "
                f"{_allowed_types()}"
            )
        if not value:
            raise ValueError("the list of candidates is empty; give at least one covariance type")
        unknown = [v for v in value if v not in COVARIANCE_TYPES]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not a covariance type; choose from "
                f"{_allowed_types()}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a covariance type is listed twice; list each once")
        return tuple(value)

    @model_validator(mode="after")
    def _at_least_two_candidates(self) -> "SelectKModelConfig":
        if len(self.candidate_models) < 2:
            raise ValueError(
                f"only one candidate (K={self.candidates[0]}, {self.covariance_types[0]}): "
                "list several n_components (e.g. [2, 4, 8]) or covariance types to choose "
                "from, or fit one model with the batch_fit job"
            )
        return self

    @property
    def covariance_types(self) -> tuple[str, ...]:
        """The covariance types to try: one, or every candidate."""
        value = self.covariance_type
        return value if isinstance(value, tuple) else (value,)

    @property
    def candidate_models(self) -> tuple[tuple[int, str], ...]:
        """Every ``(n_components, covariance_type)`` to fit, by covariance type then K."""
        return tuple((k, t) for t in self.covariance_types for k in self.candidates)

    def common_params(self) -> dict[str, Any]:
        """``GaussianMixture`` parameters shared by every candidate (not K nor the type)."""
        params = ModelConfig.estimator_params(self, self.candidates[0])
        del params["n_components"], params["covariance_type"]
        return params

    def estimator_params(self, n_components: int | None = None) -> dict[str, Any]:
        """Not available: a select_k model is several mixtures; see :meth:`common_params`."""
        raise ValueError(
            "a select_k model lists candidates; use common_params() and candidate_models"
        )


class SelectionConfig(_Section):
    """How the winner is chosen, and what it is compared with.

    Parameters
    ----------
    criterion : {"bic", "aic"}, default "bic"
        The information criterion to minimise.
    compare_variational : bool, default False
        Also fit a Dirichlet-process ``BayesianGaussianMixture`` with
        ``variational_components`` components and the chosen covariance type, and
        report how many components it keeps in use beside the criterion's K (in the
        registry metadata, the artifacts and a plot of its expected weights). It
        never changes the winner. It costs one more fit (its own passes over the
        data, plus one for the priors' data mean and covariance).
    variational_components : int >= 1, optional
        Its number of components, the upper bound; default the largest candidate K.
    weight_threshold : float in [0, 1), default 0.01
        The expected weight below which its components count as switched off.
    """

    criterion: Literal[CRITERIA] = "bic"  # type: ignore[valid-type]
    compare_variational: bool = False
    variational_components: domain_type("n_components") | None = None  # type: ignore[valid-type]
    weight_threshold: domain_type("weight_threshold") = DEFAULT_WEIGHT_THRESHOLD  # type: ignore[valid-type]


class SelectKConfig(_Section):
    """A ``select_k`` job: fit every candidate (passes shared), publish the best by BIC or AIC.

    Sections: ``data``, ``model`` and ``registry`` are required; ``selection``,
    ``compute`` and ``outputs`` have defaults (BIC, threads, plots only).
    """

    data: DataConfig
    model: SelectKModelConfig
    selection: SelectionConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    compute: ComputeConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    registry: RegistryConfig
    outputs: OutputsConfig = Field(default_factory=dict)  # type: ignore[arg-type]
