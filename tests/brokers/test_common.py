"""The shared broker pieces on real files and sockets: dead-letter folders, backoff, start-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from broker_helpers import free_port
from streamgmm.online.brokers.common import (
    Backoff,
    BrokerUnavailableError,
    FolderDeadLetters,
    address_name,
    connect_at_start,
    dead_letter_fields,
    unreachable,
)


def test_a_folder_dead_letter_is_named_by_its_address_and_idempotent(tmp_path: Path) -> None:
    sink = FolderDeadLetters(tmp_path / "dead", source={"kind": "kafka", "topic": "rows"})
    address = {"partition": 1, "offset": 17}
    for _ in range(2):  # a replay after a crash sends it again: the same files
        sink.send(b"\x00bad", "message at partition 1 offset 17 is not JSON", address)
    names = sorted(p.name for p in (tmp_path / "dead").iterdir())
    assert names == ["offset=17_partition=1.json", "offset=17_partition=1.msg"]
    record = json.loads((tmp_path / "dead" / names[0]).read_text())
    assert record["reason"].endswith("is not JSON") and record["position"] == address
    assert (tmp_path / "dead" / names[1]).read_bytes() == b"\x00bad"


def test_unsafe_addresses_get_unique_file_names() -> None:
    first, second = address_name({"id": "1-0/a"}), address_name({"id": "1-0:a"})
    assert first != second and "/" not in first and ":" not in second
    fields = dead_letter_fields("bad", {"id": "1-0"}, {"kind": "redis"})
    assert json.loads(fields["streamgmm-position"]) == {"id": "1-0"}


def test_backoff_is_capped_jittered_and_reproducible() -> None:
    backoff = Backoff(initial=0.1, cap=1.0, seed=3)
    first = [d for d, _ in zip(backoff.delays(), range(8))]
    assert first == [d for d, _ in zip(backoff.delays(), range(8))]
    assert all(0.05 <= d <= 1.0 for d in first) and first[-1] > first[0]


def test_a_broker_down_at_start_is_named_with_its_key_unless_asked_to_wait() -> None:
    port = free_port()
    url = f"127.0.0.1:{port}"
    assert unreachable("kafka", url, timeout=0.5)

    def connect() -> None:
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()

    with pytest.raises(BrokerUnavailableError) as caught:
        connect_at_start(connect, url=url, key="source.bootstrap_servers", wait_for_broker=None, errors=(OSError,))
    assert f"source.bootstrap_servers: cannot reach the broker at {url}" in str(caught.value)
    assert "source.wait_for_broker" in str(caught.value)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="after waiting 1 s"):
        connect_at_start(connect, url=url, key="source.bootstrap_servers", wait_for_broker=1.0,
                         errors=(OSError,), backoff=Backoff(initial=0.05, cap=0.2))
    assert time.monotonic() - started >= 0.5  # it did wait
