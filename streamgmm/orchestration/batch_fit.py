"""``batch_fit``: read -> fit out of core on Dask -> publish a model version -> report.

Run it now, on Prefect's ephemeral local API (nothing to start), from the
repository root::

    python -m flows.batch_fit configs/batch_fit.yaml [--quiet]

Tasks (each one library call plus orchestration options):

``load-config``        YAML -> :class:`~streamgmm.config.BatchFitConfig`; checks the data and
                       every destination for real (:mod:`streamgmm.preflight`) before
                       any work; the destinations are checked again just before ``publish``.
                       No retries: a bad config stays bad.
``open-data``          open the rows lazily and describe them. Retried on I/O errors.
``fit``                ``GaussianMixture.fit`` (``BayesianGaussianMixture.fit`` for
                       ``model.kind: bayesian``) inside the compute context: Dask fans the
                       chunks out, one pass per EM iteration, never one task per chunk.
``evaluate``           one pass for the exact log-likelihood, BIC and AIC. Retried on I/O.
``publish``            a new immutable version in the registry. Retried only when another
                       publisher held the model's lock (never after a commit).
``write-predictions``  labels, responsibilities, log-likelihoods to Zarr (if configured).
``plots``              PNGs: lower bound per iteration; clusters on the principal axes.
``artifacts``          a metrics table and a markdown summary (version, location, plots).

Nothing is cached and no result is persisted: arrays stay in memory (or on the
Dask workers) and every run recomputes from the data. Progress (EM iterations,
log-likelihood change; chunks done during long passes) goes to the run logger;
``--quiet`` shows warnings only. ``streamgmm fit CONFIG`` runs the same flow.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ._command import FlowCommand
from ._shared import (
    IO_RETRY_OPTIONS,
    NO_CACHE,
    artifact_key,
    chunk_progress,
    open_data,
    plot_sample,
    publish_model,
    warnings_to_run_log,
    write_predictions,
)
from streamgmm.bayesian import BayesianGaussianMixture
from streamgmm.config import BatchFitConfig, load_config
from streamgmm.estimator import GaussianMixture
from streamgmm.core.variational import DEFAULT_WEIGHT_THRESHOLD, active_components
from streamgmm.preflight import check_job, prepare_reports_folder
from streamgmm.drivers.compute import compute_scheduler, describe_scheduler
from streamgmm.io.sources import RowData
from streamgmm.registry import ModelVersion
from streamgmm.reporting import (
    PLOT_MODULES,
    FitMetrics,
    evaluate_fit,
    markdown_summary,
    metrics_table,
    plot_clusters,
    plot_lower_bounds,
    terminal_summary,
)
from streamgmm.reporting.components import plot_expected_weights

__all__ = [
    "COMMAND", "BatchFitResult", "batch_fit", "batch_fit_with_config", "main", "preflight",
    "run_batch_fit",
]


@dataclass(frozen=True)
class BatchFitResult:
    """What a ``batch_fit`` run produced.

    Attributes
    ----------
    model, version, location : str, int, str
        The published model version and its folder.
    metrics : FitMetrics
    predictions : str or None
        The predictions' Zarr group, if written.
    plots : dict of str to Path
        Plot title -> PNG file.
    artifacts : dict of str to str
        Prefect artifact key -> artifact id.
    """

    model: str
    version: int
    location: str
    metrics: FitMetrics
    predictions: str | None = None
    plots: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """The closing lines the command prints (version, location, key metrics)."""
        return terminal_summary(
            model=self.model,
            version=self.version,
            location=self.location,
            metrics=self.metrics,
            predictions=self.predictions,
        )


# ============================================================================ tasks
def preflight(config_path: str) -> BatchFitConfig:
    """The config, validated, with its data and destinations checked for real (a ``ConfigError`` otherwise)."""
    config = load_config(config_path, kind="batch_fit")
    check_job(config, config_path)
    return config


@task(name="load-config", retries=0, **NO_CACHE)
def load_batch_config(config_path: str) -> BatchFitConfig:
    """Read and validate the YAML config, and check that the outputs can be written."""
    config = preflight(config_path)
    get_run_logger().info("Config %s is valid", config_path)
    return config


@task(name="fit", log_prints=True, **NO_CACHE)
def fit_mixture(
    config: BatchFitConfig, rows: RowData, scheduler: Any
) -> tuple[GaussianMixture | BayesianGaussianMixture, float]:
    """One out-of-core fit of the configured kind; the estimator's progress lines become run logs."""
    logger = get_run_logger()
    estimator = (
        BayesianGaussianMixture if config.model.kind == "bayesian" else GaussianMixture
    )
    model = estimator(
        **config.model.estimator_params(),
        nan_policy=config.data.nan_policy,
        scheduler=scheduler,
        persist=config.compute.persist,
        verbose=2,
        verbose_interval=1,
    )
    logger.info(
        "Fitting K=%d (%s covariance) on %s", model.n_components, model.covariance_type,
        describe_scheduler(scheduler),
    )
    started = time.perf_counter()
    with warnings_to_run_log(), chunk_progress(scheduler):
        model.fit(rows, checkpoint=config.checkpoint.folder)
    elapsed = time.perf_counter() - started
    logger.info(
        "Fitted in %.2f s: %d iterations, lower bound %.6f, %s",
        elapsed, model.n_iter_, model.lower_bound_,
        "converged" if model.converged_ else "NOT converged",
    )
    if config.model.kind == "bayesian":
        logger.info(
            "%d of %d components in use (expected weight >= %g)",
            model.n_active_components_, model.n_components, model.weight_threshold,
        )
    return model, elapsed


