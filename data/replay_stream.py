"""Replay a real dataset as a live stream: append to a Zarr store, or drop files into a folder.

    python data/replay_stream.py japanese-vowels zarr data/generated/streams/speech.zarr
    python data/replay_stream.py basic-motions folder data/generated/streams/sensors-landing
    python data/replay_stream.py japanese-vowels zarr PATH --rate 2000 --append-rows 500

The frames come from the committed copies in ``data/real/`` (see ``data/real/README.md``):

``japanese-vowels``
    12 LPC cepstral coefficients per frame, the utterances of the 9 speakers one speaker
    after the other (training then test utterances): a speech-feature stream whose
    speaker changes are real changes of distribution.
``basic-motions``
    6 smart-watch channels (accelerometer, gyroscope) at 10 Hz, the recordings grouped by
    activity (standing, walking, running, badminton): a sensor stream whose activity
    changes are real changes of distribution.

Targets:

``zarr``
    An append-only Zarr store (format 3, written with xarray): variable ``X`` with dims
    (``sample``, ``feature``), the speaker/activity and series id as coordinates. The first
    write creates it; each later write appends ``--append-rows`` rows along ``sample`` (the
    way a producer would, with ``to_zarr(append_dim="sample")``).
``folder``
    A landing folder: one Parquet file per ``--append-rows`` rows, written under a hidden
    name and renamed when complete, named so that name order is arrival order.

``--rate`` rows per second paces the writes like a live producer (default: as fast as
possible, the whole stream at once). The stream runner (``streamgmm stream``) can consume
the target while this runs, or afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from streamgmm.datasets import FrameTable, load_basic_motions, load_japanese_vowels

DATASETS = {"japanese-vowels": load_japanese_vowels, "basic-motions": load_basic_motions}


def stream_order(table: FrameTable) -> np.ndarray:
    """Row order of the stream: grouped by label (speaker/activity), then series, then time."""
    split_rank = (table.split == "test").astype(int)
    return np.lexsort((table.t, table.series, split_rank, table.label))


def _zarr_writer(target: Path, table: FrameTable):
    import xarray as xr

    if target.exists():
        raise SystemExit(f"{target} exists; remove it first (a replay starts a new stream)")
    first = [True]

    def write(rows: np.ndarray) -> None:
        ds = xr.Dataset(
            {"X": (("sample", "feature"), table.X[rows])},
            coords={
                "feature": list(table.feature_names),
                "label": ("sample", table.label[rows].astype(str)),
                "series": ("sample", table.series[rows]),
            },
        )
        if first[0]:
            ds.to_zarr(target, zarr_format=3, mode="w-", consolidated=False,
                       encoding={"X": {"chunks": (len(rows), len(table.feature_names))}})
            first[0] = False
        else:
            ds.drop_vars("feature").to_zarr(target, append_dim="sample", consolidated=False)

    return write


def _folder_writer(target: Path, table: FrameTable):
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.mkdir(parents=True, exist_ok=True)
    counter = [0]

    def write(rows: np.ndarray) -> None:
        columns = {name: table.X[rows, j] for j, name in enumerate(table.feature_names)}
        columns["series"] = table.series[rows]
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{counter[0]:06d}.parquet"
        hidden = target / f".{name}"
        # Non-feature columns are kept for reading back; the runner is told which to use.
        pq.write_table(pa.table(columns), hidden)
        os.replace(hidden, target / name)  # appears complete, or not at all
        counter[0] += 1

    return write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("kind", choices=("zarr", "folder"))
    parser.add_argument("target", type=Path)
    parser.add_argument("--append-rows", type=int, default=1000, help="rows per append or file")
    parser.add_argument("--rate", type=float, default=None, help="rows per second (default: no pacing)")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N rows")
    args = parser.parse_args(argv)
    table = DATASETS[args.dataset]()
    order = stream_order(table)[: args.limit]
    write = (_zarr_writer if args.kind == "zarr" else _folder_writer)(args.target, table)
    started = time.monotonic()
    for start in range(0, len(order), args.append_rows):
        rows = order[start : start + args.append_rows]
        if args.rate:
            delay = started + start / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        write(rows)
    print(f"replayed {len(order):,} rows of {args.dataset} to {args.target} "
          f"({(len(order) + args.append_rows - 1) // args.append_rows} writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
