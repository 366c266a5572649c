"""Example 5: streams of speech features and sensor samples, learnt online.

Two recorded datasets are replayed as live streams (see ``data/real/README.md``):

- **speech**: Japanese Vowels frames (12 LPC cepstral coefficients), speaker after
  speaker, appended to a Zarr store; configured by ``configs/stream_speech.yaml``;
- **sensors**: BasicMotions smart-watch samples (accelerometer, gyroscope), activity
  after activity, dropped as Parquet files into a landing folder;
  ``configs/stream_sensors.yaml``.

The stream runner learns a mixture by stepwise EM, committing after every batch,
flags anomalous samples and watches the per-batch log-likelihood with a
Page-Hinkley detector. The pictures show that log-likelihood over the stream
(each batch scored *before* the model learns from it), where the speaker or
activity really changes (dotted), where drift alarms fired (red), the anomalies
per batch and the step size.

    python -m streamgmm.examples.streams [--size reduced|full] [--out DIR] [--work DIR]

Both datasets are small (9,961 and 8,000 rows), so both sizes replay them whole.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import load_config
from ..datasets import load_basic_motions, load_japanese_vowels
from ..online.from_config import build_runner
from ..online.history import read_history
from ..online.replay import LandingFolderWriter, ZarrAppender, label_changes, replay, stream_order
from ..reporting.stream_plots import plot_stream_history
from .checkout import default_pictures, default_work, repository_root
from .cli import check_size, parse_example_arguments

__all__ = ["StreamResult", "STREAMS", "run", "main"]

NAME = "streams"


@dataclass(frozen=True)
class StreamSpec:
    """One replayed stream: dataset, target kind, config, rows per producer write."""

    name: str
    title: str
    load: object
    kind: str
    config: str
    rows_per_write: int


STREAMS = (
    StreamSpec("speech", "Japanese Vowels frames, speaker after speaker", load_japanese_vowels,
               "zarr", "stream_speech.yaml", 500),
    StreamSpec("sensors", "BasicMotions samples, activity after activity", load_basic_motions,
               "folder", "stream_sensors.yaml", 100),
)


@dataclass(frozen=True)
class StreamResult:
    """What one replayed stream gave.

    Attributes
    ----------
    name : str
    rows, batches, warm_up_rows : int
    change_batches : ndarray
        Batches (1-based, after the warm-up) whose rows include a real label change.
    alarm_batches : ndarray
        Batches where a drift alarm fired.
    anomalies : int
    anomaly_threshold : float
    picture : Path
    """

    name: str
    rows: int
    batches: int
    warm_up_rows: int
    change_batches: np.ndarray
    alarm_batches: np.ndarray
    anomalies: int
    anomaly_threshold: float
    picture: Path


def _run_one(spec: StreamSpec, work: Path, pictures: Path) -> StreamResult:
    table = spec.load()  # type: ignore[operator]
    folder = work / spec.name
    if folder.exists():
        shutil.rmtree(folder)  # a replay starts a new stream
    folder.mkdir(parents=True)
    target = folder / ("stream.zarr" if spec.kind == "zarr" else "landing")
    writer = ZarrAppender(target, table) if spec.kind == "zarr" else LandingFolderWriter(target, table)
    replay(table, writer, spec.rows_per_write)

    config = load_config(repository_root() / "configs" / spec.config, kind="online_update")
    source = config.source.model_copy(update={"uri": str(target)})
    online = config.online.model_copy(update={"state": str(folder / "state")})
    registry = config.registry.model_copy(update={"root": str(folder / "registry")})  # type: ignore[union-attr]
    outputs = config.outputs.model_copy(update={"scores": str(folder / "scores.zarr"),
                                                "reports": str(folder / "reports")})
    config = config.model_copy(update={"source": source, "online": online, "registry": registry, "outputs": outputs})
    runner = build_runner(config)
    summary = runner.run()

    state = summary.state
    history = read_history(folder / "state")
    batch_size = config.online.batch_size
    warm_up_rows = state.count("warm_up_rows")
    changes = label_changes(table, stream_order(table))
    change_batches = np.unique((changes[changes >= warm_up_rows] - warm_up_rows) // batch_size + 1)
    picture = plot_stream_history(
        history,
        pictures / f"stream_{spec.name}.png",
        title=f"{spec.title}: mean log-likelihood per batch (before the update)",
        changes=change_batches.tolist(),
    )
    return StreamResult(
        name=spec.name,
        rows=state.count("rows_read"),
        batches=state.count("batches"),
        warm_up_rows=warm_up_rows,
        change_batches=change_batches,
        alarm_batches=history["batch"][history["drift_alarm"]],
        anomalies=state.count("anomalies"),
        anomaly_threshold=float(state.anomaly_threshold),  # type: ignore[arg-type]
        picture=picture,
    )


def run(size: str = "full", out: Path | None = None, work: Path | None = None) -> list[StreamResult]:
    """Replay both streams, learn them online, draw the pictures.

    Parameters
    ----------
    size : {"reduced", "full"}
        Both replay the whole (small) datasets.
    out : Path, optional
        Folder for the pictures (default ``data/examples/``).
    work : Path, optional
        Folder for the streams, states, registries and scores
        (default ``data/generated/examples/streams/``).
    """
    check_size(size)
    pictures = out or default_pictures()
    work = work or default_work(NAME)
    return [_run_one(spec, work, pictures) for spec in STREAMS]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    for result in run(args.size, args.out, args.work):
        print(
            f"{result.name}: {result.rows:,} rows, {result.batches} batches after a warm-up of "
            f"{result.warm_up_rows:,} rows; real changes at batches {result.change_batches.tolist()}; "
            f"drift alarms at {result.alarm_batches.tolist()}; {result.anomalies:,} anomalies below "
            f"{result.anomaly_threshold:.2f}; picture {result.picture}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
