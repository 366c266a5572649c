"""``batch_fit``: read -> fit out of core on Dask -> publish a model version -> report.

Run it now, on Prefect's ephemeral local API (nothing to start), from the
repository root::

    python -m flows.batch_fit configs/batch_fit.yaml [--quiet]

Tasks (each one library call plus orchestration options):

``load-config``        YAML -> :class:`~streamgmm.config.BatchFitConfig`; checks that the
                       registry and the predictions target are writable before any work.
                       No retries: a bad config stays bad.
``open-data``          open the rows lazily and describe them. Retried on I/O errors.
``fit``                ``GaussianMixture.fit`` inside the compute context: Dask fans the
                       chunks out, one pass per EM iteration, never one task per chunk.
``evaluate``           one pass for the exact log-likelihood, BIC and AIC. Retried on I/O.
``publish``            a new immutable version in the registry. Retried only when another
                       publisher held the model's lock (never after a commit).
``write-predictions``  labels, responsibilities, log-likelihoods to Zarr (if configured).
``plots``              PNGs: lower bound per iteration; clusters on the principal axes.
``artifacts``          a metrics table and a markdown summary (version, location, plots).

Nothing is cached and no result is persisted: arrays stay in memory (or on the
Dask workers) and every run recomputes from the data. Progress (EM iterations,
log-likelihood change) goes to the run logger; ``--quiet`` shows warnings only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

import streamgmm
from streamgmm.config import BatchFitConfig, ConfigError, load_config
from streamgmm.core.errors import RegistryLockTimeoutError, StreamGMMError
from streamgmm.core.params import MixtureParameters
from streamgmm.drivers.compute import compute_scheduler, describe_scheduler
from streamgmm.io.sources import RowData
from streamgmm.registry import ModelRegistry, ModelVersion
from streamgmm.reporting import (
    FitMetrics,
    evaluate_fit,
    markdown_summary,
    metrics_table,
    plot_clusters,
    plot_lower_bounds,
    terminal_summary,
)

__all__ = ["BatchFitResult", "batch_fit", "batch_fit_with_config", "main", "run_batch_fit"]

#: Rows drawn behind the cluster ellipses (read from the start of the data).
PLOT_SAMPLE_ROWS = 3000
IO_RETRIES = 2
IO_RETRY_DELAY_SECONDS = 5


def _retry_on_io_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the task failed on an I/O error (file, network, lock timeout)."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


def _retry_on_lock_timeout(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a publish only when another publisher held the model's lock too long.

    That error comes before the version is committed. Other I/O errors can come
    after the commit (while the aliases are updated), where a retry would publish
    the same model twice, so they are not retried.
    """
    try:
        state.result()
    except RegistryLockTimeoutError:
        return True
    except BaseException:
        return False
    return False


