"""Kafka (tansu) and Redis Streams sources against real servers: the runner's promises hold.

For each broker:

- bad messages are dead-lettered with their reason and position, counted, and
  the stream goes on;
- a runner killed with SIGKILL several times, restarted each time, ends bitwise
  equal to a run never interrupted (model, counters, detector, published versions,
  dead letters);
- a broker stopped and started again while the runner waits: the stream resumes
  (Redis keeps its data in an append-only file; tansu's only offline storage is
  in memory, so its test produces the same records again after the restart, as a
  replicated cluster would still hold them);
- a broker down at start is a clear error naming the address and its key, unless
  ``source.wait_for_broker`` asks to wait.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from broker_helpers import (
    BAD_PAYLOADS,
    BROKER_KINDS,
    BrokerKind,
    BrokerProcess,
    assert_same_stream,
    child_env,
    committed_state,
    run_and_kill_at_batch,
    stream_command,
    stream_payloads,
    write_config,
)
from streamgmm.config import load_config
from streamgmm.online.brokers.common import BrokerUnavailableError
from streamgmm.online.from_config import build_runner, build_source, close_source
from streamgmm.registry import ModelRegistry

KINDS = ["kafka", "redis"]  # NATS and MQTT have their own: test_nats_jetstream.py, test_mqtt.py
#: 50-row messages, batches of 200 rows: 4 good messages per batch. Counts are multiples
#: of 3 (the Kafka topics' partitions), so the round-robin merge ends on a full round.
ROWS_PER_MESSAGE = 50
N_GOOD = 240
BAD_AT = (7, 61, 130, 200, 215, 229)  # 246 messages in all; none after the last rows
#: The kill test's stream: long enough that four kills, each landing at most a pipe's worth
#: of progress lines past its target (see run_and_kill_at_batch), stay well inside it.
N_KILL = 960


@pytest.fixture(params=KINDS)
def broker(request: pytest.FixtureRequest) -> tuple[BrokerKind, BrokerProcess]:
    """Each broker kind with its session server."""
    kind = BROKER_KINDS[request.param]
    return kind, request.getfixturevalue(f"{kind.name}_broker")


def _name() -> str:
    return f"rows-{uuid.uuid4().hex[:8]}"


def _run(config: Path, **overrides: Any) -> Any:
    runner = build_runner(load_config(config, kind="online_update"), overrides=overrides)
    try:
        return runner.run()
    finally:
        close_source(runner.source)


def test_bad_messages_are_dead_lettered_counted_and_the_stream_goes_on(
    broker: tuple[BrokerKind, BrokerProcess], tmp_path: Path
) -> None:
    kind, server = broker
    name = _name()
    payloads = stream_payloads(36, ROWS_PER_MESSAGE, bad_at=(4, 11, 20))
    kind.produce(server, name, payloads)
    config = write_config(tmp_path, kind.source(server, name))
    summary = _run(config)
    state = summary.state
    assert state.count("dead_letters") == 3 and state.count("rows_read") == 36 * ROWS_PER_MESSAGE
    assert state.count("batches") + 3 == 36 * ROWS_PER_MESSAGE // 200  # + the 3 warm-up batches
    sidecars = sorted((tmp_path / "state" / "dead-letters").glob("*.json"))
    assert len(sidecars) == 3
    reasons = [json.loads(path.read_text()) for path in sidecars]
    expected = {
        BAD_PAYLOADS[0]: "shorter than the 14-byte binary header",
        BAD_PAYLOADS[1]: "has 3 features per row; the stream has 4",
        BAD_PAYLOADS[2]: "NaN or infinite values in 1 row(s)",
    }
    for record, sidecar in zip(reasons, sidecars):
        payload = sidecar.with_suffix(".msg").read_bytes()
        assert expected[payload] in record["reason"]
        assert record["position"] and record["source"]["kind"] == kind.name
        # The reason names the message's position.
        assert all(f"{k} {v}" in record["reason"] for k, v in record["position"].items())


def test_dead_letters_can_go_to_the_broker_itself(broker: tuple[BrokerKind, BrokerProcess], tmp_path: Path) -> None:
    kind, server = broker
    name = _name()
    kind.produce(server, name, stream_payloads(20, ROWS_PER_MESSAGE, bad_at=(5,)))
    destination = {"kafka": {"topic": f"{name}-dead"}, "redis": {"stream": f"{name}-dead"}}[kind.name]
    config = write_config(tmp_path, {**kind.source(server, name), "dead_letter": destination})
    assert _run(config).state.count("dead_letters") == 1
    if kind.name == "redis":
        import redis

        entries = redis.Redis(port=server.port).xrange(f"{name}-dead")
        fields = entries[0][1]
        assert fields[b"data"] == BAD_PAYLOADS[0]
        reason, position = fields[b"streamgmm-reason"].decode(), json.loads(fields[b"streamgmm-position"])
    else:
        import confluent_kafka

        consumer = confluent_kafka.Consumer({"bootstrap.servers": server.address, "group.id": name,
                                             "auto.offset.reset": "earliest"})
        consumer.subscribe([f"{name}-dead"])
        record = None
        for _ in range(60):
            record = consumer.poll(0.5)
            if record is not None and record.error() is None:
                break
        consumer.close()
        assert record is not None and record.value() == BAD_PAYLOADS[0]
        headers = dict(record.headers())
        reason, position = headers["streamgmm-reason"].decode(), json.loads(headers["streamgmm-position"])
    assert "binary header" in reason and position


@pytest.mark.slow
def test_killed_and_restarted_runner_equals_the_uninterrupted_one(
    broker: tuple[BrokerKind, BrokerProcess], tmp_path: Path
) -> None:
    kind, server = broker
    name = _name()
    kind.produce(server, name, stream_payloads(N_KILL, ROWS_PER_MESSAGE, bad_at=BAD_AT))
    calm = write_config(tmp_path / "calm", kind.source(server, name))
    # The killed runner commits without fsync (online.fsync: false): a killed process
    # must not tell the difference (the durable commit is the landing-folder kill test's).
    crashy = write_config(tmp_path / "crashy", kind.source(server, name), fsync=False)
    done = subprocess.run(stream_command(calm), capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    rng = random.Random(11)
    kills = sum(run_and_kill_at_batch(crashy, target, rng) for target in sorted(rng.sample(range(3, 60), 4)))
    assert kills == 4
    done = subprocess.run(stream_command(crashy), capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    calm_state, crashy_state = committed_state(calm), committed_state(crashy)
    assert_same_stream(crashy_state, calm_state)
    assert crashy_state.count("rows_read") == N_KILL * ROWS_PER_MESSAGE
    assert crashy_state.count("dead_letters") == len(BAD_AT)

    def published(folder: Path) -> list[tuple[int, Any]]:
        registry = ModelRegistry(folder / "registry")
        return [(registry.show("brokered", v).stream_positions["batches"],
                 registry.show("brokered", v).stream_positions["position"])
                for v in registry.list_versions("brokered")]

    assert published(crashy.parent) == published(calm.parent)  # each version once, same positions

    def dead_letters(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted((folder / "state" / "dead-letters").iterdir())}

    assert dead_letters(crashy.parent) == dead_letters(calm.parent)


def _wait_for_batches(process: subprocess.Popen[str], target: int, lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if line.startswith("batch") and int(line.split()[1]) >= target:
            return
    raise AssertionError("the runner ended before batch %d:\n%s" % (target, "".join(lines[-30:])))


@pytest.mark.slow
@pytest.mark.parametrize("kind_name", KINDS)
def test_a_broker_restart_is_survived_and_the_stream_resumes(
    kind_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kind = BROKER_KINDS[kind_name]
    server = request.getfixturevalue(f"{kind_name}_broker_factory")()
    name = _name()
    payloads = stream_payloads(N_GOOD, ROWS_PER_MESSAGE, bad_at=BAD_AT)
    half = 123  # a multiple of 3: whole rounds of the Kafka merge
    kind.produce(server, name, payloads[:half])
    total_batches = N_GOOD * ROWS_PER_MESSAGE // 200 - 3
    config = write_config(tmp_path / "live", {**kind.source(server, name), "reconnect_seconds": 120})
    process = subprocess.Popen(
        stream_command(config) + ["--follow", "--max-batches", str(total_batches)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
    )
    lines: list[str] = []
    try:
        _wait_for_batches(process, 20, lines)
        server.stop()
        time.sleep(1.5)  # the runner finds the broker gone and retries
        server.start()
        # tansu keeps records in memory only: produce the first half again, as it was.
        kind.produce(server, name, payloads[half:] if kind.keeps_data else payloads)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines[-20:]) + err[-3000:]
    if kind_name == "redis":  # redis-py fails the read; librdkafka reconnects by itself
        assert "failed (attempt 1" in err and "retrying in" in err, err[-3000:]
    restarted = committed_state(config)
    assert restarted.count("rows_read") == N_GOOD * ROWS_PER_MESSAGE
    calm = write_config(tmp_path / "calm", kind.source(server, name))
    _run(calm)
    assert_same_stream(restarted, committed_state(calm))


@pytest.mark.parametrize("kind_name", KINDS)
def test_a_broker_down_at_start_is_named_unless_the_stream_waits(kind_name: str, tmp_path: Path) -> None:
    kind = BROKER_KINDS[kind_name]
    server = kind.server(tmp_path / "server")  # not started yet
    source = kind.source(server, "rows")
    key = {"kafka": "source.bootstrap_servers", "redis": "source.url"}[kind_name]
    address = source.get("bootstrap_servers") or source["url"]

    config = write_config(tmp_path / "cli", source)
    done = subprocess.run(stream_command(config), capture_output=True, text=True, env=child_env(), timeout=300)
    assert done.returncode == 2  # the preflight: nothing was started
    assert f"{key}: cannot reach the {kind_name} broker at {address}" in done.stderr
    assert "source.wait_for_broker" in done.stderr

    loaded = load_config(write_config(tmp_path / "direct", source), kind="online_update")
    with pytest.raises(BrokerUnavailableError) as caught:
        build_source(loaded)
    assert key in str(caught.value) and str(server.port) in str(caught.value)

    def late_start() -> None:
        time.sleep(2.0)
        server.start()
        kind.produce(server, "rows", stream_payloads(24, ROWS_PER_MESSAGE))

    starter = threading.Thread(target=late_start)
    starter.start()
    try:
        waiting = write_config(tmp_path / "waiting", {**source, "wait_for_broker": 60})
        started = time.monotonic()
        source_object = None
        deadline = time.monotonic() + 90
        while source_object is None:  # the topic may appear a moment after the broker
            try:
                source_object = build_source(load_config(waiting, kind="online_update"))
            except Exception as exc:  # noqa: BLE001 - only "topic not there yet" is expected
                assert "topic" in str(exc) and time.monotonic() < deadline, exc
                time.sleep(0.5)
        close_source(source_object)
        assert time.monotonic() - started >= 1.0  # it waited for the broker
        starter.join()
        assert _run(waiting).state.count("rows_read") == 24 * ROWS_PER_MESSAGE
    finally:
        starter.join()
        server.stop()


def test_a_missing_credential_variable_is_named_before_anything_runs(tmp_path: Path, redis_broker: BrokerProcess) -> None:
    source = {**BROKER_KINDS["redis"].source(redis_broker, "rows"),
              "credentials": {"password_env": "SGM_UNSET_REDIS_PASSWORD"}}
    config = write_config(tmp_path, source)
    env = {k: v for k, v in child_env().items() if k != "SGM_UNSET_REDIS_PASSWORD"}
    done = subprocess.run(stream_command(config), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert "source.credentials.password_env: the environment variable 'SGM_UNSET_REDIS_PASSWORD' is not set" in done.stderr


def test_a_rewritten_redis_stream_is_refused(tmp_path: Path, redis_broker: BrokerProcess) -> None:
    import redis

    from streamgmm.online.sources import SourceMismatchError

    kind, name = BROKER_KINDS["redis"], _name()
    kind.produce(redis_broker, name, stream_payloads(24, ROWS_PER_MESSAGE))
    config = write_config(tmp_path, kind.source(redis_broker, name))
    _run(config)
    client = redis.Redis(port=redis_broker.port)
    ids = [entry_id for entry_id, _ in client.xrange(name)]
    client.delete(name)  # recreated with the same ids and other data
    for entry_id, payload in zip(ids, stream_payloads(24, ROWS_PER_MESSAGE, seed=99)):
        client.xadd(name, {"data": payload}, id=entry_id)
    with pytest.raises(SourceMismatchError, match="holds other data than the one consumed"):
        _run(config)
    client.close()


def test_the_committed_position_is_acknowledged_to_the_group_after_the_commit(
    broker: tuple[BrokerKind, BrokerProcess], tmp_path: Path
) -> None:
    kind, server = broker
    name = _name()
    kind.produce(server, name, stream_payloads(24, ROWS_PER_MESSAGE))
    config = write_config(tmp_path, {**kind.source(server, name), "group": f"{name}-monitor"})
    position = _run(config).state.position
    if kind.name == "redis":
        import redis

        client = redis.Redis(port=server.port)
        groups = client.xinfo_groups(name)
        client.close()
        assert [g["last-delivered-id"].decode() for g in groups] == [position["last_id"]]
    else:
        import confluent_kafka

        consumer = confluent_kafka.Consumer({"bootstrap.servers": server.address, "group.id": f"{name}-monitor"})
        partitions = [confluent_kafka.TopicPartition(name, int(p)) for p in position["offsets"]]
        committed = {str(tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=10)}
        consumer.close()
        assert committed == position["offsets"]


def test_a_dead_letter_folder_is_checked_like_every_destination(tmp_path: Path, redis_broker: BrokerProcess) -> None:
    users = tmp_path / "my-documents"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    source = {**BROKER_KINDS["redis"].source(redis_broker, _name()), "dead_letter": {"folder": str(users)}}
    done = subprocess.run(stream_command(write_config(tmp_path / "stream", source)), capture_output=True,
                          text=True, env=child_env(), timeout=300)
    assert done.returncode == 2 and "source.dead_letter.folder" in done.stderr, done.stderr[-2000:]
    assert (users / "notes.txt").read_text() == "mine"
    fresh = tmp_path / "dead"  # a new folder is made and marked as streamgmm's
    source["dead_letter"] = {"folder": str(fresh)}
    done = subprocess.run(stream_command(write_config(tmp_path / "stream", source)), capture_output=True,
                          text=True, env=child_env(), timeout=300)
    assert "source.dead_letter.folder" not in done.stderr and fresh.is_dir()
