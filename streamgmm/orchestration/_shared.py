"""What the flows share: retry rules, task options, logging helpers and common tasks.

Every flow module of :mod:`streamgmm.orchestration` imports it relatively; it never
depends on the working directory.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from streamgmm.bayesian import BayesianGaussianMixture
from streamgmm.config import DataConfig, RegistryConfig
from streamgmm.drivers.predictions import write_predictions as write_prediction_arrays
from streamgmm.estimator import GaussianMixture
from streamgmm.io.sources import open_rows
from streamgmm.registry.errors import RegistryLockTimeoutError
from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import DEFAULT_WEIGHT_THRESHOLD, VariationalPosterior, VariationalPriors
from streamgmm.drivers.progress import ChunkProgress
from streamgmm.io.sources import RowData
from streamgmm.registry import ModelRegistry, ModelVersion

__all__ = [
    "IO_RETRIES",
    "IO_RETRY_DELAY_SECONDS",
    "IO_RETRY_OPTIONS",
    "NO_CACHE",
    "PLOT_SAMPLE_ROWS",
    "artifact_key",
    "chunk_progress",
    "open_data",
    "plot_sample",
    "publish_model",
    "quiet_logging",
    "retry_on_io_error",
    "retry_on_lock_timeout",
    "warnings_to_run_log",
    "write_predictions",
]

#: Rows drawn behind the cluster ellipses (read from the start of the data).
PLOT_SAMPLE_ROWS = 3000
IO_RETRIES = 2
IO_RETRY_DELAY_SECONDS = 5
#: Seconds between "chunks done" lines within one long pass over the data.
PROGRESS_INTERVAL_SECONDS = 10.0


def retry_on_io_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the task failed on an I/O error (file, network, lock timeout)."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


def retry_on_lock_timeout(task: Any, task_run: Any, state: Any) -> bool:
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


# Options shared by every task: no cache keys are computed from (array) inputs,
# and results stay in memory.
NO_CACHE: dict[str, Any] = {"cache_policy": NONE, "persist_result": False}
IO_RETRY_OPTIONS: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAY_SECONDS,
    "retry_condition_fn": retry_on_io_error,
}


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


@contextlib.contextmanager
def chunk_progress(scheduler: Any) -> Iterator[None]:
    """Log "chunks done" lines to the run during long passes over the data.

    Local schedulers report through a Dask callback (silent for passes under
    :data:`PROGRESS_INTERVAL_SECONDS`); a ``distributed`` cluster runs tasks where
    local callbacks do not fire, so its dashboard address is logged instead.
    """
    logger = get_run_logger()
    if not isinstance(scheduler, str):
        link = getattr(scheduler, "dashboard_link", None)
        if link:
            logger.info("Chunk progress: Dask dashboard at %s", link)
        yield
        return

    def report(done: int, total: int, seconds: float) -> None:
        logger.info("  chunks done %d/%d (%.0f s into this pass)", done, total, seconds)

    with ChunkProgress(report, interval=PROGRESS_INTERVAL_SECONDS):
        yield


def quiet_logging() -> None:
    """Warnings and errors only: no progress or state-change lines."""
    for name in ("prefect", "prefect.client", "prefect.extra", "distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)


def artifact_key(flow: str, model: str, what: str) -> str:
    """``<flow>-<model>-<what>``: Prefect artifact keys allow lower-case letters, digits, dashes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", f"{flow}-{model}-{what}".lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


@task(name="open-data", **IO_RETRY_OPTIONS, **NO_CACHE)
def open_data(data: DataConfig) -> RowData:
    """Open the rows lazily (metadata only) and log what they are."""
    rows = open_rows(data.uri, **data.open_options())
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


@task(
    name="publish",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
    retry_condition_fn=retry_on_lock_timeout,
    **NO_CACHE,
)
def publish_model(
    registry: RegistryConfig,
    params: MixtureParameters | VariationalPosterior,
    rows: RowData,
    *,
    metrics: dict[str, Any],
    training_config: dict[str, Any],
    priors: VariationalPriors | None = None,
    weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD,
) -> ModelVersion:
    """Publish the parameters (or a Bayesian mixture's posterior and priors) as the
    next version of the configured model."""
    version = ModelRegistry(registry.root).publish(
        registry.model,
        params,
        priors=priors,
        weight_threshold=weight_threshold,
        feature_names=rows.feature_names,
        training_config=training_config,
        data_source={"uri": rows.uri, **rows.fingerprint()},
        metrics=metrics,
        aliases=registry.aliases,
    )
    get_run_logger().info(
        "Published %s version %d at %s", version.name, version.version, version.location
    )
    return version


@task(name="write-predictions", **IO_RETRY_OPTIONS, **NO_CACHE)
def write_predictions(
    params: MixtureParameters | VariationalPosterior,
    rows: RowData,
    target: str,
    *,
    overwrite: bool,
    dtype: str | None,
    scheduler: Any,
) -> str:
    """Labels, responsibilities and log-likelihoods of every row, to a Zarr group."""
    with warnings_to_run_log(), chunk_progress(scheduler):
        written = write_prediction_arrays(
            params, rows, target, overwrite=overwrite, dtype=dtype, scheduler=scheduler
        )
    get_run_logger().info("Wrote predictions to %s", written)
    return str(written)


def plot_sample(version: ModelVersion, rows: RowData) -> tuple[Any, Any]:
    """The first rows of the data (finite ones) and the version's predicted components."""
    import numpy as np

    n = min(PLOT_SAMPLE_ROWS, rows.shape[0])
    sample = np.asarray(rows.array[:n].compute(scheduler="synchronous"), dtype=np.float64)
    sample = sample[np.isfinite(sample).all(axis=1)]
    if not len(sample):
        return sample, None
    if version.kind == "bayesian":
        return sample, BayesianGaussianMixture.from_version(version).predict(sample)
    return sample, GaussianMixture.from_version(version).predict(sample)
