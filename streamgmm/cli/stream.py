"""``streamgmm stream CONFIG``: run the stream runner from an ``online_update`` config.

Progress goes to standard error (one line every ``--progress-every`` batches:
batch, rows, mean log-likelihood before the update, step size, anomalies);
``--quiet`` silences it. The end prints what the run did, the committed
position, the last published model version, and the stream's plot, drawn into
``outputs.reports`` (``<model>-history.png``). Exit status: 0 on success, 2 for
a bad config or a source that is not the stream's any more (replaced, rewritten
or shortened; ``--reset-source`` reads it afresh keeping the model), 1 for any
other error (the message names the file, batch or key).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import Sequence

from ..config import ConfigError, load_config
from ..preflight import check_job, prepare_reports_folder
from ..core.errors import StreamGMMError
from ..online.from_config import build_runner, close_source
from ..online.sources import SourceMismatchError
from ..reporting.stream_plots import plot_stream_state
from ._registry import announce_config

__all__ = ["DESCRIPTION", "EPILOG", "configure", "main", "run"]

DESCRIPTION = (
    "Consume a stream (an append-only Zarr store, a landing folder of Parquet/NPY/Zarr "
    "files, rows on standard input, or a message broker: Kafka, Redis Streams, NATS "
    "JetStream, MQTT) with online stepwise EM. The model state and the "
    "stream position are committed together after every batch, so the command can be "
    "killed and started again without losing or repeating a batch. Model versions are "
    "published to the registry every N batches or T seconds."
)


EPILOG = (
    "Example: streamgmm stream configs/stream_speech.yaml. The online_update flow "
    "(python -m flows.online_update CONFIG) runs the same runner under Prefect."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``stream``."""
    parser.add_argument(
        "config",
        help="online_update YAML config (e.g. configs/stream_speech.yaml, configs/stream_sensors.yaml)",
    )
    parser.add_argument("--max-batches", type=int, default=None, help="stop after this many batches")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep waiting for new data (ignore online.idle_seconds); stop with Ctrl-C",
    )
    parser.add_argument(
        "--reset-source",
        action="store_true",
        help="if the source was replaced, rewritten or shortened since the last commit, keep the "
        "learnt model and read the source from its beginning (instead of refusing)",
    )
    parser.add_argument("--progress-every", type=int, default=10, metavar="N", help="progress line every N batches")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary and errors")


def _progress(every: int):
    def report(state, batch_log_likelihood: float) -> None:
        batches = state.count("batches")
        if every > 0 and batches % every == 0:
            print(
                f"batch {batches:>6}  rows {state.count('rows_read'):>10,}  "
                f"mean log-lik {batch_log_likelihood:>11.4f}  anomalies {state.count('anomalies'):,}",
                file=sys.stderr,
                flush=True,
            )

    return report


def run(args: argparse.Namespace) -> int:
    """Run the stream runner for a parsed ``stream`` command line; the exit code."""
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("streamgmm.online").setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        config = load_config(args.config, kind="online_update")
        announce_config(config, args.config, quiet=args.quiet)
        check_job(config, args.config)  # source and destinations, for real, before any batch
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    overrides = {
        "max_batches": args.max_batches,
        "max_seconds": args.max_seconds,
        "on_source_change": "reset" if args.reset_source else None,
    }
    runner = build_runner(config, on_batch=None if args.quiet else _progress(args.progress_every), overrides=overrides)
    if args.follow:
        runner.settings = replace(runner.settings, idle_seconds=None)
    try:
        summary = runner.run()
    except KeyboardInterrupt:
        print("interrupted; the last committed batch is kept (run again to continue)", file=sys.stderr)
        return 130
    except SourceMismatchError as exc:
        print(f"stream refused: {exc}", file=sys.stderr)
        return 2
    except (StreamGMMError, OSError, ValueError) as exc:
        print(f"stream failed: {exc}", file=sys.stderr)
        return 1
    finally:
        close_source(runner.source)
    state = summary.state
    print(f"stream: {summary.batches} batches, {summary.rows:,} rows this run ({summary.stop_reason})")
    print(f"  total        {state.count('batches')} batches, {state.count('rows_read'):,} rows, "
          f"{state.count('invalid_rows')} invalid rows dropped")
    print(f"  position     {state.position}")
    if state.count("dead_letters") or summary.dead_letters:
        print(f"  dead letters {summary.dead_letters:,} this run, {state.count('dead_letters'):,} in total "
              "(undecodable messages set aside with their reason)")
    if state.anomaly_threshold is not None:
        print(f"  anomalies    {summary.anomalies:,} this run below log-likelihood {state.anomaly_threshold:.4f}")
    print(f"  drift alarms {len(summary.alarms)} this run" + (
        f" (last at batch {summary.alarms[-1]['batch']})" if summary.alarms else ""))
    if summary.batch_log_likelihoods:
        print(f"  last batch   mean log-likelihood {summary.batch_log_likelihoods[-1]:.4f}")
    if summary.components_in_use is not None:
        print(f"  in use       {summary.components_in_use} components (Bayesian mixture)")
    version = state.snapshot.get("version")
    if version is not None:
        registry = runner.registry()
        print(f"model {runner.settings.snapshots.model} version {version}")
        print(f"  location     {registry.root}/models/{runner.settings.snapshots.model}/{version}")
    try:
        plot = plot_stream_state(config.online.state, prepare_reports_folder(config.outputs.reports),
                                 config.stream_name)
    except (StreamGMMError, OSError) as exc:  # the batches are committed: report, do not fail
        print(f"stream: the plot was not saved: {exc}", file=sys.stderr)
        return 1
    if plot is not None:
        print(f"  plot         {plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streamgmm.cli.stream CONFIG`` (the same as ``streamgmm stream``)."""
    parser = argparse.ArgumentParser(prog="streamgmm stream", description=DESCRIPTION, epilog=EPILOG)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
