"""PNG plot of a stream's life: mean log-likelihood per batch, drift alarms, anomalies.

Reads nothing itself: give it the columns of :func:`streamgmm.online.history.read_history`.
Drawn on a bare matplotlib ``Figure`` (Agg, no pyplot state), like the fit plots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .plots import save_figure

__all__ = ["plot_stream_history"]


def plot_stream_history(
    history: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    *,
    title: str = "Stream: mean log-likelihood per batch (scored before the update)",
    changes: Sequence[int] = (),
) -> Path:
    """Save the per-batch mean log-likelihood with drift alarms (and known changes) as a PNG.

    Parameters
    ----------
    history : mapping
        ``batch`` (n,), ``mean_log_likelihood`` (n,), ``drift_alarm`` (n,) bool,
        ``anomalies`` (n,) and ``step_size`` (n,).
    path : path-like
        The PNG to write (replaced atomically).
    title : str
    changes : sequence of int
        Batches where the data are known to change (drawn as dotted lines), e.g.
        a new speaker or activity in a replayed dataset.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 5.0), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    batches = np.asarray(history["batch"])
    values = np.asarray(history["mean_log_likelihood"])
    top.plot(batches, values, linewidth=1.2, color="tab:blue", label="mean log-likelihood")
    for i, change in enumerate(changes):
        top.axvline(change, color="0.5", linestyle=":", linewidth=1, label="known change" if i == 0 else None)
    alarms = batches[np.asarray(history["drift_alarm"], dtype=bool)]
    for i, alarm in enumerate(alarms):
        top.axvline(alarm, color="tab:red", linewidth=1.5, alpha=0.8, label="drift alarm" if i == 0 else None)
    top.set_ylabel("nats per sample")
    top.set_title(title, fontsize=10)
    top.legend(loc="lower left", fontsize=8)
    bottom.bar(batches, np.asarray(history["anomalies"]), width=1.0, color="tab:orange", label="anomalies")
    step_axis = bottom.twinx()
    step_axis.plot(batches, np.asarray(history["step_size"]), color="tab:green", linewidth=1, label="step size")
    bottom.set_ylabel("anomalies", fontsize=8)
    step_axis.set_ylabel("step size", fontsize=8)
    bottom.set_xlabel("batch")
    return save_figure(figure, path)
