"""PNG plots of a fit: the lower bound per EM iteration, the clusters as ellipses, and
the information criteria of a model selection.

Drawn on bare ``matplotlib.figure.Figure`` objects (rendered by Agg, no display
and no pyplot state), so a long-running process does not accumulate figures.

The cluster plot projects onto the first two principal axes of the *mixture*
covariance ``sum_k w_k (S_k + (m_k - m)(m_k - m)^T)``, computed from the
parameters alone (no pass over the data). Each component is drawn as its 1- and
2-standard-deviation ellipses in that plane, with an optional sample of rows
behind them, coloured by predicted component.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from streamgmm.core.params import MixtureParameters
from streamgmm.io.atomic import atomic_write_bytes

__all__ = [
    "CRITERIA_LINEAR_BELOW",
    "PLOT_MODULES",
    "component_covariances",
    "draw_information_criteria",
    "plot_clusters",
    "plot_information_criteria",
    "plot_lower_bounds",
    "principal_axes",
    "save_figure",
]


#: What drawing a plot imports on first use (matplotlib loads only when a plot is
#: drawn; a job that will plot may import these earlier, while it waits anyway).
PLOT_MODULES: tuple[str, ...] = ("matplotlib.figure",)


def component_covariances(params: MixtureParameters) -> np.ndarray:
    """Every component's covariance as a full (K, D, D) matrix, whatever the type."""
    return params.full_covariances


