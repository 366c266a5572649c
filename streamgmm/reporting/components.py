"""Which components of a variational (Bayesian) mixture stay in use: a bar chart and a record.

A Dirichlet-process mixture fitted with more components than it needs drives the
expected weights of the unneeded ones towards zero. These reports show that:

- :func:`plot_expected_weights`: the expected weights sorted from largest to
  smallest as bars, those in use in a strong colour and the switched-off ones
  faint, the threshold as a dashed line (log scale, so a weight of 1e-6 is still
  visible next to one of 0.3);
- :func:`variational_comparison`: the number of components in use beside the
  number an information criterion chose, as plain JSON for registry metadata;
- :func:`variational_markdown`: the same as a short markdown section.

Which components count as in use is the estimator's decision
(``BayesianGaussianMixture.active_components_``, their indices); these functions
take those indices and only draw and record them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .plots import save_figure

__all__ = ["plot_expected_weights", "variational_comparison", "variational_markdown"]

#: Smallest weight drawn on the log axis (weights can underflow to exactly 0).
FLOOR = 1e-12


def _checked(weights: Sequence[float], active: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The weights (K,) and the in-use mask (K,) built from the active indices."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not len(w):
        raise ValueError(f"weights must be a non-empty 1-D array (one per component), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    indices = np.asarray(active)
    if indices.size and (indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer)
                         or indices.min() < 0 or indices.max() >= len(w)):
        raise ValueError(f"active components {indices.tolist()} must be indices below {len(w)}")
    used = np.zeros(len(w), dtype=bool)
    used[indices.astype(np.int64)] = True
    return w, used


def plot_expected_weights(
    weights: Sequence[float],
    active: Sequence[int],
    path: str | os.PathLike[str],
    *,
    threshold: float,
    title: str = "Expected weights of the components",
) -> Path:
    """Save the expected weights, sorted, as a bar chart with the in-use threshold, as a PNG.

    Parameters
    ----------
    weights : sequence of float, shape (K,)
        Expected component weights (``weights_`` of a fitted Bayesian mixture).
    active : sequence of int
        Indices of the components in use (``active_components_``).
    path : path
        The PNG to write (parents created; replaced atomically).
    threshold : float
        The weight below which a component counts as switched off (drawn dashed).
    title : str

    Returns
    -------
    Path
        The written file.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    w, used = _checked(weights, active)
    order = np.argsort(-w, kind="stable")
    figure = Figure(figsize=(max(5.0, 0.32 * len(w) + 2.5), 4.2), dpi=100)
    ax = figure.add_subplot(1, 1, 1)
    positions = np.arange(len(w))
    colours = ["tab:blue" if used[k] else "0.78" for k in order]
    ax.bar(positions, np.maximum(w[order], FLOOR), color=colours, edgecolor="0.3", linewidth=0.5)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.2,
               label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xticks(positions, [str(int(k)) for k in order], fontsize=7)
    ax.set_xlabel("component (sorted by expected weight)")
    ax.set_ylabel("expected weight (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(color="tab:blue", label=f"in use: {int(used.sum())}"),
               Patch(color="0.78", label=f"switched off: {int((~used).sum())}"),
               *ax.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    return save_figure(figure, path)


def variational_comparison(
    weights: Sequence[float],
    active: Sequence[int],
    *,
    threshold: float,
    n_components: int,
    covariance_type: str,
    criterion: str,
    chosen_n_components: int,
    converged: bool,
    n_iter: int,
) -> dict[str, Any]:
    """The variational choice beside the criterion's, as JSON data (registry metadata).

    Parameters
    ----------
    weights : sequence of float, shape (K,)
        The Bayesian mixture's expected weights.
    active : sequence of int
        Indices of its components in use (``active_components_``).
    threshold : float
        Its weight threshold.
    n_components : int
        K it was fitted with (the upper bound).
    covariance_type : str
    criterion : {"bic", "aic"}
        The information criterion of the selection.
    chosen_n_components : int
        K the criterion chose.
    converged : bool
    n_iter : int
    """
    w, used = _checked(weights, active)
    if len(w) != n_components:
        raise ValueError(f"{len(w)} weights for n_components={n_components}")
    return {
        "prior": "dirichlet_process",
        "n_components": int(n_components),
        "covariance_type": covariance_type,
        "weight_threshold": float(threshold),
        "n_components_in_use": int(used.sum()),
        "components_in_use": [int(k) for k in np.flatnonzero(used)],
        "weights": [float(v) for v in w],
        "converged": bool(converged),
        "n_iter": int(n_iter),
        "criterion": criterion,
        "criterion_n_components": int(chosen_n_components),
        "agrees": bool(int(used.sum()) == int(chosen_n_components)),
    }


def variational_markdown(record: dict[str, Any], plot: Path | None = None) -> str:
    """A markdown section of a :func:`variational_comparison` record (and its plot)."""
    weights = sorted(record["weights"], reverse=True)
    shown = ", ".join(f"{v:.3g}" for v in weights[: record["n_components_in_use"] + 2])
    lines = [
        "## Variational comparison (Dirichlet-process prior)",
        "",
        f"- **Components in use:** {record['n_components_in_use']} of "
        f"{record['n_components']} ({record['covariance_type']}, expected weight >= "
        f"{record['weight_threshold']:g})",
        f"- **{record['criterion'].upper()} chose:** K={record['criterion_n_components']} — "
        + ("the same number" if record["agrees"] else "a different number"),
        f"- **Largest expected weights:** {shown}",
        f"- **Converged:** {record['converged']} after {record['n_iter']} iterations",
    ]
    if plot is not None:
        lines.append(f"- [Expected weights]({Path(plot).resolve().as_uri()}) — `{plot}`")
    return "\n".join(lines) + "\n"
