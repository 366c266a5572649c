"""``select_k``: fit every candidate K (and covariance type) together, publish the best by BIC/AIC.

Run it now, on Prefect's ephemeral local API (nothing to start), from the
repository root::

    python -m flows.select_k configs/select_k.yaml [--quiet]

Tasks:

``load-config``          YAML -> :class:`~streamgmm.config.SelectKConfig`; checks the registry
                         and the predictions target before any work. No retries.
``open-data``            open the rows lazily and describe them. Retried on I/O errors.
``fit-candidates``       every candidate fitted at once (:func:`streamgmm.selection.fit_candidates`):
                         one initialisation sample shared by all, then ONE Dask pass per EM
                         iteration computes the statistics of every candidate still running
                         (each chunk read once); converged candidates drop out.
``evaluate-candidates``  one pass: log-likelihood of every candidate under its final
                         parameters, hence BIC and AIC. Retried on I/O errors.
``fit-variational``      only with ``selection.compare_variational``: a Dirichlet-process
                         mixture with the largest K (``variational_components``) and the
                         chosen covariance type; its components in use are set beside
                         the criterion's K. It never changes the winner.
``publish``              the winner as a new model version; its metadata records every
                         candidate's BIC and AIC (and the variational comparison).
                         Retried on lock timeouts only.
``write-predictions``    the winner's labels, responsibilities, log-likelihoods (if configured).
``plots``                PNGs: BIC and AIC against K with the winner marked; winner's clusters;
                         the variational mixture's expected weights, sorted, threshold marked.
``artifacts``            a table of the candidates and a markdown summary.

Nothing is cached or persisted. Progress (EM passes, lower bounds, candidates as
they converge; chunks done during long passes) goes to the run logger.
``streamgmm select-k CONFIG`` runs the same flow.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

import streamgmm
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
from streamgmm.config import SelectKConfig, load_config
from streamgmm.preflight import check_job, prepare_reports_folder
from streamgmm.drivers.compute import compute_scheduler, describe_scheduler
from streamgmm.io.sources import RowData
from streamgmm.registry import ModelVersion
from streamgmm.bayesian import BayesianGaussianMixture
from streamgmm.reporting import (
    PLOT_MODULES,
    FitMetrics,
    candidates_table,
    plot_clusters,
    plot_information_criteria,
    selection_markdown,
    selection_record,
    terminal_summary,
)
from streamgmm.reporting.components import (
    plot_expected_weights,
    variational_comparison,
    variational_markdown,
)
from streamgmm.selection import (
    Candidate,
    SelectionPass,
    choose,
    evaluate_candidates,
    fit_candidates,
    fit_variational,
)

__all__ = ["COMMAND", "SelectKResult", "VariationalFit", "main", "preflight", "run_select_k",
           "select_k"]


@dataclass(frozen=True)
class CandidateFits:
    """The fitted candidates and what fitting them cost.

    Attributes
    ----------
    candidates : tuple of Candidate
        In fitting order.
    models : tuple of GaussianMixture
        The fitted candidates, in the same order.
    fit_seconds : float
        Wall time of the shared fit (all candidates together).
    n_passes : int
        EM passes over the data it took.
    """

    candidates: tuple[Candidate, ...]
    models: tuple[streamgmm.GaussianMixture, ...]
    fit_seconds: float
    n_passes: int


@dataclass(frozen=True)
class VariationalFit:
    """The Dirichlet-process mixture set beside the criterion's choice.

    Attributes
    ----------
    model : BayesianGaussianMixture
        Fitted with the largest K.
    record : dict
        :func:`~streamgmm.reporting.components.variational_comparison`: components in
        use, weights, threshold, the criterion's K, whether they agree.
    fit_seconds : float
    """

    model: BayesianGaussianMixture
    record: dict[str, Any]
    fit_seconds: float


@dataclass(frozen=True)
class SelectKResult:
    """What a ``select_k`` run produced.

    Attributes
    ----------
    model, version, location : str, int, str
        The published winner and its folder.
    criterion : str
        "bic" or "aic".
    candidates : tuple of (int, str)
        Every candidate, in fitting order.
    metrics : tuple of FitMetrics
        Their metrics, in the same order.
    chosen : int
        Index of the winner.
    n_passes : int
        EM passes over the data the shared fit took.
    predictions : str or None
    plots : dict of str to Path
    artifacts : dict of str to str
        Prefect artifact key -> artifact id.
    variational : dict or None
        With ``selection.compare_variational``, the comparison record (see
        :class:`VariationalFit`); None otherwise.
    """

    model: str
    version: int
    location: str
    criterion: str
    candidates: tuple[tuple[int, str], ...]
    metrics: tuple[FitMetrics, ...]
    chosen: int
    n_passes: int
    predictions: str | None = None
    plots: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    variational: dict[str, Any] | None = None

    def summary_lines(self) -> list[str]:
        """The closing lines the command prints: the winner, then every candidate."""
        k, covariance_type = self.candidates[self.chosen]
        lines = terminal_summary(
            model=self.model, version=self.version, location=self.location,
            metrics=self.metrics[self.chosen], predictions=self.predictions,
        )
        lines.append(
            f"  chosen        K={k} {covariance_type} by {self.criterion.upper()} among "
            f"{len(self.candidates)} candidates ({self.n_passes} shared EM passes)"
        )
        if self.variational is not None:
            v = self.variational
            lines.append(
                f"  variational   {v['n_components_in_use']} of {v['n_components']} components "
                f"in use (Dirichlet process, {v['covariance_type']}, weight >= "
                f"{v['weight_threshold']:g}); {self.criterion.upper()} chose K={k}"
            )
        for i, ((c_k, c_type), m) in enumerate(zip(self.candidates, self.metrics)):
            mark = "  <- chosen" if i == self.chosen else ""
            lines.append(
                f"    K={c_k:<3d} {c_type:<9s} BIC {m.bic:14.2f}  AIC {m.aic:14.2f}{mark}"
            )
        return lines


# ============================================================================ tasks
def preflight(config_path: str) -> SelectKConfig:
    """The config, validated, with its data and destinations checked for real (a ``ConfigError`` otherwise)."""
    config = load_config(config_path, kind="select_k")
    check_job(config, config_path)
    return config


@task(name="load-config", retries=0, **NO_CACHE)
def load_select_k_config(config_path: str) -> SelectKConfig:
    """Read and validate the YAML config, and check that the outputs can be written."""
    config = preflight(config_path)
    get_run_logger().info("Config %s is valid", config_path)
    return config


def _pass_logger(logger: Any, max_iter: int) -> Callable[[SelectionPass], None]:
    """A ``fit_candidates`` progress callback: one line per pass, one per fit that finished."""

    def on_pass(progress: SelectionPass) -> None:
        best = max(progress.updates, key=lambda update: update[2].lower_bound)
        changes = [abs(change) for *_, change in progress.updates if change != float("inf")]
        logger.info(
            "EM pass %d: %d fit(s) advanced, %d still running; best lower bound %.6f (%s)%s",
            progress.number, len(progress.updates), progress.n_running, best[2].lower_bound,
            best[0].label, f"; largest change {max(changes):.3g}" if changes else "",
        )
        for candidate, init, state, _ in progress.updates:
            if state.converged or state.n_iter >= max_iter:
                logger.info(
                    "  %s%s %s after %d iterations, lower bound %.6f",
                    candidate.label, f" (init {init + 1})" if init else "",
                    "converged" if state.converged else "stopped unconverged", state.n_iter,
                    state.lower_bound,
                )

    return on_pass


@task(name="fit-candidates", **NO_CACHE)
def fit_all_candidates(config: SelectKConfig, rows: RowData, scheduler: Any) -> CandidateFits:
    """Every candidate fitted together: one Dask pass per EM iteration for all of them."""
    logger = get_run_logger()
    candidates = tuple(Candidate(k, t) for k, t in config.model.candidate_models)
    logger.info(
        "Fitting %d candidates (K in %s; %s covariance) together on %s",
        len(candidates), list(config.model.candidates), ", ".join(config.model.covariance_types),
        describe_scheduler(scheduler),
    )
    passes: list[SelectionPass] = []
    log_pass = _pass_logger(logger, config.model.max_iter)

    def on_pass(progress: SelectionPass) -> None:
        passes.append(progress)
        log_pass(progress)

    started = time.perf_counter()
    with warnings_to_run_log(), chunk_progress(scheduler):
        models = fit_candidates(
            rows, candidates, on_pass=on_pass, nan_policy=config.data.nan_policy,
            scheduler=scheduler, persist=config.compute.persist, **config.model.common_params(),
        )
    elapsed = time.perf_counter() - started
    logger.info("Fitted %d candidates in %.2f s, %d EM passes", len(models), elapsed, len(passes))
    return CandidateFits(candidates, tuple(models), elapsed, len(passes))


@task(name="evaluate-candidates", **IO_RETRY_OPTIONS, **NO_CACHE)
def evaluate_all_candidates(fits: CandidateFits, rows: RowData, scheduler: Any
                            ) -> tuple[FitMetrics, ...]:
    """Log-likelihood under the final parameters, BIC and AIC of every candidate (one pass)."""
    with chunk_progress(scheduler):
        metrics = evaluate_candidates(
            fits.models, rows, fit_seconds=fits.fit_seconds, scheduler=scheduler
        )
    logger = get_run_logger()
    for candidate, m in zip(fits.candidates, metrics):
        logger.info(
            "%s: mean log-likelihood %.6f, BIC %.2f, AIC %.2f (%d iterations%s)",
            candidate.label, m.mean_log_likelihood, m.bic, m.aic, m.n_iter,
            "" if m.converged else ", not converged",
        )
    return tuple(metrics)


@task(name="fit-variational", **NO_CACHE)
def fit_variational_comparison(config: SelectKConfig, rows: RowData, scheduler: Any,
                               chosen: Candidate) -> VariationalFit:
    """A Dirichlet-process mixture with the largest K, set beside the criterion's choice."""
    logger = get_run_logger()
    selection = config.selection
    n_components = selection.variational_components or max(config.model.candidates)
    logger.info(
        "Fitting a Dirichlet-process mixture with K=%d (%s) to compare with %s's K=%d",
        n_components, chosen.covariance_type, selection.criterion.upper(), chosen.n_components,
    )
    started = time.perf_counter()
    with warnings_to_run_log(), chunk_progress(scheduler):
        model = fit_variational(
            rows, n_components, chosen.covariance_type,
            weight_threshold=selection.weight_threshold, nan_policy=config.data.nan_policy,
            scheduler=scheduler, persist=config.compute.persist, **config.model.common_params(),
        )
    elapsed = time.perf_counter() - started
    record = variational_comparison(
        model.weights_, model.active_components_, threshold=model.weight_threshold,
        n_components=n_components, covariance_type=chosen.covariance_type,
        criterion=selection.criterion, chosen_n_components=chosen.n_components,
        converged=model.converged_, n_iter=model.n_iter_,
    )
    logger.info(
        "Dirichlet process: %d of %d components in use (%s chose K=%d) after %d iterations "
        "in %.2f s%s", record["n_components_in_use"], n_components, selection.criterion.upper(),
        chosen.n_components, model.n_iter_, elapsed, "" if model.converged_ else ", not converged",
    )
    return VariationalFit(model, record, elapsed)


