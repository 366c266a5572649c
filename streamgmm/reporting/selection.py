"""Reports of a model selection: the candidates' criteria as a table, a record and markdown.

Candidates are ``(n_components, covariance_type)`` pairs with their
:class:`~streamgmm.reporting.metrics.FitMetrics`, in the order they were fitted.
Non-finite numbers (a fit whose likelihood collapsed) appear as None, so every
output is plain JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .embed import plots_markdown
from .metrics import FitMetrics

__all__ = ["candidates_table", "selection_markdown", "selection_record"]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _cell(value: Any) -> str:
    """A markdown cell: floats to 6 significant digits, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _check(candidates: Sequence[tuple[int, str]], metrics: Sequence[FitMetrics], chosen: int,
           criterion: str) -> None:
    if len(candidates) != len(metrics) or not 0 <= chosen < len(candidates):
        raise ValueError(
            f"{len(candidates)} candidates, {len(metrics)} metrics and chosen={chosen} do not match"
        )
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion={criterion!r} is invalid: choose 'bic' or 'aic'")


def candidates_table(
    candidates: Sequence[tuple[int, str]],
    metrics: Sequence[FitMetrics],
    *,
    criterion: str,
    chosen: int,
) -> list[dict[str, Any]]:
    """One row per candidate for a table artifact: K, type, BIC, AIC, distance to the best, fit.

    ``delta`` is the candidate's criterion minus the chosen one's (0 for the winner).
    """
    _check(candidates, metrics, chosen, criterion)
    best = getattr(metrics[chosen], criterion)
    rows = []
    for i, ((k, covariance_type), m) in enumerate(zip(candidates, metrics)):
        rows.append({
            "chosen": "yes" if i == chosen else "",
            "n_components": int(k),
            "covariance_type": covariance_type,
            "bic": _finite(m.bic),
            "aic": _finite(m.aic),
            f"delta_{criterion}": _finite(getattr(m, criterion) - best),
            "mean_log_likelihood": _finite(m.mean_log_likelihood),
            "n_parameters": m.n_parameters,
            "n_iter": m.n_iter,
            "converged": m.converged,
        })
    return rows


def selection_record(
    candidates: Sequence[tuple[int, str]],
    metrics: Sequence[FitMetrics],
    *,
    criterion: str,
    chosen: int,
) -> dict[str, Any]:
    """The selection as JSON data for the winner's registry metadata (every candidate's criteria)."""
    _check(candidates, metrics, chosen, criterion)
    k, covariance_type = candidates[chosen]
    return {
        "criterion": criterion,
        "chosen": {"n_components": int(k), "covariance_type": covariance_type},
        "candidates": [
            {
                "n_components": int(c_k),
                "covariance_type": c_type,
                "bic": _finite(m.bic),
                "aic": _finite(m.aic),
                "mean_log_likelihood": _finite(m.mean_log_likelihood),
                "n_parameters": m.n_parameters,
                "n_iter": m.n_iter,
                "converged": m.converged,
            }
            for (c_k, c_type), m in zip(candidates, metrics)
        ],
    }


def selection_markdown(
    *,
    model: str,
    version: int,
    location: str,
    candidates: Sequence[tuple[int, str]],
    metrics: Sequence[FitMetrics],
    criterion: str,
    chosen: int,
    data: Mapping[str, Any],
    n_passes: int | None = None,
    aliases: Sequence[str] = (),
    predictions: str | None = None,
    plots: Mapping[str, Path] | None = None,
) -> str:
    """A markdown report of a selection: the winner (version, where) and every candidate."""
    rows = candidates_table(candidates, metrics, criterion=criterion, chosen=chosen)
    k, covariance_type = candidates[chosen]
    winner = metrics[chosen]
    delta = f"delta_{criterion}"
    lines = [
        f"# {model} version {version}: K={k} ({covariance_type}) chosen by {criterion.upper()}",
        "",
        f"- **Model version:** `{model}:{version}`"
        + (f" (aliases: {', '.join(aliases)})" if aliases else ""),
        f"- **Location:** `{location}`",
        f"- **Data:** `{data.get('uri')}` — shape {data.get('shape')}, {data.get('format')}",
        f"- **Candidates:** {len(candidates)}"
        + (f", fitted together in {n_passes} passes over the data" if n_passes else ""),
        f"- **Winner:** {criterion.upper()} {_cell(_finite(getattr(winner, criterion)))}, "
        f"converged: {winner.converged} after {winner.n_iter} iterations",
    ]
    if predictions:
        lines.append(f"- **Predictions:** `{predictions}`")
    lines += [
        "",
        f"| | K | covariance | BIC | AIC | Δ{criterion.upper()} | mean log-likelihood | "
        "parameters | iterations | converged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            "**chosen**" if row["chosen"] else "",
            row["n_components"], row["covariance_type"], row["bic"], row["aic"], row[delta],
            row["mean_log_likelihood"], row["n_parameters"], row["n_iter"], row["converged"],
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += plots_markdown(plots)
    return "\n".join(lines) + "\n"
