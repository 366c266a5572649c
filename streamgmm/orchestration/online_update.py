"""``online_update``: run the stream runner for a bounded time, publish, report.

Meant to be scheduled every few minutes (see ``prefect.yaml``): each run consumes
what arrived since the last one (up to ``max_batches`` / ``max_seconds``), commits
after every batch, publishes a model version (snapshots, and one at the end), and
reports. Run it now, on Prefect's ephemeral local API::

    python -m flows.online_update configs/stream_speech.yaml [--quiet]

Tasks:

``load-config``   YAML -> :class:`~streamgmm.config.online.OnlineUpdateConfig`. No retries.
``run-stream``    :class:`~streamgmm.online.runner.StreamRunner` until the source is idle
                  or a bound is reached. Retried on I/O errors only: the runner is
                  exactly-once (it resumes from its last commit), so a retry can neither
                  lose nor repeat a batch.
``plot``          the stream's per-batch log-likelihood, drift alarms, anomalies and step
                  size (PNG in ``outputs.reports``).
``artifacts``     a table (this run and totals) and a markdown summary with the plot
                  embedded (visible in the Prefect UI) and linked.

``streamgmm stream CONFIG`` runs the same runner without Prefect (e.g. to follow a
stream continuously with ``--follow``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ._command import FlowCommand
from ._shared import IO_RETRY_OPTIONS, NO_CACHE, artifact_key
from streamgmm.config import load_config
from streamgmm.config.online import OnlineUpdateConfig
from streamgmm.preflight import check_job, prepare_reports_folder
from streamgmm.online.from_config import build_runner, close_source
from streamgmm.online.runner import RunSummary
from streamgmm.reporting.embed import plots_markdown
from streamgmm.reporting.stream_plots import plot_stream_state

__all__ = ["OnlineUpdateResult", "online_update", "main"]


@dataclass(frozen=True)
class OnlineUpdateResult:
    """What one ``online_update`` run did.

    Attributes
    ----------
    model : str
        Registry model name ("" without a registry).
    version : int or None
        The last published version.
    location : str or None
    summary : RunSummary
    plot : str or None
    artifacts : dict
    """

    model: str
    version: int | None
    location: str | None
    summary: RunSummary
    plot: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """The closing lines printed by the command."""
        s, state = self.summary, self.summary.state
        lines = [
            f"online_update: {s.batches} batches, {s.rows:,} rows this run ({s.stop_reason})",
            f"  total         {state.count('batches')} batches, {state.count('rows_read'):,} rows, "
            f"{state.count('invalid_rows')} invalid rows dropped",
            f"  position      {state.position}",
            f"  drift alarms  {len(s.alarms)} this run, anomalies {s.anomalies:,} this run",
        ]
        if s.components_in_use is not None:
            lines.append(f"  in use        {s.components_in_use} components (Bayesian mixture)")
        if self.version is not None:
            lines += [f"model {self.model} version {self.version}", f"  location      {self.location}"]
        if self.plot:
            lines.append(f"  plot          {self.plot}")
        return lines


def preflight(config_path: str) -> OnlineUpdateConfig:
    """Validate the config and check its source and destinations for real, before any orchestration."""
    config = load_config(config_path, kind="online_update")
    check_job(config, config_path)
    return config


@task(name="load-config", retries=0, **NO_CACHE)
def load_online_config(config_path: str) -> OnlineUpdateConfig:
    return preflight(config_path)


@task(name="run-stream", **IO_RETRY_OPTIONS, **NO_CACHE)
def run_stream(config: OnlineUpdateConfig, max_batches: int | None, max_seconds: float | None) -> RunSummary:
    logger = get_run_logger()

    def progress(state: Any, batch_log_likelihood: float) -> None:
        if state.count("batches") % 50 == 0:
            logger.info(
                "batch %d: %d rows, mean log-likelihood %.4f, %d anomalies",
                state.count("batches"), state.count("rows_read"), batch_log_likelihood, state.count("anomalies"),
            )

    runner = build_runner(
        config, on_batch=progress, overrides={"max_batches": max_batches, "max_seconds": max_seconds}
    )
    try:
        summary = runner.run()
    finally:
        close_source(runner.source)
    for alarm in summary.alarms:
        logger.warning("drift alarm at batch %d (%s)", alarm["batch"], alarm["where"])
    return summary


@task(name="plot", retries=0, **NO_CACHE)
def plot_history(config: OnlineUpdateConfig, name: str) -> str | None:
    """The stream's history as ``<outputs.reports>/<name>-history.png`` (None before any batch)."""
    folder = prepare_reports_folder(config.outputs.reports)
    plot = plot_stream_state(config.online.state, folder, name)
    if plot is not None:
        get_run_logger().info("Saved the stream's plot to %s", plot)
    return None if plot is None else str(plot)


