"""The picture of example 2: the information criteria against K, and the winner over the data.

Left: BIC (solid) and AIC (dashed) of every candidate against K, less their lowest
value on a symmetric-log axis, drawn by
:func:`streamgmm.reporting.plots.draw_information_criteria` (the same picture the
``select_k`` flow saves).

Right: a sample of the rows coloured by the winner's predicted component, its
components' 1- and 2-standard-deviation ellipses, and the true centres.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.params import MixtureParameters
from ..reporting.plots import component_covariances, draw_information_criteria
from .figures import new_figure, save_png

__all__ = ["draw_clusters", "draw_selection", "ellipse"]


def ellipse(mean: np.ndarray, covariance: np.ndarray, radius: float, n: int = 120) -> np.ndarray:
    """Points (n, 2) of the ellipse ``radius`` standard deviations around ``mean`` (2-D)."""
    values, vectors = np.linalg.eigh(covariance)
    angle = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return (mean[:, None] + vectors @ (np.sqrt(np.clip(values, 0.0, None))[:, None]
                                       * radius * circle)).T


def draw_clusters(
    ax: Any,
    sample: np.ndarray,
    labels: np.ndarray,
    params: MixtureParameters,
    true_means: np.ndarray,
) -> None:
    """Rows coloured by component, the components' 1 and 2 sd ellipses, the true centres.

    Parameters
    ----------
    ax : matplotlib Axes
    sample : ndarray of shape (n, 2)
    labels : ndarray of shape (n,)
        The winner's predicted component of each row.
    params : MixtureParameters
        The winner (two features).
    true_means : ndarray of shape (K_true, 2)
    """
    from matplotlib import colormaps

    palette = colormaps["tab10" if params.n_components <= 10 else "tab20"]
    covariances = component_covariances(params)
    for k in range(params.n_components):
        colour = palette(k % palette.N)
        rows = sample[labels == k]
        ax.scatter(rows[:, 0], rows[:, 1], s=3, color=colour, alpha=0.35, linewidths=0)
        for radius, style in ((1.0, "-"), (2.0, "--")):
            points = ellipse(params.means[k], covariances[k], radius)
            ax.plot(points[:, 0], points[:, 1], style, color=colour, linewidth=1.6)
    ax.plot(params.means[:, 0], params.means[:, 1], "x", color="black", markersize=7,
            markeredgewidth=1.5, linestyle="none", label="fitted means")
    ax.plot(true_means[:, 0], true_means[:, 1], "o", markersize=11, markerfacecolor="none",
            markeredgecolor="black", markeredgewidth=1.5, linestyle="none",
            label="true centres")
    ax.plot([], [], "-", color="0.3", label="1 sd")
    ax.plot([], [], "--", color="0.3", label="2 sd")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def draw_selection(
    n_components: Sequence[int],
    covariance_types: Sequence[str],
    bic: Sequence[float],
    aic: Sequence[float],
    *,
    chosen: int,
    criterion: str,
    sample: np.ndarray,
    labels: np.ndarray,
    params: MixtureParameters,
    true_means: np.ndarray,
    n_rows: int,
    path: Path,
) -> Path:
    """The two panels side by side, saved as a small palette PNG.

    Parameters are those of :func:`~streamgmm.reporting.plots.draw_information_criteria`
    and :func:`draw_clusters`, plus
    ``n_rows`` (all the rows the candidates were fitted to, for the title) and
    ``path`` (the PNG to write).
    """
    figure = new_figure(13.0, 5.6)
    left, right = figure.subplots(1, 2, width_ratios=(1.0, 1.0))
    draw_information_criteria(left, n_components, covariance_types, bic, aic,
                              chosen=chosen, criterion=criterion)
    draw_clusters(right, sample, labels, params, true_means)
    right.set_title(
        f"K={params.n_components} {params.covariance_type} over {len(sample):,} of "
        f"{n_rows:,} rows (true K={len(true_means)})", fontsize=11,
    )
    return save_png(figure, path)