@task(name="plots", **NO_CACHE)
def make_plots(
    config: SelectKConfig, fits: CandidateFits, metrics: Sequence[FitMetrics], chosen: int,
    version: ModelVersion, rows: RowData, variational: VariationalFit | None = None,
) -> dict[str, Path]:
    """The criteria against K (winner marked), the winner's clusters, and with a variational
    comparison the expected weights of its components, as PNGs."""
    folder = prepare_reports_folder(config.outputs.reports)
    stem = f"{version.name}-v{version.version}"
    criterion = config.selection.criterion
    sample, labels = plot_sample(version, rows)
    plots = {
        "BIC and AIC per number of components": plot_information_criteria(
            [c.n_components for c in fits.candidates],
            [c.covariance_type for c in fits.candidates],
            [m.bic for m in metrics], [m.aic for m in metrics],
            folder / f"{stem}-criteria.png", chosen=chosen, criterion=criterion,
            title=f"{version.name} v{version.version}: {fits.candidates[chosen].label} chosen "
            f"by {criterion.upper()}",
        ),
        "Clusters of the chosen model on the first two principal axes": plot_clusters(
            version.parameters, folder / f"{stem}-clusters.png", sample=sample,
            sample_labels=labels,
            title=f"{version.name} v{version.version}: clusters (1 and 2 sd) on principal axes",
        ),
    }
    if variational is not None:
        record = variational.record
        plots["Expected weights of the Dirichlet-process mixture"] = plot_expected_weights(
            record["weights"], record["components_in_use"], folder / f"{stem}-variational.png",
            threshold=record["weight_threshold"],
            title=f"Dirichlet process, K={record['n_components']} {record['covariance_type']}: "
            f"{record['n_components_in_use']} in use; {criterion.upper()} chose "
            f"K={record['criterion_n_components']}",
        )
    get_run_logger().info("Saved plots to %s", ", ".join(map(str, plots.values())))
    return plots


