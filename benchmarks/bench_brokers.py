"""Stream runner throughput from message brokers, beside the landing folder, in one run.

    .venv/bin/python benchmarks/bench_brokers.py             # 300,000 rows per source
    .venv/bin/python benchmarks/bench_brokers.py --quick     # reduced sizes (smoke test)
    .venv/bin/python benchmarks/bench_brokers.py --brokers redis,kafka

What is measured: sustained rows/s from each source into the stream runner with a
commit of the model state and the position after every batch (D=13, K=16, diag and
full covariances, batches of 1,000 rows). The rows are produced before the clock
starts (binary messages of ``--message-rows`` rows; for the landing folder, one
``.npy`` file per batch), each with durable commits (``online.fsync: true``, the
default) and with unflushed ones (``false``: exactly-once under ``kill -9`` still,
not under a power loss); a first run does the warm-up and one batch, and the clock
times a second run (resumed from the state) over all the remaining rows, so the
figure is the steady state: read, decode, stepwise EM, scoring, drift, commit. The
brokers are real servers started on 127.0.0.1 (the test suite's fixtures). Goal:
>= 100,000 rows/s on every source.

MQTT cannot be read from a position: the source reads its own spool, which its MQTT
client fills as messages arrive (one ``syncfs`` per 20 ms for the messages spooled
meanwhile, then their PUBACKs). Its "produce" therefore ends once the consumer's
session has received every message into the spool (amqtt sends a whole backlog at
once and drops what is in flight when a client leaves), and the figure is the
runner reading the spool; the broker's delivery rate is a separate stage.

Adding a broker is one entry of ``BROKER_KINDS`` in ``tests/brokers/broker_helpers.py``
(shared with the tests): how to start its server, how to produce payloads into it,
and the ``source`` section that reads them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests" / "brokers"))  # the broker servers of the tests

from _common import format_table, machine_summary, wait_for_low_load  # noqa: E402
from bench_online import stationary_mixture  # noqa: E402
from broker_helpers import BROKER_KINDS  # noqa: E402

from streamgmm.config import parse_config  # noqa: E402
from streamgmm.online.from_config import build_runner, close_source  # noqa: E402
from streamgmm.online.messages import encode_rows  # noqa: E402

D, K, BATCH = 13, 16, 1000
GOAL = 100_000


# --------------------------------------------------------------------------- timing
def _timed_stream(source: dict[str, Any], folder: Path, covariance_type: str, n_rows: int, fsync: bool) -> float:
    """Rows/s of the runner over ``n_rows`` rows after its warm-up run (commit per batch)."""
    document = {
        "source": source,
        "model": {"n_components": K, "covariance_type": covariance_type, "seed": 0, "warm_up_size": 2 * BATCH},
        "online": {"state": str(folder / "state"), "batch_size": BATCH, "idle_seconds": 0.0,
                   "poll_seconds": 0.05, "fsync": fsync},
    }
    config = parse_config(document, "online_update", base_dir=folder)
    # Bounded by batches and waiting for each (no idle tail in the timing; a broker's
    # client may take a moment to deliver its first records).
    warm = build_runner(config, overrides={"max_batches": 1})
    warm.settings = replace(warm.settings, idle_seconds=None)
    warm.run()
    close_source(warm.source)
    before = warm.state_file.load(warm.stream_key()).count("rows_read")
    runner = build_runner(config, overrides={"max_batches": (n_rows - before) // BATCH})
    runner.settings = replace(runner.settings, idle_seconds=None)
    started = time.perf_counter()
    summary = runner.run()
    elapsed = time.perf_counter() - started
    close_source(runner.source)
    done = summary.state.count("rows_read") - before
    if done != n_rows - before:
        raise RuntimeError(f"{source['kind']}: read {done} rows after the warm-up, expected {n_rows - before}")
    return done / elapsed


def _landing(folder: Path, rows: np.ndarray) -> dict[str, Any]:
    land = folder / "land"
    land.mkdir(parents=True)
    for i, start in enumerate(range(0, len(rows), BATCH)):
        np.save(land / f"part-{i:06d}.npy", rows[start : start + BATCH])
    return {"kind": "landing-folder", "uri": str(land)}


def run(n_rows: int, message_rows: int, names: list[str]) -> list[list[object]]:
    rows = stationary_mixture()(n_rows, seed=1)
    payloads = [encode_rows(rows[s : s + message_rows], "binary") for s in range(0, n_rows, message_rows)]
    table = []
    work = Path(tempfile.mkdtemp(prefix="bench-brokers-"))
    servers = {}
    try:
        for broker in BROKER_KINDS.values():
            if broker.name in names:
                servers[broker.name] = broker.server(work / f"{broker.name}-server").start()
        for covariance_type in ("diag", "full"):
            sources = [("landing folder (.npy files)", None)] + [
                (f"{broker.name} ({message_rows}-row binary messages)", broker)
                for broker in BROKER_KINDS.values() if broker.name in servers
            ]
            landing: dict[bool, float] = {}
            for label, broker in sources:
                rates = {}
                for fsync in (True, False):
                    folder = work / f"{broker.name if broker else 'landing'}-{covariance_type}-{fsync}"
                    if broker is None:
                        source = _landing(folder, rows)
                    else:  # a stream of its own per run: each run reads it from its start
                        name = f"bench-{covariance_type}-{fsync}"
                        broker.produce(servers[broker.name], name, payloads)
                        source = broker.source(servers[broker.name], name)
                    rates[fsync] = _timed_stream(source, folder, covariance_type, n_rows, fsync)
                if broker is None:
                    landing = rates
                table.append([
                    covariance_type, label, f"{rates[True]:,.0f}", f"{rates[True] / landing[True]:.2f}x",
                    f"{rates[False]:,.0f}", f"{rates[False] / landing[False]:.2f}x",
                    "yes" if rates[False] >= GOAL else "NO",
                ])
    finally:  # the servers are stopped whatever happened (their own processes only)
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--message-rows", type=int, default=100)
    parser.add_argument("--brokers", default=",".join(BROKER_KINDS))
    parser.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    args = parser.parse_args(argv)
    n_rows = 20_000 if args.quick else args.rows
    print(machine_summary())
    if not args.quick:
        wait_for_low_load(1.0, max_wait=120.0)
    print(f"\nstream runner throughput, commit per batch (D={D}, K={K}, batches of {BATCH:,}, "
          f"{n_rows:,} rows), rows/s")
    print("(fsync: every commit durable against power loss, the default; no fsync: online.fsync false,")
    print(" still exactly-once under kill -9)")
    print(format_table(["covariance", "source", "rows/s fsync", "vs landing", "rows/s no fsync", "vs landing",
                        f"no fsync >= {GOAL:,}"],
                       run(n_rows, args.message_rows, args.brokers.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