@task(name="artifacts", retries=0, **NO_CACHE)
def record_artifacts(name: str, summary: RunSummary, version: int | None, plot: str | None) -> dict[str, str]:
    state = summary.state
    table = [
        {"measure": "batches", "this run": summary.batches, "total": state.count("batches")},
        {"measure": "rows read", "this run": summary.rows, "total": state.count("rows_read")},
        {"measure": "invalid rows dropped", "this run": summary.invalid_rows, "total": state.count("invalid_rows")},
        {"measure": "dead letters", "this run": summary.dead_letters, "total": state.count("dead_letters")},
        {"measure": "anomalies", "this run": summary.anomalies, "total": state.count("anomalies")},
        {"measure": "drift alarms", "this run": len(summary.alarms), "total": len(state.alarms)},
    ]
    table_key = artifact_key("online-update", name, "counts")
    summary_key = artifact_key("online-update", name, "summary")
    table_id = create_table_artifact(table=table, key=table_key, description=f"Stream {name}: counts")
    last = f"{summary.batch_log_likelihoods[-1]:.4f}" if summary.batch_log_likelihoods else "n/a"
    markdown = "\n".join([
        f"# Stream `{name}`",
        "",
        f"- stopped: {summary.stop_reason}",
        f"- model version: {version if version is not None else 'none published'}",
        f"- position: `{state.position}`",
        f"- last batch mean log-likelihood (before its update): {last}",
        f"- anomaly threshold: {state.anomaly_threshold}",
        f"- drift alarms this run: {[a['batch'] for a in summary.alarms] or 'none'}",
        *([] if plot else ["- plot: none (no batch committed yet)"]),
        *plots_markdown({"Log-likelihood, drift alarms, anomalies and step size per batch": plot}
                        if plot else None),
    ])
    summary_id = create_markdown_artifact(markdown=markdown, key=summary_key, description=f"Stream {name}")
    return {table_key: str(table_id), summary_key: str(summary_id)}


@flow(name="online_update", persist_result=False)
def online_update(
    config_path: str, max_batches: int | None = None, max_seconds: float | None = None
) -> OnlineUpdateResult:
    """Consume a stream for a bounded time with stepwise EM, publish and report.

    Parameters
    ----------
    config_path : str
        The online_update YAML config (e.g. ``configs/stream_speech.yaml``).
    max_batches, max_seconds : optional
        Bounds of this run, overriding ``online.max_batches`` / ``online.max_seconds``.

    Returns
    -------
    OnlineUpdateResult
    """
    config = load_online_config(config_path)
    summary = run_stream(config, max_batches, max_seconds)
    name = config.stream_name
    plot = plot_history(config, name)
    version = summary.state.snapshot.get("version")
    location = None
    if version is not None and config.registry is not None:
        location = str(Path(config.registry.root) / "models" / name / str(version))
    artifacts = record_artifacts(name, summary, version, plot)
    return OnlineUpdateResult(
        model=name, version=version, location=location, summary=summary, plot=plot, artifacts=artifacts
    )


COMMAND = FlowCommand(
    name="online_update",
    description="Consume a stream (append-only Zarr store, landing folder, stdin or a message "
    "broker) with online "
    "stepwise EM for a bounded time, committing after every batch; publish model versions "
    "and report per-batch log-likelihood, anomalies and drift alarms.",
    flow=online_update,
    preflight=preflight,
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.online_update CONFIG [--quiet]``."""
    return COMMAND.main(argv)


if __name__ == "__main__":
    sys.exit(main())
