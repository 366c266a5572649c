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
This script is ``streamgmm replay`` (:mod:`streamgmm.cli.replay`), which also sends
to message brokers (targets ``nats``, ``mqtt``, ``kafka``, ``redis``); the logic lives
in :mod:`streamgmm.online.replay`.
"""

from __future__ import annotations

import sys

from streamgmm.cli.replay import main

if __name__ == "__main__":
    sys.exit(main())
