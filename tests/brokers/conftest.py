"""Broker fixtures: real servers on 127.0.0.1, once per session (see ``broker_helpers``).

- ``kafka_broker``, ``redis_broker``: session-scoped, started on first use, stopped
  at the end of the session by their own process id.
- ``kafka_broker_factory``, ``redis_broker_factory``: private brokers for tests that
  stop and restart theirs (``broker.stop()``, ``broker.start()`` on the same port).
- ``nats_broker``, ``mqtt_broker``: session-scoped nats-server (JetStream) and amqtt
  (``.url`` is the address the sources take).

Every broker's fixture is here (pytest refuses ``pytest_plugins`` outside the root
conftest); their test entries go into ``BROKER_KINDS`` of ``broker_helpers.py`` (the
benchmark reads it too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker_helpers import BrokerProcess, kafka_process, mqtt_process, nats_process, redis_process


# ------------------------------------------------------------------------- fixtures
def _session_broker(make: Callable[[Path], BrokerProcess], folder: Path) -> Iterator[BrokerProcess]:
    broker = make(folder).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One tansu Kafka broker for the session (``.address`` is the bootstrap server)."""
    yield from _session_broker(kafka_process, tmp_path_factory.mktemp("kafka"))


@pytest.fixture(scope="session")
def redis_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One redis-server for the session (``redis://`` + ``.address``)."""
    yield from _session_broker(redis_process, tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def nats_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One nats-server with JetStream (file storage: a restart keeps the streams) for the session."""
    yield from _session_broker(nats_process, tmp_path_factory.mktemp("nats"))


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One amqtt broker (sessions in a SQLite file: a restart keeps them) for the session."""
    yield from _session_broker(mqtt_process, tmp_path_factory.mktemp("mqtt"))


def _factory(make: Callable[[Path], BrokerProcess], tmp_path: Path) -> Iterator[Callable[[], BrokerProcess]]:
    started: list[BrokerProcess] = []

    def new() -> BrokerProcess:
        broker = make(tmp_path / f"broker-{len(started)}").start()
        started.append(broker)
        return broker

    try:
        yield new
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture
def kafka_broker_factory(tmp_path: Path) -> Iterator[Callable[[], BrokerProcess]]:
    """Private tansu brokers for tests that stop and restart theirs."""
    yield from _factory(kafka_process, tmp_path)


@pytest.fixture
def redis_broker_factory(tmp_path: Path) -> Iterator[Callable[[], BrokerProcess]]:
    """Private redis-servers for tests that stop and restart theirs."""
    yield from _factory(redis_process, tmp_path)


