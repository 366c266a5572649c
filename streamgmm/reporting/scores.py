"""Summaries of scored data: rows, mean log-likelihood, rows per label, unlikely rows.

:func:`summarise_scores` reads back the Zarr group that
:func:`streamgmm.write_predictions` wrote (one cheap pass over its
``labels`` and ``log_likelihood``; the data are not scored again). Rows whose
input held NaN or infinite values have a NaN log-likelihood there; they are
counted apart and left out of everything else.

An anomaly threshold can be fixed, or derived from the model alone with
:func:`model_log_likelihood_quantile`: the q-quantile of the log-likelihood of
rows drawn from the model itself, so that about ``q * n`` rows fall below it
when the data follow the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamgmm.core.estep import chunk_posteriors
from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import VariationalPosterior, variational_form

__all__ = [
    "ScoreSummary",
    "model_log_likelihood_quantile",
    "score_markdown",
    "score_table",
    "summarise_scores",
]


@dataclass(frozen=True)
class ScoreSummary:
    """What a scores group holds, in numbers.

    Attributes
    ----------
    n_rows : int
        Rows in the group.
    n_scored : int
        Rows with a finite log-likelihood.
    n_invalid : int
        Rows whose input held NaN or infinite values.
    mean_log_likelihood : float
        Over the scored rows (NaN when there are none).
    label_counts : tuple of int
        Scored rows per component (most probable label).
    threshold : float or None
        Log-likelihood threshold of the anomaly count, if one was given.
    n_below : int or None
        Scored rows with a log-likelihood below ``threshold``.
    """

    n_rows: int
    n_scored: int
    n_invalid: int
    mean_log_likelihood: float
    label_counts: tuple[int, ...]
    threshold: float | None = None
    n_below: int | None = None


def summarise_scores(
    path: str | os.PathLike[str], *, threshold: float | None = None, scheduler: Any = None
) -> ScoreSummary:
    """Count and average the scores of a group written by ``write_predictions``.

    Parameters
    ----------
    path : path
        The Zarr group (with ``labels`` and ``log_likelihood``).
    threshold : float, optional
        Also count the scored rows whose log-likelihood is below it.
    scheduler : optional
        Dask scheduler for the pass.

    Raises
    ------
    FileNotFoundError
        No such group, or it lacks ``labels`` or ``log_likelihood``.
    """
    import dask
    import dask.array as da
    import zarr

    try:
        group = zarr.open_group(os.fspath(path), mode="r")
        labels_array, ll_array = group["labels"], group["log_likelihood"]
    except (FileNotFoundError, KeyError) as exc:
        raise FileNotFoundError(
            f"{path} is not a scores group with 'labels' and 'log_likelihood' ({exc}); write it "
            "with streamgmm.write_predictions"
        ) from None
    n_components = int(group["component"].shape[0]) if "component" in group else (
        int(group.attrs["model_n_components"])
    )
    labels = da.from_zarr(labels_array)
    log_likelihood = da.from_zarr(ll_array)
    finite = da.isfinite(log_likelihood)
    # Invalid rows go to an extra bucket (index K) that is dropped: no boolean indexing,
    # so the chunks stay known.
    counts = da.bincount(da.where(finite, labels, n_components), minlength=n_components + 1)
    lazy = {
        "scored": finite.sum(),
        "total": da.where(finite, log_likelihood, 0.0).sum(),
        "counts": counts,
    }
    if threshold is not None:
        lazy["below"] = (finite & (log_likelihood < threshold)).sum()
    kwargs = {} if scheduler is None else {"scheduler": scheduler}
    (values,) = dask.compute(lazy, **kwargs)
    scored = int(values["scored"])
    return ScoreSummary(
        n_rows=int(log_likelihood.shape[0]),
        n_scored=scored,
        n_invalid=int(log_likelihood.shape[0]) - scored,
        mean_log_likelihood=float(values["total"]) / scored if scored else float("nan"),
        label_counts=tuple(int(c) for c in values["counts"][:n_components]),
        threshold=None if threshold is None else float(threshold),
        n_below=None if threshold is None else int(values["below"]),
    )


def model_log_likelihood_quantile(
    params: MixtureParameters | VariationalPosterior,
    quantile: float,
    *,
    sample_size: int = 100_000,
    seed: int = 0,
) -> float:
    """The ``quantile`` of the log-likelihood of ``sample_size`` rows drawn from the model.

    A threshold that depends on the model only (not on the data being scored):
    under the model, a fraction ``quantile`` of rows are less likely than it. A
    Bayesian mixture's posterior is sampled through its point estimate (as
    scikit-learn's ``sample``) and scored as its ``score_samples`` does, like the
    predictions the threshold is compared with.
    """
    from streamgmm.estimator import GaussianMixture

    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile={quantile!r} is invalid: give a number between 0 and 1")
    bayesian = isinstance(params, VariationalPosterior)
    model = GaussianMixture.from_parameters(params.mixture if bayesian else params, random_state=seed)
    sample, _ = model.sample(sample_size)
    if bayesian:
        scores, _ = chunk_posteriors(sample, variational_form(params))
    else:
        scores = model.score_samples(sample)
    return float(np.quantile(scores, quantile))


def score_table(summary: ScoreSummary) -> list[dict[str, Any]]:
    """Rows ``{"metric", "value"}`` for a table artifact: totals, then rows per label."""
    rows: list[dict[str, Any]] = [
        {"metric": "rows", "value": summary.n_rows},
        {"metric": "rows scored", "value": summary.n_scored},
        {"metric": "rows with NaN/inf", "value": summary.n_invalid},
        {"metric": "mean log-likelihood", "value": _json_float(summary.mean_log_likelihood)},
    ]
    if summary.threshold is not None:
        rows += [
            {"metric": "anomaly threshold", "value": summary.threshold},
            {"metric": "rows below threshold", "value": summary.n_below},
        ]
    rows += [{"metric": f"label {k}", "value": n} for k, n in enumerate(summary.label_counts)]
    return rows


def _json_float(value: float) -> float | None:
    return value if np.isfinite(value) else None


def score_markdown(
    *,
    model: str,
    version: int,
    location: str,
    data: Mapping[str, Any],
    predictions: str,
    summary: ScoreSummary,
    anomaly_rule: str | None = None,
) -> str:
    """A markdown report of a scoring run: which model, where the scores are, the numbers."""
    lines = [
        f"# Scores of `{data.get('uri')}` by {model} version {version}",
        "",
        f"- **Model version:** `{model}:{version}` at `{location}`",
        f"- **Data:** `{data.get('uri')}` — shape {data.get('shape')}, {data.get('format')}",
        f"- **Scores:** `{predictions}` (labels, responsibilities, log_likelihood)",
        f"- **Rows scored:** {summary.n_scored:,} of {summary.n_rows:,}"
        + (f" ({summary.n_invalid:,} with NaN/inf)" if summary.n_invalid else ""),
        f"- **Mean log-likelihood:** {summary.mean_log_likelihood:.6g}",
    ]
    if summary.threshold is not None:
        share = summary.n_below / summary.n_scored if summary.n_scored else float("nan")
        lines.append(
            f"- **Anomalies:** {summary.n_below:,} rows ({share:.3%}) below log-likelihood "
            f"{summary.threshold:.6g}" + (f" ({anomaly_rule})" if anomaly_rule else "")
        )
    lines += ["", "| label | rows | share |", "|---|---|---|"]
    for k, n in enumerate(summary.label_counts):
        share = n / summary.n_scored if summary.n_scored else float("nan")
        lines.append(f"| {k} | {n:,} | {share:.2%} |")
    return "\n".join(lines) + "\n"
