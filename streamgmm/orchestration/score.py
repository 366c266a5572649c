"""``score``: a published model version labels and scores every row of a dataset, out of core.

Run it now, on Prefect's ephemeral local API (nothing to start), from the
repository root::

    python -m flows.score configs/score.yaml [--quiet]

Tasks:

``load-config``        YAML -> :class:`~streamgmm.config.ScoreConfig`; checks that the model
                       version exists (``registry.model``/``registry.version``) and that the
                       scores can be written, before any work. No retries.
``load-model``         the model version, checksums verified. Retried on I/O errors.
``open-data``          open the rows lazily; their features must be the model's.
``write-predictions``  labels, responsibilities and log-likelihoods to a Zarr group aligned
                       with the input (default ``<input>-scores.zarr`` beside it), one pass.
``summarise``          one pass over the written scores: rows, mean log-likelihood, rows per
                       label, rows below the anomaly threshold (if configured).
``artifacts``          a table and a markdown summary.

Rows with NaN or infinite values get NaN scores (the output stays aligned with the
input); they are counted apart, and with ``data.nan_policy: raise`` (the default)
the run then fails saying how many there are. ``streamgmm score CONFIG`` runs the
same flow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ._command import FlowCommand
from ._shared import (
    IO_RETRY_OPTIONS,
    NO_CACHE,
    artifact_key,
    open_data,
    write_predictions,
)
from streamgmm.config import ScoreConfig, load_config
from streamgmm.preflight import check_job
from streamgmm.core.errors import InvalidInputError
from streamgmm.drivers.compute import compute_scheduler
from streamgmm.io.sources import RowData
from streamgmm.registry import ModelRegistry, ModelVersion
from streamgmm.reporting import (
    ScoreSummary,
    model_log_likelihood_quantile,
    score_markdown,
    score_table,
    summarise_scores,
)

__all__ = ["COMMAND", "ScoreResult", "check_features", "main", "preflight", "run_score", "score"]


@dataclass(frozen=True)
class ScoreResult:
    """What a ``score`` run produced.

    Attributes
    ----------
    model, version, location : str, int, str
        The model version that scored the data, and its folder.
    predictions : str
        The Zarr group with labels, responsibilities and log-likelihoods.
    summary : ScoreSummary
        Rows, mean log-likelihood, rows per label, rows below the threshold.
    anomaly_rule : str or None
        How the threshold was set, in words.
    artifacts : dict of str to str
        Prefect artifact key -> artifact id.
    """

    model: str
    version: int
    location: str
    predictions: str
    summary: ScoreSummary
    anomaly_rule: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """The closing lines the command prints: model version, where, the numbers."""
        s = self.summary
        lines = [
            f"scored {s.n_scored:,} of {s.n_rows:,} rows with model {self.model} version "
            f"{self.version}",
            f"  model         {self.location}",
            f"  scores        {self.predictions}",
            f"  mean log-lik  {s.mean_log_likelihood:.6f}"
            + (f"  ({s.n_invalid:,} rows with NaN/inf)" if s.n_invalid else ""),
            "  per label     " + ", ".join(f"{k}: {n:,}" for k, n in enumerate(s.label_counts)),
        ]
        if s.threshold is not None:
            lines.append(
                f"  anomalies     {s.n_below:,} rows below {s.threshold:.6g}"
                + (f" ({self.anomaly_rule})" if self.anomaly_rule else "")
            )
        return lines


# ============================================================================ checks
def preflight(config_path: str) -> ScoreConfig:
    """The config, validated; the data, the model version and the scores' target checked for real.

    Raises
    ------
    ConfigError
        Naming each key path (``data.uri``, ``registry.version``, ``outputs.predictions``, ...)
        with the way out.
    """
    config = load_config(config_path, kind="score")
    check_job(config, config_path)
    return config


def check_features(version: ModelVersion, rows: RowData) -> None:
    """The data must have the model's features: their number, and their names when both have them.

    Raises
    ------
    InvalidInputError
        Naming the data, the model version, both feature lists and what to change.
    """
    model_features = version.metadata.feature_names
    data_features = rows.feature_names
    expected = version.parameters.n_features
    described = f"model {version.name} version {version.version}"
    if rows.shape[1] != expected:
        raise InvalidInputError(
            f"{rows.uri} has {rows.shape[1]} features ({_names(data_features)}) but {described} "
            f"was trained on {expected} ({_names(model_features)}). Select the model's features "
            "(data.columns or data.variable), or choose another model (registry.model, "
            "registry.version)."
        )
    if model_features is not None and data_features is not None and tuple(data_features) != tuple(model_features):
        raise InvalidInputError(
            f"{rows.uri} has features {list(data_features)} but {described} was trained on "
            f"{list(model_features)}, in that order. List the model's features in "
            "data.columns (in its order), or choose another model."
        )


def _names(names: Sequence[str] | None) -> str:
    return ", ".join(names) if names else "unnamed"


def _training_dtype(version: ModelVersion) -> str | None:
    """The dtype the model was fitted in (from its training config), so scores match the fit's."""
    model = version.metadata.training_config.get("model")
    dtype = model.get("dtype") if hasattr(model, "get") else None
    return dtype if dtype in ("float32", "float64") else None


# ============================================================================ tasks
@task(name="load-config", retries=0, **NO_CACHE)
def load_score_config(config_path: str) -> ScoreConfig:
    """Read and validate the YAML config; check the model version and the output."""
    config = preflight(config_path)
    get_run_logger().info("Config %s is valid", config_path)
    return config


