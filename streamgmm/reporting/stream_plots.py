"""PNG plot of a stream's life: mean log-likelihood per batch, drift alarms, anomalies, step size.

Reads nothing itself: give it the columns of :func:`streamgmm.online.history.read_history`.
Drawn on a bare matplotlib ``Figure`` (Agg, no pyplot state), like the fit plots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..online.history import read_history
from .plots import save_figure

__all__ = ["draw_stream_history", "plot_stream_history", "plot_stream_state"]


def draw_stream_history(
    figure: Any,
    history: Mapping[str, np.ndarray],
    *,
    title: str = "Stream: mean log-likelihood per batch (scored before the update)",
    changes: Sequence[int] = (),
) -> Any:
    """Draw the history on ``figure``: two panels sharing the batch axis, one legend beside them.

    Top: the per-batch mean log-likelihood, known changes (dotted) and drift alarms
    (red). Bottom: anomalies per batch (bars, integer ticks) and the step size
    (green, its own axis on the right). The legend names every series, the step size
    included, and sits to the right of the panels, never over the data.

    Parameters
    ----------
    figure : matplotlib Figure
        With ``layout="constrained"``, which keeps the legend outside the panels.
    history : mapping
        ``batch`` (n,), ``mean_log_likelihood`` (n,), ``drift_alarm`` (n,) bool,
        ``anomalies`` (n,) and ``step_size`` (n,).
    title : str
    changes : sequence of int
        Batches where the data are known to change (drawn as dotted lines), e.g.
        a new speaker or activity in a replayed dataset.

    Returns
    -------
    matplotlib Legend
        The figure's legend.
    """
    from matplotlib.ticker import MaxNLocator

    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    batches = np.asarray(history["batch"])
    top.plot(batches, np.asarray(history["mean_log_likelihood"]), linewidth=1.2, color="tab:blue",
             label="mean log-likelihood")
    for i, change in enumerate(changes):
        top.axvline(change, color="0.5", linestyle=":", linewidth=1,
                    label="known change" if i == 0 else None)
    alarms = batches[np.asarray(history["drift_alarm"], dtype=bool)]
    for i, alarm in enumerate(alarms):
        top.axvline(alarm, color="tab:red", linewidth=1.5, alpha=0.8,
                    label="drift alarm" if i == 0 else None)
    top.set_ylabel("nats per sample")
    top.set_title(title, fontsize=10)
    top.grid(True, alpha=0.3)
    bottom.bar(batches, np.asarray(history["anomalies"]), width=1.0, color="tab:orange",
               label="anomalies per batch")
    step_axis = bottom.twinx()
    step_axis.plot(batches, np.asarray(history["step_size"]), color="tab:green", linewidth=1,
                   label="step size (right axis)")
    step_axis.set_ylim(bottom=0.0)
    bottom.set_ylabel("anomalies", fontsize=8)
    step_axis.set_ylabel("step size", fontsize=8)
    bottom.set_xlabel("batch")
    # Batches and anomalies are counts: no fractional ticks.
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    handles, labels = [], []
    for ax in (top, bottom, step_axis):
        more_handles, more_labels = ax.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    # Beside the panels (constrained layout makes room for it), so it never hides a batch.
    return figure.legend(handles, labels, loc="outside right upper", fontsize=8)


def plot_stream_history(
    history: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    *,
    title: str = "Stream: mean log-likelihood per batch (scored before the update)",
    changes: Sequence[int] = (),
) -> Path:
    """Save :func:`draw_stream_history` as a PNG at ``path`` (replaced atomically).

    Parameters are those of :func:`draw_stream_history`, plus ``path``.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 5.0), dpi=100, layout="constrained")
    draw_stream_history(figure, history, title=title, changes=changes)
    return save_figure(figure, path)


def plot_stream_state(state: str | os.PathLike[str], folder: str | os.PathLike[str],
                      name: str) -> Path | None:
    """A stream's whole history (``batches.csv`` of its state folder) as ``<folder>/<name>-history.png``.

    What ``streamgmm stream`` and the ``online_update`` flow draw after a run into
    the config's ``outputs.reports`` (prepared and marked by the caller).

    Returns
    -------
    Path or None
        The PNG, or None when no batch has been committed yet.
    """
    history = read_history(state)
    if history["batch"].size == 0:
        return None
    return plot_stream_history(history, Path(folder) / f"{name}-history.png",
                               title=f"{name}: mean log-likelihood per batch (before the update)")
