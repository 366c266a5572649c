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
    activity: a sensor stream whose activity changes are real changes of distribution.

Targets:

``zarr``
    An append-only Zarr store (format 3, written with xarray): variable ``X`` with dims
    (``sample``, ``feature``), the speaker/activity and series id as coordinates. Each
    write appends ``--append-rows`` rows along ``sample``, as a producer using
    ``to_zarr(append_dim="sample")`` would.
``folder``
    A landing folder: one Parquet file per ``--append-rows`` rows, written under a hidden
    name and renamed when complete, named so that name order is arrival order.

``--rate`` rows per second paces the writes like a live producer (default: the whole
stream at once). ``streamgmm stream`` can consume the target while this runs, or after.
The logic lives in :mod:`streamgmm.online.replay`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamgmm.datasets import load_basic_motions, load_japanese_vowels
from streamgmm.online.replay import LandingFolderWriter, ZarrAppender, replay

DATASETS = {"japanese-vowels": load_japanese_vowels, "basic-motions": load_basic_motions}


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
    try:
        writer = (ZarrAppender if args.kind == "zarr" else LandingFolderWriter)(args.target, table)
    except FileExistsError as exc:
        print(exc, file=sys.stderr)
        return 2
    writes = replay(table, writer, args.append_rows, rate=args.rate, limit=args.limit)
    rows = len(table.X) if args.limit is None else min(args.limit, len(table.X))
    print(f"replayed {rows:,} rows of {args.dataset} to {args.target} ({writes} writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
