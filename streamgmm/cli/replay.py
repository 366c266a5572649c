"""``streamgmm replay DATASET TARGET``: a real dataset replayed as a live stream.

    streamgmm replay japanese-vowels nats --url nats://127.0.0.1:4222 --stream SPEECH --rate 2000
    streamgmm replay basic-motions mqtt --url mqtt://streamgmm@127.0.0.1:1883 --topic sensors \\
        --session streamgmm-sensors
    streamgmm replay japanese-vowels kafka --bootstrap-servers 127.0.0.1:9092 --topic speech
    streamgmm replay basic-motions redis --url redis://127.0.0.1:6379/0 --stream sensors
    streamgmm replay japanese-vowels zarr data/generated/streams/speech.zarr
    streamgmm replay basic-motions folder data/generated/streams/sensors-landing

The frames (:mod:`streamgmm.datasets`: 12 LPC cepstra per speech frame, speaker after
speaker; 6 smart-watch channels, activity after activity) are sent in stream order
(:mod:`streamgmm.online.replay`), ``--rows-per-message`` rows per message, append or
file, paced at ``--rate`` rows per second like a live producer (default: as fast as
the target takes them), as ``--format`` messages (:mod:`streamgmm.online.messages`).
Each broker's producer lives in its module under :mod:`streamgmm.online.brokers`:

- ``nats``: JetStream ``--stream`` (created with file storage if missing), subject
  ``--subject`` (default ``<stream>.rows`` lower-cased);
- ``mqtt``: QoS 1 on ``--topic``, each message framed with its sequence number (1, 2, ...
  from the start of the replay: replaying again re-sends the same numbers, which the
  consumer drops); ``--session CLIENT_ID`` first creates the consumer's persistent
  session, so that the broker queues everything for it;
- ``kafka``: ``--topic`` (created with ``--partitions`` if missing), records spread
  round-robin over the partitions;
- ``redis``: entries (field ``data``) appended to ``--stream``;
- ``zarr``, ``folder``: an append-only Zarr store or a landing folder of Parquet files.

Credentials are read from the environment variables named by ``--username-env`` /
``--password-env`` (never given on the command line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..datasets import load_basic_motions, load_japanese_vowels
from ..online.brokers import kafka, mqtt, nats_jetstream, redis_streams
from ..online.brokers.common import BrokerUnavailableError, MissingClientError, secret_from_env
from ..online.messages import FORMATS
from ..online.replay import LandingFolderWriter, ZarrAppender, encoded_messages, paced_rows, replay

__all__ = ["DESCRIPTION", "EPILOG", "configure", "run", "main", "DATASETS", "TARGETS"]

DESCRIPTION = (
    "Replay a real dataset (speech frames, sensor samples) as a live stream: into a message "
    "broker (NATS JetStream, MQTT, Kafka, Redis Streams), a growing Zarr store or a landing folder."
)
EPILOG = "Examples:\n" + "\n".join(
    line for line in (__doc__ or "").splitlines() if line.startswith("    streamgmm") or line.startswith("        --")
)

DATASETS = {"japanese-vowels": load_japanese_vowels, "basic-motions": load_basic_motions}
#: What each broker target needs: (option, its attribute) pairs.
_REQUIRED = {
    "nats": (("--url", "url"), ("--stream", "stream")),
    "mqtt": (("--url", "url"), ("--topic", "topic")),
    "kafka": (("--bootstrap-servers", "bootstrap_servers"), ("--topic", "topic")),
    "redis": (("--url", "url"), ("--stream", "stream")),
}


def _secrets(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "username": secret_from_env(args.username_env, "--username-env"),
        "password": secret_from_env(args.password_env, "--password-env"),
    }


def _send_nats(args: argparse.Namespace, messages: Iterable[bytes]) -> int:
    secrets = _secrets(args)
    subject = args.subject or f"{args.stream.lower()}.rows"
    return nats_jetstream.produce(
        args.url, args.stream, subject, messages, paced=args.rate is not None,
        wait_for_broker=args.wait_for_broker, user=secrets["username"], password=secrets["password"],
    )


def _send_mqtt(args: argparse.Namespace, messages: Iterable[bytes]) -> int:
    return mqtt.produce(args.url, args.topic, messages, first_seq=args.first_seq, session=args.session,
                        wait_for_broker=args.wait_for_broker, **_secrets(args))


def _send_kafka(args: argparse.Namespace, messages: Iterable[bytes]) -> int:
    secrets = _secrets(args)
    options = {} if secrets["username"] is None else {"username": secrets["username"], "password": secrets["password"]}
    kafka.create_topic(args.bootstrap_servers, args.topic, partitions=args.partitions, **options)
    counted = _Counted(messages)
    kafka.produce(args.bootstrap_servers, args.topic, counted, partitions=args.partitions, **options)
    return counted.count


def _send_redis(args: argparse.Namespace, messages: Iterable[bytes]) -> int:
    return redis_streams.produce(args.url, args.stream, messages, **_secrets(args))


class _Counted:
    """An iterable that counts what was taken from it."""

    def __init__(self, items: Iterable[bytes]) -> None:
        self.items, self.count = items, 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for item in self.items:
            self.count += 1
            yield item


#: Broker target -> sender of the encoded, paced messages (returns how many were sent).
TARGETS: dict[str, Callable[[argparse.Namespace, Iterable[bytes]], int]] = {
    "nats": _send_nats, "mqtt": _send_mqtt, "kafka": _send_kafka, "redis": _send_redis,
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path, default=None, metavar="PATH",
                        help="the dataset's folder or Parquet file (default: data/real of the checkout)")
    parser.add_argument("target", choices=(*TARGETS, "zarr", "folder"))
    parser.add_argument("path", nargs="?", type=Path, help="zarr / folder: the store or the landing folder")
    parser.add_argument("--rows-per-message", "--append-rows", type=int, default=1000, dest="rows",
                        help="rows per message, append or file (default 1000)")
    parser.add_argument("--rate", type=float, default=None, help="rows per second (default: no pacing)")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N rows")
    parser.add_argument("--format", choices=FORMATS, default="binary", help="broker message format")
    parser.add_argument("--url", help="nats://, mqtt:// or redis:// address of the broker")
    parser.add_argument("--bootstrap-servers", help="Kafka: host:port[,host:port]")
    parser.add_argument("--stream", help="NATS JetStream stream / Redis stream")
    parser.add_argument("--subject", help="NATS subject (default <stream>.rows, lower-cased)")
    parser.add_argument("--topic", help="MQTT / Kafka topic")
    parser.add_argument("--partitions", type=int, default=1, help="Kafka: partitions of a new topic")
    parser.add_argument("--session", metavar="CLIENT_ID",
                        help="MQTT: create this consumer's persistent session before sending")
    parser.add_argument("--first-seq", type=int, default=1, help="MQTT: the first message's sequence number")
    parser.add_argument("--wait-for-broker", type=float, default=None, metavar="SECONDS",
                        help="wait this long for a broker that is not up yet")
    parser.add_argument("--username-env", help="name of the environment variable holding the user name")
    parser.add_argument("--password-env", help="name of the environment variable holding the password")


def _check(parser_error: Callable[[str], Any], args: argparse.Namespace) -> None:
    if args.target in ("zarr", "folder"):
        if args.path is None:
            parser_error(f"target {args.target} needs the PATH of the store or folder")
        return
    if args.path is not None:
        parser_error(f"target {args.target} takes no PATH (it sends to a broker)")
    for option, attribute in _REQUIRED[args.target]:
        if getattr(args, attribute) is None:
            parser_error(f"target {args.target} needs {option}")


def run(args: argparse.Namespace) -> int:
    def error(message: str) -> None:
        print(f"streamgmm replay: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    _check(error, args)
    try:
        table = DATASETS[args.dataset](args.data)
    except FileNotFoundError as exc:
        print(f"streamgmm replay: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    if args.target in ("zarr", "folder"):
        try:
            writer = (ZarrAppender if args.target == "zarr" else LandingFolderWriter)(args.path, table)
        except FileExistsError as exc:
            print(exc, file=sys.stderr)
            return 2
        sent, where = replay(table, writer, args.rows, rate=args.rate, limit=args.limit), str(args.path)
    else:
        messages = encoded_messages(table, paced_rows(table, args.rows, rate=args.rate, limit=args.limit), args.format)
        try:
            sent = TARGETS[args.target](args, messages)
        except (BrokerUnavailableError, MissingClientError) as exc:
            print(f"streamgmm replay: {exc}", file=sys.stderr)
            return 1
        where = args.url or args.bootstrap_servers
    rows = len(table.X) if args.limit is None else min(args.limit, len(table.X))
    elapsed = time.monotonic() - started
    print(f"replayed {rows:,} rows of {args.dataset} to {args.target} {where} "
          f"({sent} {'writes' if args.target in ('zarr', 'folder') else 'messages'}, {elapsed:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m streamgmm.cli.replay ...`` (the same as ``streamgmm replay ...``)."""
    parser = argparse.ArgumentParser(prog="streamgmm replay", description=DESCRIPTION, epilog=EPILOG)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
