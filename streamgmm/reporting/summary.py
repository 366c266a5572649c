"""Human-readable summaries of a fit: a metrics table, markdown, and terminal lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .embed import plots_markdown
from .metrics import FitMetrics

__all__ = ["metrics_table", "markdown_summary", "terminal_summary"]


def metrics_table(metrics: FitMetrics) -> list[dict[str, Any]]:
    """Rows ``{"metric", "value", "meaning"}`` for a table artifact."""
    rows = [
        ("lower_bound", metrics.lower_bound, "mean log-likelihood per sample, last E-step"),
        ("mean_log_likelihood", metrics.mean_log_likelihood, "under the final parameters"),
        ("bic", metrics.bic, "Bayesian information criterion (lower is better)"),
        ("aic", metrics.aic, "Akaike information criterion (lower is better)"),
        ("n_iter", metrics.n_iter, "EM iterations (one data pass each)"),
        ("converged", metrics.converged, "change of the lower bound below tol"),
        ("n_samples", metrics.n_samples, "rows used"),
        ("n_invalid_rows", metrics.n_invalid_rows, "rows with NaN/inf left out"),
        ("n_parameters", metrics.n_parameters, "free parameters"),
        ("fit_seconds", round(metrics.fit_seconds, 3), "wall time of the fit"),
    ]
    if metrics.components_in_use is not None:
        rows.append(
            ("components_in_use", metrics.components_in_use, "components the Bayesian prior left switched on")
        )
    return [{"metric": name, "value": value, "meaning": meaning} for name, value, meaning in rows]


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return f"{value:.6g}"


def markdown_summary(
    *,
    model: str,
    version: int,
    location: str,
    metrics: FitMetrics,
    data: Mapping[str, Any],
    estimator: Mapping[str, Any],
    aliases: Sequence[str] = (),
    predictions: str | None = None,
    plots: Mapping[str, Path] | None = None,
) -> str:
    """A markdown report of one published fit: version, where, data, settings, metrics, plots."""
    lines = [
        f"# {model} version {version}",
        "",
        f"- **Model version:** `{model}:{version}`"
        + (f" (aliases: {', '.join(aliases)})" if aliases else ""),
        f"- **Location:** `{location}`",
        f"- **Data:** `{data.get('uri')}` — shape {data.get('shape')}, {data.get('format')}",
        f"- **Mixture:** K={estimator.get('n_components')}, "
        f"covariance `{estimator.get('covariance_type')}`, seed {estimator.get('random_state')}"
        + (
            "" if metrics.components_in_use is None
            else f"; Bayesian, **{metrics.components_in_use} components in use**"
        ),
        f"- **Converged:** {metrics.converged} after {metrics.n_iter} iterations",
    ]
    if predictions:
        lines.append(f"- **Predictions:** `{predictions}`")
    lines += [
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {row['metric']} | {_number(row['value'])} |" for row in metrics_table(metrics)),
    ]
    lines += plots_markdown(plots)
    return "\n".join(lines) + "\n"


def terminal_summary(
    *, model: str, version: int, location: str, metrics: FitMetrics, predictions: str | None
) -> list[str]:
    """The closing lines a command prints: version, where, key metrics."""
    lines = [
        f"model {model} version {version}",
        f"  location      {location}",
        f"  lower bound   {metrics.lower_bound:.6f}  (mean log-likelihood per sample)",
        f"  n_iter        {metrics.n_iter}  converged: {'yes' if metrics.converged else 'no'}",
        f"  BIC           {metrics.bic:.2f}  (AIC {metrics.aic:.2f}, n = {metrics.n_samples:,})",
    ]
    if metrics.components_in_use is not None:
        lines.append(f"  in use        {metrics.components_in_use} components (Bayesian mixture)")
    if predictions:
        lines.append(f"  predictions   {predictions}")
    return lines