def principal_axes(params: MixtureParameters, n_axes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The mixture mean (D,) and its leading principal axes as columns (D, n_axes).

    With fewer features than ``n_axes``, the missing axes are zero columns.
    """
    covariances = component_covariances(params)
    centre = params.weights @ params.means
    offsets = params.means - centre
    total = np.einsum("k,kij->ij", params.weights, covariances) + np.einsum(
        "k,ki,kj->ij", params.weights, offsets, offsets
    )
    values, vectors = np.linalg.eigh(total)
    order = np.argsort(values)[::-1][:n_axes]
    axes = np.zeros((params.n_features, n_axes))
    axes[:, : len(order)] = vectors[:, order]
    # A fixed sign per axis (largest entry positive), so plots do not flip between runs.
    for j in range(axes.shape[1]):
        pivot = np.argmax(np.abs(axes[:, j]))
        if axes[pivot, j] < 0:
            axes[:, j] *= -1
    return centre, axes


def _figure(width: float = 6.0, height: float = 4.5) -> tuple[Any, Any]:
    # A bare Figure renders PNGs with Agg and touches no global pyplot state.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    return figure, figure.add_subplot(1, 1, 1)


def save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Render ``figure`` as a PNG at ``path`` (parents created, replaced atomically)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def plot_lower_bounds(
    lower_bounds: Sequence[float],
    path: str | os.PathLike[str],
    *,
    title: str = "Log-likelihood per EM iteration",
    converged: bool | None = None,
) -> Path:
    """Save the mean log-likelihood (lower bound) of every iteration as a PNG."""
    figure, ax = _figure()
    iterations = np.arange(1, len(lower_bounds) + 1)
    ax.plot(iterations, lower_bounds, marker="o", markersize=3, linewidth=1.5)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per sample")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.xaxis.get_major_locator().set_params(integer=True)
    verdict = "" if converged is None else (" (converged)" if converged else " (not converged)")
    ax.set_title(title + verdict)
    ax.grid(True, alpha=0.3)
    return save_figure(figure, path)


def _ellipse_points(mean: np.ndarray, cov: np.ndarray, radius: float, n: int = 100) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    angle = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return (mean[:, None] + vectors @ (np.sqrt(values)[:, None] * radius * circle)).T


def plot_clusters(
    params: MixtureParameters,
    path: str | os.PathLike[str],
    *,
    sample: np.ndarray | None = None,
    sample_labels: np.ndarray | None = None,
    title: str = "Clusters on the first two principal axes",
) -> Path:
    """Save the components as 1- and 2-sigma ellipses on the first two principal axes.

    Parameters
    ----------
    params : MixtureParameters
    path : path
        The PNG to write (parents created; replaced atomically).
    sample : ndarray of shape (n, D), optional
        Rows to draw behind the ellipses.
    sample_labels : ndarray of shape (n,), optional
        Their components, for colours.
    title : str
    """
    centre, axes = principal_axes(params, 2)
    covariances = component_covariances(params)
    figure, ax = _figure(6.5, 5.5)
    from matplotlib import colormaps

    palette = colormaps["tab10" if params.n_components <= 10 else "tab20"]
    colours = [palette(k % palette.N) for k in range(params.n_components)]
    if sample is not None and len(sample):
        projected = (np.asarray(sample, dtype=np.float64) - centre) @ axes
        if sample_labels is None:
            ax.scatter(projected[:, 0], projected[:, 1], s=2, c="0.6", alpha=0.4, linewidths=0)
        else:
            for k in range(params.n_components):
                rows = projected[np.asarray(sample_labels) == k]
                ax.scatter(rows[:, 0], rows[:, 1], s=2, color=colours[k], alpha=0.25, linewidths=0)
    for k in range(params.n_components):
        mean = (params.means[k] - centre) @ axes
        cov = axes.T @ covariances[k] @ axes
        for radius, style in ((1.0, "-"), (2.0, "--")):
            points = _ellipse_points(mean, cov, radius)
            ax.plot(points[:, 0], points[:, 1], style, color=colours[k], linewidth=1.2)
        ax.plot(*mean, "x", color="black", markersize=6)
        ax.annotate(
            f"{k} ({params.weights[k]:.0%})", mean, textcoords="offset points", xytext=(4, 4),
            fontsize=8,
        )
    ax.set_xlabel("principal axis 1")
    ax.set_ylabel("principal axis 2")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    return save_figure(figure, path)


#: Below this distance from the lowest value the criteria axis is linear (then logarithmic).
CRITERIA_LINEAR_BELOW = 10.0


def draw_information_criteria(
    ax: Any,
    n_components: Sequence[int],
    covariance_types: Sequence[str],
    bic: Sequence[float],
    aic: Sequence[float],
    *,
    chosen: int,
    criterion: str = "bic",
    title: str = "BIC and AIC of every candidate (lower is better)",
) -> None:
    """BIC (solid) and AIC (dashed) less their lowest value against K, on a symmetric-log axis.

    The criteria fall by up to millions from K = 1 to the right K (they grow with N)
    and then rise by tens to hundreds per extra component: on a linear axis of the
    raw values that rise, the whole point of the criterion, is a flat line and the
    curves overlap. Drawn less their lowest value on a symmetric-log axis (linear
    below :data:`CRITERIA_LINEAR_BELOW`), both the fall and the rise show. One
    colour per covariance type; the chosen candidate starred on the criterion it
    was chosen by, with a dotted line at its K.

    Parameters
    ----------
    ax : matplotlib Axes
    n_components, covariance_types : sequences of length C
        K and covariance type of each candidate.
    bic, aic : sequences of float of length C
        Their criteria (lower is better); non-finite values are left out.
    chosen : int
        Index of the chosen candidate.
    criterion : {"bic", "aic"}
        What it was chosen by.
    title : str
    """
    from matplotlib import colormaps

    ks = np.asarray(n_components, dtype=np.int64)
    types = np.asarray(covariance_types)
    values = {"bic": np.asarray(bic, dtype=np.float64), "aic": np.asarray(aic, dtype=np.float64)}
    if not len(ks) == len(types) == len(values["bic"]) == len(values["aic"]):
        raise ValueError("n_components, covariance_types, bic and aic must have the same length")
    if criterion not in values or not 0 <= chosen < len(ks):
        raise ValueError(f"criterion must be 'bic' or 'aic' and chosen an index below {len(ks)}")
    lowest = {
        name: float(np.min(v[np.isfinite(v)])) if np.isfinite(v).any() else 0.0
        for name, v in values.items()
    }
    palette = colormaps["tab10"]
    for colour, covariance_type in enumerate(dict.fromkeys(covariance_types)):  # first-seen order
        rows = np.flatnonzero(types == covariance_type)
        rows = rows[np.argsort(ks[rows], kind="stable")]
        for name, style in (("bic", "-"), ("aic", "--")):
            y = values[name][rows]
            finite = np.isfinite(y)
            ax.plot(ks[rows][finite], y[finite] - lowest[name], style, marker="o", markersize=3.5,
                    linewidth=1.5, color=palette(colour % palette.N),
                    label=f"{name.upper()} {covariance_type}")
    k = int(ks[chosen])
    ax.axvline(k, color="0.45", linestyle=":", linewidth=1.0)
    ax.plot([k], [values[criterion][chosen] - lowest[criterion]], marker="*", markersize=17,
            color="gold", markeredgecolor="black", linestyle="none",
            label=f"chosen: K={k} {covariance_types[chosen]} (lowest {criterion.upper()})")
    ax.set_yscale("symlog", linthresh=CRITERIA_LINEAR_BELOW)
    ax.set_xticks(np.unique(ks))
    ax.set_xlabel("number of components K")
    ax.set_ylabel("criterion minus its lowest value (symmetric log)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")


def plot_information_criteria(
    n_components: Sequence[int],
    covariance_types: Sequence[str],
    bic: Sequence[float],
    aic: Sequence[float],
    path: str | os.PathLike[str],
    *,
    chosen: int,
    criterion: str = "bic",
    title: str = "BIC and AIC of every candidate (lower is better)",
) -> Path:
    """Save :func:`draw_information_criteria` as a PNG at ``path`` (replaced atomically).

    Parameters are those of :func:`draw_information_criteria`, plus ``path``.
    """
    figure, ax = _figure(7.0, 4.8)
    draw_information_criteria(ax, n_components, covariance_types, bic, aic, chosen=chosen,
                              criterion=criterion, title=title)
    return save_figure(figure, path)