@contextlib.contextmanager
def warnings_to_run_log() -> Iterator[None]:
    """Log the warnings raised inside (convergence, emptied components, ...) to the run.

    Python warnings are not Prefect logs; recorded here, they appear in the run's
    log (and the UI) at WARNING level, once each, also when the block fails.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            logger = get_run_logger()
            for warning in caught:
                logger.warning("%s: %s", warning.category.__name__, warning.message)


# Options shared by every task: no cache keys are computed from (array) inputs,
# and results stay in memory.
_NO_CACHE: dict[str, Any] = {"cache_policy": NONE, "persist_result": False}
_IO_RETRIES: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAY_SECONDS,
    "retry_condition_fn": _retry_on_io_error,
}


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
def _check_destinations(config: BatchFitConfig, source: str) -> None:
    """Fail before any work when the results could not be written (``source``: the config)."""
    problems = []
    if not ModelRegistry(config.registry.root).writable:
        problems.append(
            f"registry.root: {config.registry.root!r} is read-only here (a URL); publish to a "
            "local or mounted folder"
        )
    target = config.outputs.predictions
    if target is not None and Path(target).exists() and not config.outputs.overwrite:
        problems.append(
            f"outputs.predictions: {target!r} already exists; set outputs.overwrite: true to "
            "replace it, or choose another path"
        )
    if problems:
        raise ConfigError(source, problems)


@task(name="load-config", retries=0, **_NO_CACHE)
def load_batch_config(config_path: str) -> BatchFitConfig:
    """Read and validate the YAML config, and check that the outputs can be written."""
    config = load_config(config_path, kind="batch_fit")
    _check_destinations(config, config_path)
    get_run_logger().info("Config %s is valid", config_path)
    return config


@task(name="open-data", **_IO_RETRIES, **_NO_CACHE)
def open_data(config: BatchFitConfig) -> RowData:
    """Open the rows lazily (metadata only) and log what they are."""
    rows = streamgmm.open_rows(config.data.uri, **config.data.open_options())
    chunks = rows.row_chunks
    get_run_logger().info(
        "Data %s: %s rows x %d features (%s), %d row chunks of up to %s rows, features %s",
        rows.uri,
        f"{rows.shape[0]:,}",
        rows.shape[1],
        rows.description.get("format", "?"),
        len(chunks),
        f"{max(chunks):,}",
        ", ".join(rows.feature_names) if rows.feature_names else "unnamed",
    )
    return rows


@task(name="fit", log_prints=True, **_NO_CACHE)
def fit_mixture(
    config: BatchFitConfig, rows: RowData, scheduler: Any
) -> tuple[streamgmm.GaussianMixture, float]:
    """One out-of-core EM fit; the estimator's progress lines become run logs."""
    logger = get_run_logger()
    model = streamgmm.GaussianMixture(
        **config.model.estimator_params(),
        nan_policy=config.data.nan_policy,
        scheduler=scheduler,
        verbose=2,
        verbose_interval=1,
    )
    logger.info(
        "Fitting K=%d (%s covariance) on %s", model.n_components, model.covariance_type,
        describe_scheduler(scheduler),
    )
    started = time.perf_counter()
    with warnings_to_run_log():
        model.fit(rows, checkpoint=config.checkpoint.folder)
    elapsed = time.perf_counter() - started
    logger.info(
        "Fitted in %.2f s: %d iterations, lower bound %.6f, %s",
        elapsed, model.n_iter_, model.lower_bound_,
        "converged" if model.converged_ else "NOT converged",
    )
    return model, elapsed


@task(name="evaluate", **_IO_RETRIES, **_NO_CACHE)
def evaluate(
    model: streamgmm.GaussianMixture, rows: RowData, scheduler: Any, fit_seconds: float
) -> FitMetrics:
    """Exact log-likelihood, BIC and AIC of the final model (one pass over the data)."""
    metrics = evaluate_fit(model, rows, fit_seconds=fit_seconds, scheduler=scheduler)
    get_run_logger().info(
        "Mean log-likelihood %.6f on %s rows; BIC %.2f, AIC %.2f",
        metrics.mean_log_likelihood, f"{metrics.n_samples:,}", metrics.bic, metrics.aic,
    )
    return metrics


@task(
    name="publish",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
    retry_condition_fn=_retry_on_lock_timeout,
    **_NO_CACHE,
)
def publish(
    config: BatchFitConfig, params: MixtureParameters, rows: RowData, metrics: FitMetrics
) -> ModelVersion:
    """Publish the parameters as the next version of the configured model."""
    registry = ModelRegistry(config.registry.root)
    version = registry.publish(
        config.registry.model,
        params,
        feature_names=rows.feature_names,
        training_config={"job": "batch_fit", **config.model_dump(mode="json")},
        data_source={"uri": rows.uri, **rows.fingerprint()},
        metrics=metrics.registry_metrics(),
        aliases=config.registry.aliases,
    )
    get_run_logger().info(
        "Published %s version %d at %s", version.name, version.version, version.location
    )
    return version