@task(name="artifacts", **NO_CACHE)
def record_artifacts(
    config: SelectKConfig, fits: CandidateFits, metrics: Sequence[FitMetrics], chosen: int,
    version: ModelVersion, rows: RowData, predictions: str | None, plots: dict[str, Path],
    variational: VariationalFit | None = None,
) -> dict[str, str]:
    """A table of the candidates and a markdown summary, keyed by model so runs form a history."""
    name, criterion = version.name, config.selection.criterion
    candidates = [tuple(c) for c in fits.candidates]
    table_key = artifact_key("select_k", name, "candidates")
    summary_key = artifact_key("select_k", name, "summary")
    table_id = create_table_artifact(
        table=candidates_table(candidates, metrics, criterion=criterion, chosen=chosen),
        key=table_key,
        description=f"Candidates of {name} version {version.version}, chosen by "
        f"{criterion.upper()}",
    )
    summary = selection_markdown(
        model=name, version=version.version, location=version.location,
        candidates=candidates, metrics=metrics, criterion=criterion, chosen=chosen,
        data={"uri": rows.uri, "shape": list(rows.shape), "format": rows.description.get("format")},
        n_passes=fits.n_passes, aliases=config.registry.aliases, predictions=predictions,
        plots=plots,
    )
    if variational is not None:
        summary += "\n" + variational_markdown(
            variational.record, plots.get("Expected weights of the Dirichlet-process mixture"))
    summary_id = create_markdown_artifact(
        markdown=summary,
        key=summary_key,
        description=f"{name} version {version.version}: the chosen mixture and every candidate",
    )
    return {table_key: str(table_id), summary_key: str(summary_id)}


