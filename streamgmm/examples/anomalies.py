"""Example 4: anomaly detection at a chosen false-alarm rate, with the library API.

Readings of four sensor channels from a machine with three operating modes (a
Gaussian mixture written to Zarr by :mod:`streamgmm.io.datagen`) are split into a
training part and a held-out part. A mixture fitted out of core on the training
rows scores every row with its log-likelihood; the alarm threshold is the chosen
false-alarm rate's quantile of the *training* log-likelihoods (1%: one normal
reading in a hundred raises an alarm). Anomalies are injected into the held-out
rows (spikes: one channel off by 3 to 6 standard deviations; faults: readings
anywhere in the range of the data), the rows are scored out of core with
``write_predictions`` and the readings below the threshold are flagged.

This job fits one dataset and scores another, which the ``batch_fit`` flow does not
do, so the example calls the library: ``GaussianMixture.fit`` on a Dask array of
Zarr rows, ``score_samples`` and ``streamgmm.write_predictions``.

    python -m streamgmm.examples.anomalies [--size reduced|full] [--out DIR]

Sizes: ``full`` trains on 2,000,000 readings and scores 500,000; ``reduced`` (CI)
trains on 50,000 and scores 20,000.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .figures import new_figure, save_png

__all__ = ["AnomalyResult", "FALSE_ALARM_RATE", "inject_anomalies", "main", "run"]

NAME = "anomalies"
#: Training rows, scored rows, injected anomalies and rows per chunk, by size.
SIZES = {
    "reduced": (50_000, 20_000, 400, 10_000),
    "full": (2_000_000, 500_000, 5_000, 250_000),
}
FALSE_ALARM_RATE = 0.01
#: The sensors' typical levels and spreads (a temperature, a vibration, a pressure, a current).
SENSOR_OFFSET = (60.0, 2.0, 5.0, 12.0)
SENSOR_SCALES = (3.0, 0.3, 0.4, 1.5)
N_MODES = 3
SEED = 4


@dataclass(frozen=True)
class AnomalyResult:
    """What :func:`run` measured.

    Attributes
    ----------
    threshold : float
        Log-likelihood below which a reading is flagged.
    target_rate : float
        The chosen false-alarm rate.
    false_alarm_rate : float
        Share of the held-out normal readings flagged.
    detection_rate : float
        Share of the injected anomalies flagged.
    n_train, n_normal, n_anomalies : int
        Training readings, held-out normal readings, injected anomalies.
    scores : Path
        The Zarr group of per-reading log-likelihoods.
    picture : Path
    """

    threshold: float
    target_rate: float
    false_alarm_rate: float
    detection_rate: float
    n_train: int
    n_normal: int
    n_anomalies: int
    scores: Path
    picture: Path


def inject_anomalies(
    rows: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``count`` random rows by anomalies: half spikes, half faults.

    A spike shifts one channel of a normal reading by 3 to 6 of that channel's
    standard deviations, up or down; a fault is drawn uniformly over the range
    of the readings, 10% wider on each side.

    Returns
    -------
    rows : ndarray
        A copy of ``rows`` with the anomalies in place.
    is_anomaly : ndarray of bool
    """
    rows = np.array(rows, copy=True)
    chosen = rng.choice(len(rows), size=count, replace=False)
    spikes, faults = chosen[: count // 2], chosen[count // 2 :]
    sd = rows.std(axis=0)
    channel = rng.integers(0, rows.shape[1], size=len(spikes))
    shift = rng.uniform(3.0, 6.0, size=len(spikes)) * rng.choice([-1.0, 1.0], size=len(spikes))
    rows[spikes, channel] += (shift * sd[channel]).astype(rows.dtype)
    low, high = rows.min(axis=0), rows.max(axis=0)
    margin = 0.1 * (high - low)
    rows[faults] = rng.uniform(low - margin, high + margin, size=(len(faults), rows.shape[1]))
    is_anomaly = np.zeros(len(rows), dtype=bool)
    is_anomaly[chosen] = True
    return rows, is_anomaly


def _write_scored_rows(path: Path, rows: np.ndarray, is_anomaly: np.ndarray, chunk_rows: int) -> Path:
    """The readings to score as a Zarr group (``X`` and the truth ``is_anomaly``)."""
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array(
        "X", data=rows, chunks=(chunk_rows, rows.shape[1]), dimension_names=("sample", "feature")
    )
    group.create_array(
        "is_anomaly", data=is_anomaly, chunks=(chunk_rows,), dimension_names=("sample",)
    )
    return path


def draw(
    normal: np.ndarray, anomalous: np.ndarray, threshold: float, rate: float, path: Path
) -> Path:
    """Histogram of the scored log-likelihoods, normal and injected, with the threshold."""
    # Anomalies reach far below the normal readings: clip the axis at a readable
    # bound and count what lies beyond it in the first bin.
    spread = np.median(normal) - threshold
    low = threshold - 3.0 * spread
    high = float(max(normal.max(), anomalous.max()))
    bins = np.linspace(low, high, 61)
    figure = new_figure(8.0, 4.5)
    ax = figure.subplots()
    ax.hist(np.clip(normal, low, None), bins=bins, color="0.55", label=f"normal ({len(normal):,})")
    ax.hist(
        np.clip(anomalous, low, None), bins=bins, color="tab:red", alpha=0.75,
        label=f"injected anomalies ({len(anomalous):,})",
    )
    ax.axvline(threshold, color="black", linestyle="--",
               label=f"threshold: {rate:.0%} quantile of training log-likelihood")
    beyond = int((anomalous < low).sum() + (normal < low).sum())
    ax.annotate(f"{beyond:,} below {low:.1f}\n(drawn at the edge)", (low, 0.97),
                xycoords=("data", "axes fraction"), va="top", fontsize=8)
    flagged_normal = float((normal < threshold).mean())
    flagged_anomalies = float((anomalous < threshold).mean())
    ax.set_yscale("log")
    ax.set_xlabel("log-likelihood under the fitted mixture")
    ax.set_ylabel("readings")
    ax.set_title(
        f"flagged: {flagged_normal:.2%} of normal readings, {flagged_anomalies:.1%} of anomalies",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, 0.85))
    return save_png(figure, path)


