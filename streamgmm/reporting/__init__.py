"""Reports of a fit for people: metrics (with BIC/AIC), plots, markdown and terminal summaries,
the comparison of the candidates of a model selection, and summaries of scored data.

Library code with no orchestration in it; the Prefect flows in ``flows/`` turn
these into artifacts, and commands print them.
"""

from .metrics import FitMetrics, evaluate_fit, metrics_from_log_likelihood
from .plots import (
    PLOT_MODULES,
    component_covariances,
    draw_information_criteria,
    plot_clusters,
    plot_information_criteria,
    plot_lower_bounds,
    principal_axes,
)
from .scores import (
    ScoreSummary,
    model_log_likelihood_quantile,
    score_markdown,
    score_table,
    summarise_scores,
)
from .selection import candidates_table, selection_markdown, selection_record
from .summary import markdown_summary, metrics_table, terminal_summary

__all__ = [
    "PLOT_MODULES",
    "FitMetrics",
    "ScoreSummary",
    "candidates_table",
    "component_covariances",
    "draw_information_criteria",
    "evaluate_fit",
    "markdown_summary",
    "metrics_from_log_likelihood",
    "metrics_table",
    "model_log_likelihood_quantile",
    "plot_clusters",
    "plot_information_criteria",
    "plot_lower_bounds",
    "principal_axes",
    "score_markdown",
    "score_table",
    "selection_markdown",
    "selection_record",
    "summarise_scores",
    "terminal_summary",
]