# ============================================================================ flows
def run_select_k(config: SelectKConfig) -> SelectKResult:
    """The select_k steps for a validated config; call it inside a flow run."""
    rows = open_data(config.data)
    criterion = config.selection.criterion
    with compute_scheduler(
        **config.compute.scheduler_params(), data_nbytes=rows.array.nbytes
    ) as scheduler:
        fits = fit_all_candidates(config, rows, scheduler)
        metrics = evaluate_all_candidates(fits, rows, scheduler)
        chosen = choose(metrics, criterion)
        winner = fits.candidates[chosen]
        get_run_logger().info(
            "Chosen by %s: %s (%s %.2f)", criterion.upper(), winner.label, criterion.upper(),
            getattr(metrics[chosen], criterion),
        )
        registry_metrics = metrics[chosen].registry_metrics()
        registry_metrics["extra"]["selection"] = selection_record(
            [tuple(c) for c in fits.candidates], metrics, criterion=criterion, chosen=chosen
        )
        variational = None
        if config.selection.compare_variational:
            variational = fit_variational_comparison(config, rows, scheduler, winner)
            registry_metrics["extra"]["variational"] = variational.record
        # Checked again before publishing: a run failing on a destination leaves no version.
        check_job(config, "the select_k config", inputs=False)
        version = publish_model(
            config.registry, fits.models[chosen].parameters_, rows,
            metrics=registry_metrics,
            training_config={"job": "select_k", **config.model_dump(mode="json")},
        )
        predictions = None
        if config.outputs.predictions is not None:
            predictions = write_predictions(
                version.parameters, rows, config.outputs.predictions,
                overwrite=config.outputs.overwrite, dtype=config.model.dtype, scheduler=scheduler,
            )
    plots = make_plots(config, fits, metrics, chosen, version, rows, variational)
    artifacts = record_artifacts(config, fits, metrics, chosen, version, rows, predictions, plots,
                                 variational)
    return SelectKResult(
        model=version.name,
        version=version.version,
        location=version.location,
        criterion=criterion,
        candidates=tuple(tuple(c) for c in fits.candidates),
        metrics=tuple(metrics),
        chosen=chosen,
        n_passes=fits.n_passes,
        predictions=predictions,
        plots=plots,
        artifacts=artifacts,
        variational=None if variational is None else variational.record,
    )


@flow(name="select_k", persist_result=False)
def select_k(config_path: str) -> SelectKResult:
    """Fit every candidate mixture of a YAML config together and publish the best by BIC/AIC.

    Parameters
    ----------
    config_path : str
        The select_k YAML config (see ``configs/select_k.yaml``).

    Returns
    -------
    SelectKResult
    """
    return run_select_k(load_select_k_config(config_path))


# ============================================================================ command
COMMAND = FlowCommand(
    name="select_k",
    description="Fit every candidate number of components (and covariance type) of a YAML "
    "config together, choose by BIC or AIC, publish the winner to the model registry and "
    "record Prefect artifacts.",
    flow=select_k,
    preflight=preflight,
    warm_up=PLOT_MODULES,
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.select_k CONFIG [--quiet]``: run the flow and print the result."""
    return COMMAND.main(argv)


if __name__ == "__main__":
    sys.exit(main())
