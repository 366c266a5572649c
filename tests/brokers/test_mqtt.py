"""The MQTT source against a real amqtt broker (QoS 1, persistent sessions) on 127.0.0.1.

The consumer's session is created (``source.connect()``) before the producer publishes,
as MQTT delivers only to existing subscriptions. Each test uses its own topic and
client id. The reference of every run is the same runner over the same messages
without the fault: bitwise equal.
"""

from __future__ import annotations

import json
import random
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from streamgmm.online.brokers.common import BrokerUnavailableError, FolderDeadLetters
from streamgmm.online.brokers.mqtt import MqttProducer, MqttSource, create_session, unframe
from streamgmm.online.messages import encode_rows
from streamgmm.online.runner import StreamRunner

from broker_helpers import assert_same_stream, free_port, mixture_rows, run_and_kill_at_batch
from runner_helpers import assert_same_outcome, run_to_end, settings, unique, write_kill_config

pytest.importorskip("paho.mqtt")

MESSAGES, ROWS = 30, 100
USER = "streamgmm"


def _source(url: str, topic: str, folder: Path, **options) -> MqttSource:
    return MqttSource(url, topic, client_id=f"test-{topic}", spool=folder / "spool", username=USER, **options)


def _produce(url: str, topic: str, payloads: list[tuple[int, bytes]]) -> None:
    producer = MqttProducer(url, topic, username="producer")
    for seq, payload in payloads:
        producer.send(payload, seq)
    producer.close()


def _good(n: int = MESSAGES) -> list[tuple[int, bytes]]:
    return [(i + 1, encode_rows(mixture_rows(ROWS, i), "binary")) for i in range(n)]


def _run(source: MqttSource, folder: Path, **changes):
    changes.setdefault("idle_seconds", 3)
    try:
        return StreamRunner(source, settings(folder, **changes)).run()
    finally:
        source.close()


def _calm_run(url: str, folder: Path):
    """The reference: every message sent once, to a consumer that is never interrupted."""
    topic = unique("calm/")
    source = _source(url, topic, folder)
    source.connect()
    _produce(url, topic, _good())
    return _run(source, folder)


def test_every_row_once_even_when_the_producer_sends_twice(mqtt_broker, tmp_path: Path) -> None:
    twice_topic = unique("twice/")
    calm = _calm_run(mqtt_broker.url, tmp_path / "calm")
    assert calm.state.count("rows_read") == MESSAGES * ROWS
    assert calm.state.position == {"seq": MESSAGES}

    twice_source = _source(mqtt_broker.url, twice_topic, tmp_path / "twice")
    twice_source.connect()
    _produce(mqtt_broker.url, twice_topic, _good()[:20] + _good())  # a producer that re-sends
    twice = _run(twice_source, tmp_path / "twice")
    assert_same_stream(twice.state, calm.state)
    assert not list((tmp_path / "twice" / "spool").glob("*.msg"))  # committed messages leave the spool


def test_bad_messages_are_dead_lettered_and_the_stream_goes_on(mqtt_broker, tmp_path: Path) -> None:
    topic = unique("bad/")
    good = _good()
    # Sequence 11 has rows of the wrong width; one message has no sequence header at all.
    payloads = good[:10] + [(11, encode_rows(np.ones((5, 3)), "binary"))] + [(seq + 1, p) for seq, p in good[10:]]
    source = _source(mqtt_broker.url, topic, tmp_path, dead_letters=FolderDeadLetters(tmp_path / "dead"))
    source.connect()
    _produce(mqtt_broker.url, topic, payloads)
    producer = MqttProducer(mqtt_broker.url, topic, username="producer")
    producer._client.publish(topic, b"[[1, 2, 3, 4]]", qos=1).wait_for_publish(timeout=30)
    producer.close()

    summary = _run(source, tmp_path)
    assert summary.state.count("rows_read") == MESSAGES * ROWS
    assert summary.state.count("dead_letters") == 1  # the unsequenced one has no place in a batch
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "dead").glob("*.json"))]
    reasons = {json.dumps(r["position"], sort_keys=True): r["reason"] for r in records}
    assert len(reasons) == 2
    assert "3 features per row; the stream has 4" in reasons['{"seq": 11}']
    (unsequenced,) = [r for key, r in reasons.items() if "unsequenced" in key]
    assert "has no streamgmm sequence header" in unsequenced


def test_broker_down_at_start_is_a_clear_error(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    source = MqttSource(url, "any", client_id="nobody", spool=tmp_path / "spool", username=USER)
    with pytest.raises(BrokerUnavailableError, match=rf"source.url: cannot reach the broker at {url}"):
        source.next_batch(None, 100)


def test_broker_restart_mid_stream_resumes_and_equals_the_calm_run(mqtt_broker, tmp_path: Path) -> None:
    topic = unique("restart/")
    calm = _calm_run(mqtt_broker.url, tmp_path / "calm")

    source = _source(mqtt_broker.url, topic, tmp_path / "restart")
    source.connect()
    _produce(mqtt_broker.url, topic, _good()[:12])
    StreamRunner(source, settings(tmp_path / "restart", max_batches=3)).run()
    mqtt_broker.stop(signal.SIGKILL)  # a crash: the session (subscription) is in its SQLite store
    mqtt_broker.start()
    # Whatever the crash lost in flight, the producer sends again; duplicates are dropped.
    sender = threading.Thread(target=_produce, args=(mqtt_broker.url, topic, _good()))
    sender.start()
    try:
        summary = _run(source, tmp_path / "restart", idle_seconds=10)  # while the client reconnects
    finally:
        sender.join()
    assert_same_stream(summary.state, calm.state)


def test_frame_round_trip() -> None:
    from streamgmm.online.brokers.mqtt import frame

    assert unframe(frame(7, b"rows")) == (7, b"rows")
    with pytest.raises(ValueError, match="no streamgmm sequence header"):
        unframe(b"rows")


@pytest.mark.slow
def test_killed_and_restarted_runner_equals_the_uninterrupted_one(
    mqtt_broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``streamgmm stream`` killed with SIGKILL four times, restarted each time: bitwise the calm run.

    amqtt drops the messages in flight to a consumer that dies (their PUBACK never
    comes), so after each kill the producer sends everything again, as a producer
    that is not sure what arrived does; the consumer drops what it already has.
    """
    monkeypatch.setenv("MQTT_USER", USER)
    n_messages = 120
    payloads = _good(n_messages)
    folders = {}
    for name in ("calm", "crashy"):
        topic = unique(f"{name}/")
        source = {
            "kind": "mqtt", "url": mqtt_broker.url, "topic": topic, "client_id": f"kill-{topic}",
            "spool": "spool", "credentials": {"username_env": "MQTT_USER"},
        }
        config = write_kill_config(tmp_path / name, source, idle=5.0)
        create_session(mqtt_broker.url, topic, source["client_id"], username=USER)  # before the producer
        _produce(mqtt_broker.url, topic, payloads)
        folders[name] = (config, topic)
    run_to_end(folders["calm"][0])
    config, topic = folders["crashy"]
    rng = random.Random(5)
    kills = 0
    for target in sorted(rng.sample(range(3, 45), 4)):
        kills += run_and_kill_at_batch(config, target, rng)
        _produce(mqtt_broker.url, topic, payloads)
    assert kills == 4
    run_to_end(config)
    assert_same_outcome(tmp_path / "calm", tmp_path / "crashy", rows=n_messages * ROWS)