@task(name="evaluate", **IO_RETRY_OPTIONS, **NO_CACHE)
def evaluate(
    model: GaussianMixture | BayesianGaussianMixture, rows: RowData, scheduler: Any, fit_seconds: float
) -> FitMetrics:
    """Exact log-likelihood, BIC and AIC of the final model (one pass over the data)."""
    with chunk_progress(scheduler):
        metrics = evaluate_fit(model, rows, fit_seconds=fit_seconds, scheduler=scheduler)
    get_run_logger().info(
        "Mean log-likelihood %.6f on %s rows; BIC %.2f, AIC %.2f",
        metrics.mean_log_likelihood, f"{metrics.n_samples:,}", metrics.bic, metrics.aic,
    )
    return metrics


@task(name="plots", **NO_CACHE)
def make_plots(
    config: BatchFitConfig, version: ModelVersion, metrics: FitMetrics, rows: RowData
) -> dict[str, Path]:
    """Save the fit's plots as PNGs named after the model version."""
    folder = prepare_reports_folder(config.outputs.reports)
    stem = f"{version.name}-v{version.version}"
    sample, labels = plot_sample(version, rows)
    plots = {
        "Log-likelihood per EM iteration": plot_lower_bounds(
            metrics.lower_bounds, folder / f"{stem}-loglik.png",
            title=f"{version.name} v{version.version}: log-likelihood per iteration",
            converged=metrics.converged,
        ),
        "Clusters on the first two principal axes": plot_clusters(
            version.parameters, folder / f"{stem}-clusters.png", sample=sample,
            sample_labels=labels,
            title=f"{version.name} v{version.version}: clusters (1 and 2 sd) on principal axes",
        ),
    }
    if version.posterior is not None:  # a Bayesian version: which components the data use
        threshold = float(version.metadata.mixture["weight_threshold"])
        weights = version.posterior.weights
        plots["Expected weights; components in use above the threshold"] = plot_expected_weights(
            weights, active_components(weights, threshold), folder / f"{stem}-weights.png",
            threshold=threshold,
            title=f"{version.name} v{version.version}: {version.components_in_use} of "
            f"{len(weights)} components in use",
        )
    get_run_logger().info("Saved plots to %s", ", ".join(map(str, plots.values())))
    return plots


