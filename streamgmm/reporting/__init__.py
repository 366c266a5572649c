"""Reports of a fit for people: metrics (with BIC/AIC), plots, markdown and terminal summaries.

Library code with no orchestration in it; the Prefect flows in ``flows/`` turn
these into artifacts, and commands print them.
"""

from .metrics import FitMetrics, evaluate_fit
from .plots import component_covariances, plot_clusters, plot_lower_bounds, principal_axes
from .summary import markdown_summary, metrics_table, terminal_summary

__all__ = [
    "FitMetrics",
    "component_covariances",
    "evaluate_fit",
    "markdown_summary",
    "metrics_table",
    "plot_clusters",
    "plot_lower_bounds",
    "principal_axes",
    "terminal_summary",
]
