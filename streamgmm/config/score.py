"""The ``score`` job's config: which model version scores which data, and where results go.

::

    data:     {uri: ../data/generated/example.zarr, variable: X}
    registry: {root: ../registry, model: example, version: candidate}   # number or alias
    compute:  {scheduler: threads}
    outputs:  {overwrite: true}      # predictions: default <input>-scores.zarr beside the input
    anomaly:  {quantile: 0.001}      # or {threshold: -25.0}; optional

Labels, responsibilities and log-likelihoods are written to ``outputs.predictions``,
by default next to the input (``data/generated/example.zarr`` ->
``data/generated/example-scores.zarr``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.names import parse_ref

from .paths import is_url
from .schema import (
    ComputeConfig,
    DataConfig,
    PositiveInt,
    RegistryModelConfig,
    _location,
    _Section,
    domain_type,
)

__all__ = ["AnomalyConfig", "ScoreConfig", "ScoreOutputsConfig", "ScoreRegistryConfig"]

#: Suffixes dropped from the input's name when deriving the default output's name.
_DATA_SUFFIXES = (".zarr", ".parquet", ".pq")


class ScoreRegistryConfig(RegistryModelConfig):
    """The model version to score with.

    Parameters
    ----------
    root : str, optional
        Registry folder (relative to the config file) or a URL (read-only is enough).
        Default ``$STREAMGMM_REGISTRY``, else ``registry`` beside the config file.
    model : str
        Model name.
    version : int or str, default "latest"
        A version number or an alias (``latest``, ``production``, ...).
    """

    version: Annotated[int, Field(strict=True, ge=1)] | Annotated[str, Field(strict=True)] = "latest"

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("give a version number (e.g. 3) or an alias (e.g. production)")
        if isinstance(value, int) and value < 1:
            raise ValueError("version numbers start at 1; give e.g. 3, or an alias such as latest")
        try:
            return parse_ref(value)
        except InvalidParameterError as exc:
            reason = str(exc).rstrip(".")
            raise ValueError(f"not a version number, and not a valid alias: {reason}") from None


class ScoreOutputsConfig(_Section):
    """Where the scores go.

    Parameters
    ----------
    predictions : str, optional
        Zarr group for labels, responsibilities and log-likelihoods (a local path,
        relative to the config file). Default: ``<input name>-scores.zarr`` in the
        input's folder (required when the input is a URL).
    overwrite : bool, default False
        Replace existing scores (atomically) instead of failing.
    """

    predictions: Annotated[str, Field(strict=True)] | None = None
    overwrite: Annotated[bool, Field(strict=True)] = False

    @field_validator("predictions")
    @classmethod
    def _resolve_predictions(cls, value: str | None, info: ValidationInfo) -> str | None:
        resolved = _location(value, info)
        if resolved is not None and is_url(resolved):
            raise ValueError("scores are written to a local folder; give a path, not a URL")
        return resolved


class AnomalyConfig(_Section):
    """Count the rows the model finds unlikely: below a log-likelihood threshold.

    Give exactly one of ``quantile`` and ``threshold``.

    Parameters
    ----------
    quantile : float in (0, 1), optional
        The threshold is this quantile of the log-likelihood of rows drawn from the
        model itself, so about ``quantile * n`` rows fall below it when the data
        follow the model; more means anomalies or drift.
    threshold : float, optional
        A fixed log-likelihood threshold.
    sample_size : int >= 1, default 100000
        Rows drawn from the model for the quantile.
    seed : int >= 0, default 0
        Seed of that draw.
    """

    quantile: Annotated[float, Field(strict=True, gt=0, lt=1)] | None = None
    threshold: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = None
    sample_size: PositiveInt = 100_000
    seed: domain_type("random_state") = 0  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_rule(self) -> "AnomalyConfig":
        if (self.quantile is None) == (self.threshold is None):
            raise ValueError(
                "give exactly one of anomaly.quantile (e.g. 0.001) and anomaly.threshold "
                "(a log-likelihood), or leave the anomaly section out"
            )
        return self


class ScoreConfig(_Section):
    """A ``score`` job: label and score every row of the data with a published model version.

    Sections: ``data`` and ``registry`` are required; ``compute``, ``outputs`` and
    ``anomaly`` have defaults (threads, scores beside the input, no anomaly count).
    """

    data: DataConfig
    registry: ScoreRegistryConfig
    compute: ComputeConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    outputs: ScoreOutputsConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    anomaly: AnomalyConfig | None = None

    @field_validator("compute")
    @classmethod
    def _one_pass(cls, value: ComputeConfig) -> ComputeConfig:
        if value.persist is not False:
            raise ValueError(
                "persist applies to fits, which pass over the data once per EM iteration; a "
                "score job reads it once: remove compute.persist"
            )
        return value

    @property
    def predictions_target(self) -> str | None:
        """``outputs.predictions``, or the default beside a local input (None for a URL)."""
        if self.outputs.predictions is not None:
            return self.outputs.predictions
        if is_url(self.data.uri):
            return None
        source = Path(self.data.uri)
        name = source.name
        for suffix in _DATA_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
        return str(source.parent / f"{name}-scores.zarr")