@task(name="load-model", **IO_RETRY_OPTIONS, **NO_CACHE)
def load_model(config: ScoreConfig) -> ModelVersion:
    """The configured model version from the registry, every checksum verified."""
    version = ModelRegistry(config.registry.root).load(config.registry.model, config.registry.version)
    get_run_logger().info(
        "Model %s version %d (%s): K=%d, %s covariance, %d features, at %s",
        version.name, version.version, config.registry.version, version.parameters.n_components,
        version.parameters.covariance_type, version.parameters.n_features, version.location,
    )
    return version


def _anomaly_threshold(config: ScoreConfig, version: ModelVersion) -> tuple[float | None, str | None]:
    """The threshold and how it was set, in words (None, None without an anomaly section)."""
    anomaly = config.anomaly
    if anomaly is None:
        return None, None
    if anomaly.threshold is not None:
        return anomaly.threshold, "fixed threshold"
    assert anomaly.quantile is not None
    threshold = model_log_likelihood_quantile(
        version.scored_model, anomaly.quantile, sample_size=anomaly.sample_size, seed=anomaly.seed
    )
    return threshold, (
        f"quantile {anomaly.quantile:g} of the log-likelihood of {anomaly.sample_size:,} rows "
        "drawn from the model"
    )


@task(name="summarise", **IO_RETRY_OPTIONS, **NO_CACHE)
def summarise(
    config: ScoreConfig, version: ModelVersion, predictions: str, scheduler: Any
) -> tuple[ScoreSummary, str | None]:
    """Counts and mean of the written scores (one pass over them, not over the data)."""
    threshold, rule = _anomaly_threshold(config, version)
    summary = summarise_scores(predictions, threshold=threshold, scheduler=scheduler)
    logger = get_run_logger()
    logger.info(
        "Scored %s of %s rows: mean log-likelihood %.6f; rows per label %s",
        f"{summary.n_scored:,}", f"{summary.n_rows:,}", summary.mean_log_likelihood,
        list(summary.label_counts),
    )
    if summary.threshold is not None:
        logger.info("%s rows below log-likelihood %.6g (%s)", f"{summary.n_below:,}",
                    summary.threshold, rule)
    if summary.n_invalid and config.data.nan_policy == "raise":
        raise InvalidInputError(
            f"{config.data.uri} has {summary.n_invalid} row(s) with NaN or infinite values; "
            f"their scores in {predictions} are NaN. Clean the data, or set data.nan_policy: "
            "drop to accept such rows (they are counted apart)."
        )
    return summary, rule


@task(name="artifacts", **NO_CACHE)
def record_artifacts(
    version: ModelVersion, rows: RowData, predictions: str, summary: ScoreSummary,
    anomaly_rule: str | None,
) -> dict[str, str]:
    """A table of the numbers and a markdown summary, keyed by model so runs form a history."""
    table_key = artifact_key("score", version.name, "summary-table")
    summary_key = artifact_key("score", version.name, "summary")
    table_id = create_table_artifact(
        table=score_table(summary),
        key=table_key,
        description=f"Scores of {rows.uri} by {version.name} version {version.version}",
    )
    markdown = score_markdown(
        model=version.name, version=version.version, location=version.location,
        data={"uri": rows.uri, "shape": list(rows.shape), "format": rows.description.get("format")},
        predictions=predictions, summary=summary, anomaly_rule=anomaly_rule,
    )
    summary_id = create_markdown_artifact(
        markdown=markdown,
        key=summary_key,
        description=f"Scores of {rows.uri} by {version.name} version {version.version}",
    )
    return {table_key: str(table_id), summary_key: str(summary_id)}


# ============================================================================ flows
def run_score(config: ScoreConfig) -> ScoreResult:
    """The score steps for a validated config; call it inside a flow run."""
    version = load_model(config)
    rows = open_data(config.data)
    check_features(version, rows)
    target = config.predictions_target
    assert target is not None  # preflight: required for data at a URL
    with compute_scheduler(
        **config.compute.scheduler_params(), data_nbytes=rows.array.nbytes
    ) as scheduler:
        predictions = write_predictions(
            version.scored_model, rows, target, overwrite=config.outputs.overwrite,
            dtype=_training_dtype(version), scheduler=scheduler,
        )
        summary, rule = summarise(config, version, predictions, scheduler)
    artifacts = record_artifacts(version, rows, predictions, summary, rule)
    return ScoreResult(
        model=version.name,
        version=version.version,
        location=version.location,
        predictions=predictions,
        summary=summary,
        anomaly_rule=rule,
        artifacts=artifacts,
    )


@flow(name="score", persist_result=False)
def score(config_path: str) -> ScoreResult:
    """Label and score every row of a dataset with a published model version.

    Parameters
    ----------
    config_path : str
        The score YAML config (see ``configs/score.yaml``).

    Returns
    -------
    ScoreResult
    """
    return run_score(load_score_config(config_path))


# ============================================================================ command
COMMAND = FlowCommand(
    name="score",
    description="Label and score every row of a dataset with a model version from the "
    "registry (by number or alias): labels, responsibilities and log-likelihoods written "
    "out of core to Zarr, plus a summary artifact.",
    flow=score,
    preflight=preflight,
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.score CONFIG [--quiet]``: run the flow and print the result."""
    return COMMAND.main(argv)


if __name__ == "__main__":
    sys.exit(main())