def run(
    size: str = "full", out: Path | None = None, work: Path | None = None, *,
    false_alarm_rate: float = FALSE_ALARM_RATE,
) -> AnomalyResult:
    """Fit on normal readings, set the threshold, score readings with injected anomalies.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``anomalies.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the readings and the scores.
    false_alarm_rate : float, default 0.01
        Share of normal readings allowed to raise an alarm.
    """
    import zarr

    import streamgmm
    from streamgmm.io.datagen import generate_mixture_dataset

    n_train, n_scored, n_anomalies, chunk_rows = SIZES[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)

    readings = generate_mixture_dataset(
        work / "readings.zarr", n_samples=n_train + n_scored, n_features=len(SENSOR_OFFSET),
        n_components=N_MODES, chunk_rows=chunk_rows, separation=4.0, offset=SENSOR_OFFSET,
        scales=SENSOR_SCALES, seed=SEED, overwrite=True,
    ).path
    rows = streamgmm.open_rows(readings, variable="X").array
    training = rows[:n_train]  # a lazy slice of the Zarr rows: the fit stays out of core

    model = streamgmm.GaussianMixture(
        N_MODES, covariance_type="full", tol=1e-4, max_iter=500, random_state=0
    ).fit(training)
    training_scores = np.asarray(model.score_samples(training))
    threshold = float(np.quantile(training_scores, false_alarm_rate))

    held_out = np.asarray(rows[n_train:].compute())
    injected, is_anomaly = inject_anomalies(held_out, n_anomalies, np.random.default_rng(SEED))
    scored = _write_scored_rows(work / "scored.zarr", injected, is_anomaly, chunk_rows)
    scores = streamgmm.write_predictions(
        model.parameters_, scored, work / "scores.zarr", outputs=["log_likelihood"],
        overwrite=True, variable="X",
    )
    log_likelihood = np.asarray(zarr.open_array(str(scores), path="log_likelihood", mode="r")[:])
    flagged = log_likelihood < threshold

    picture = draw(
        log_likelihood[~is_anomaly], log_likelihood[is_anomaly], threshold, false_alarm_rate,
        out / f"{NAME}.png",
    )
    return AnomalyResult(
        threshold=threshold,
        target_rate=false_alarm_rate,
        false_alarm_rate=float(flagged[~is_anomaly].mean()),
        detection_rate=float(flagged[is_anomaly].mean()),
        n_train=n_train,
        n_normal=int((~is_anomaly).sum()),
        n_anomalies=int(is_anomaly.sum()),
        scores=Path(scores),
        picture=picture,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print the rates."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    result = run(args.size, args.out, args.work)
    print(f"trained on {result.n_train:,} readings; threshold {result.threshold:.3f} "
          f"(the {result.target_rate:.0%} quantile of their log-likelihoods)")
    print(f"false alarms: {result.false_alarm_rate:.2%} of {result.n_normal:,} held-out normal readings")
    print(f"detected:     {result.detection_rate:.1%} of {result.n_anomalies:,} injected anomalies")
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