@task(name="artifacts", **NO_CACHE)
def record_artifacts(
    config: BatchFitConfig, version: ModelVersion, metrics: FitMetrics, rows: RowData,
    predictions: str | None, plots: dict[str, Path],
) -> dict[str, str]:
    """A metrics table and a markdown summary, keyed by model so runs form a history."""
    name = version.name
    table_key = artifact_key("batch_fit", name, "metrics")
    summary_key = artifact_key("batch_fit", name, "summary")
    table_id = create_table_artifact(
        table=metrics_table(metrics),
        key=table_key,
        description=f"Metrics of {name} version {version.version}",
    )
    summary = markdown_summary(
        model=name,
        version=version.version,
        location=version.location,
        metrics=metrics,
        data={"uri": rows.uri, "shape": list(rows.shape), "format": rows.description.get("format")},
        estimator=config.model.estimator_params(),
        aliases=config.registry.aliases,
        predictions=predictions,
        plots=plots,
    )
    summary_id = create_markdown_artifact(
        markdown=summary,
        key=summary_key,
        description=f"{name} version {version.version}: where it is and how the fit went",
    )
    return {table_key: str(table_id), summary_key: str(summary_id)}


# ============================================================================ flows
def run_batch_fit(config: BatchFitConfig) -> BatchFitResult:
    """The batch_fit steps for a validated config; call it inside a flow run.

    The compute context (a local cluster, when configured) spans the fit, the
    evaluation and the predictions, so a cluster starts once per run.
    """
    rows = open_data(config.data)
    with compute_scheduler(
        **config.compute.scheduler_params(), data_nbytes=rows.array.nbytes
    ) as scheduler:
        model, fit_seconds = fit_mixture(config, rows, scheduler)
        metrics = evaluate(model, rows, scheduler, fit_seconds)
        # The fit may have taken hours: check the destinations again before a version is
        # published, so that a run failing on one leaves no version behind.
        check_job(config, "the batch_fit config", inputs=False)
        bayesian = isinstance(model, BayesianGaussianMixture)
        version = publish_model(
            config.registry, model.posterior_ if bayesian else model.parameters_, rows,
            metrics=metrics.registry_metrics(),
            training_config={"job": "batch_fit", **config.model_dump(mode="json")},
            priors=model.priors_ if bayesian else None,
            weight_threshold=model.weight_threshold if bayesian else DEFAULT_WEIGHT_THRESHOLD,
        )
        predictions = None
        if config.outputs.predictions is not None:
            predictions = write_predictions(
                version.scored_model, rows, config.outputs.predictions,
                overwrite=config.outputs.overwrite, dtype=config.model.dtype, scheduler=scheduler,
            )
    plots = make_plots(config, version, metrics, rows)
    artifacts = record_artifacts(config, version, metrics, rows, predictions, plots)
    return BatchFitResult(
        model=version.name,
        version=version.version,
        location=version.location,
        metrics=metrics,
        predictions=predictions,
        plots=plots,
        artifacts=artifacts,
    )


@flow(name="batch_fit", persist_result=False)
def batch_fit(config_path: str) -> BatchFitResult:
    """Fit a Gaussian mixture out of core as configured in a YAML file, and publish it.

    Parameters
    ----------
    config_path : str
        The batch_fit YAML config (see ``configs/batch_fit.yaml``).

    Returns
    -------
    BatchFitResult
    """
    return run_batch_fit(load_batch_config(config_path))


@flow(name="batch_fit_with_config", persist_result=False)
def batch_fit_with_config(config: BatchFitConfig) -> BatchFitResult:
    """:func:`batch_fit` for a config object built in Python (e.g. ``parse_config``)."""
    check_job(config, "the batch_fit config")
    return run_batch_fit(config)


# ============================================================================ command
COMMAND = FlowCommand(
    name="batch_fit",
    description="Fit a Gaussian mixture out of core as configured in a YAML file, publish it "
    "to the model registry and record Prefect artifacts.",
    flow=batch_fit,
    preflight=preflight,
    warm_up=PLOT_MODULES,
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.batch_fit CONFIG [--quiet]``: run the flow and print the result."""
    return COMMAND.main(argv)


if __name__ == "__main__":
    sys.exit(main())