@task(name="write-predictions", **_IO_RETRIES, **_NO_CACHE)
def write_predictions(
    config: BatchFitConfig, params: MixtureParameters, rows: RowData, scheduler: Any
) -> str:
    """Labels, responsibilities and log-likelihoods of every row, to a Zarr group."""
    assert config.outputs.predictions is not None
    with warnings_to_run_log():
        target = streamgmm.write_predictions(
            params,
            rows,
            config.outputs.predictions,
            overwrite=config.outputs.overwrite,
            dtype=config.model.dtype,
            scheduler=scheduler,
        )
    get_run_logger().info("Wrote predictions to %s", target)
    return str(target)


def _plot_sample(params: MixtureParameters, rows: RowData) -> tuple[Any, Any]:
    """The first rows of the data (finite ones) and their predicted components."""
    import numpy as np

    n = min(PLOT_SAMPLE_ROWS, rows.shape[0])
    sample = np.asarray(rows.array[:n].compute(scheduler="synchronous"), dtype=np.float64)
    sample = sample[np.isfinite(sample).all(axis=1)]
    if not len(sample):
        return sample, None
    return sample, streamgmm.GaussianMixture.from_parameters(params).predict(sample)


@task(name="plots", **_NO_CACHE)
def make_plots(
    config: BatchFitConfig, version: ModelVersion, metrics: FitMetrics, rows: RowData
) -> dict[str, Path]:
    """Save the fit's plots as PNGs named after the model version."""
    folder = Path(config.outputs.reports)
    stem = f"{version.name}-v{version.version}"
    sample, labels = _plot_sample(version.parameters, rows)
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
    get_run_logger().info("Saved plots to %s", ", ".join(map(str, plots.values())))
    return plots


def _artifact_key(model: str, what: str) -> str:
    """Prefect artifact keys allow lower-case letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")
    return f"batch-fit-{slug}-{what}"


@task(name="artifacts", **_NO_CACHE)
def record_artifacts(
    config: BatchFitConfig, version: ModelVersion, metrics: FitMetrics, rows: RowData,
    predictions: str | None, plots: dict[str, Path],
) -> dict[str, str]:
    """A metrics table and a markdown summary, keyed by model so runs form a history."""
    name = version.name
    table_key = _artifact_key(name, "metrics")
    summary_key = _artifact_key(name, "summary")
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
    rows = open_data(config)
    with compute_scheduler(**config.compute.model_dump()) as scheduler:
        model, fit_seconds = fit_mixture(config, rows, scheduler)
        metrics = evaluate(model, rows, scheduler, fit_seconds)
        version = publish(config, model.parameters_, rows, metrics)
        predictions = None
        if config.outputs.predictions is not None:
            predictions = write_predictions(config, version.parameters, rows, scheduler)
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
    _check_destinations(config, "the batch_fit config")
    return run_batch_fit(config)


# ============================================================================ command
def _quiet_logging() -> None:
    """Warnings and errors only: no progress or state-change lines."""
    for name in ("prefect", "prefect.client", "prefect.extra", "distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.batch_fit CONFIG [--quiet]``: run the flow and print the result."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.batch_fit",
        description="Fit a Gaussian mixture out of core as configured in a YAML file, publish "
        "it to the model registry and record Prefect artifacts. Runs on Prefect's ephemeral "
        "local API unless PREFECT_API_URL names a server.",
    )
    parser.add_argument("config", metavar="CONFIG", help="batch_fit YAML config file")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="show warnings and the result only"
    )
    args = parser.parse_args(argv)
    try:
        load_config(args.config, kind="batch_fit")  # a clear message before any orchestration
    except ConfigError as exc:
        print(f"batch_fit: invalid config\n{exc}", file=sys.stderr)
        return 2
    if args.quiet:
        _quiet_logging()
    try:
        # The first start of the ephemeral API on a fresh machine creates its database
        # and runs migrations, which can take longer than Prefect's default 20 s.
        # A value set by the user (environment or profile) wins.
        with temporary_settings(set_defaults={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120}):
            result = batch_fit(args.config)
    except (StreamGMMError, OSError, ValueError) as exc:
        print(f"batch_fit failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(result.summary_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
