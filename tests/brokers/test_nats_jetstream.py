"""The NATS JetStream source against a real nats-server (JetStream, file storage) on 127.0.0.1.

Each test uses its own stream on the session's server. The reference of every run is
the same runner over the same messages without the fault: bitwise equal.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from streamgmm.online.brokers.common import BrokerUnavailableError, FolderDeadLetters
from streamgmm.online.brokers.nats_jetstream import NatsConnection, NatsJetStreamSource, produce
from streamgmm.online.messages import encode_rows
from streamgmm.online.runner import StreamRunner
from streamgmm.online.sources import SourceError, SourceMismatchError

from runner_helpers import assert_same_outcome, run_to_end, settings, unique, write_kill_config
from broker_helpers import assert_same_stream, free_port, mixture_rows, nats_process, run_and_kill_at_batch

pytest.importorskip("nats")

MESSAGES, ROWS = 30, 100


def _produce(url: str, stream: str, payloads: list[bytes]) -> None:
    produce(url, stream, f"{stream.lower()}.rows", payloads)


def _good(n: int = MESSAGES, seed: int = 0) -> list[bytes]:
    return [encode_rows(mixture_rows(ROWS, seed + i), "binary") for i in range(n)]


def _run(source: NatsJetStreamSource, folder: Path, **changes):
    try:
        return StreamRunner(source, settings(folder, **changes)).run()
    finally:
        source.close()


def test_reads_every_row_once_like_the_rows_themselves(nats_broker, tmp_path: Path) -> None:
    stream = unique("ROWS")
    payloads = _good()
    _produce(nats_broker.url, stream, payloads)
    summary = _run(NatsJetStreamSource(nats_broker.url, stream), tmp_path)
    assert summary.state.count("rows_read") == MESSAGES * ROWS
    assert summary.state.position == {"stream_seq": MESSAGES + 1}
    # The same rows through a plain in-memory list of batches give the same model.
    from streamgmm import GaussianMixture

    reference = GaussianMixture(**settings(tmp_path).model.estimator_params())
    rows = np.concatenate([mixture_rows(ROWS, i) for i in range(MESSAGES)])
    for start in range(0, len(rows), 200):  # batches of whole messages: 200 rows each
        reference.partial_fit(rows[start:start + 200])
    np.testing.assert_array_equal(summary.state.online.params.means, reference.online_state_.params.means)


def test_bad_messages_are_dead_lettered_with_reason_and_position(nats_broker, tmp_path: Path) -> None:
    stream = unique("BAD")
    good = _good()
    payloads = good[:10] + [b"not rows at all", encode_rows(np.ones((5, 3)), "binary")] + good[10:]
    _produce(nats_broker.url, stream, payloads)
    # The dead-letter subject is captured by a stream, so the letters are kept.
    dead_stream = unique("DEAD")
    dead_subject = f"{dead_stream.lower()}.letters"
    connection = NatsConnection(nats_broker.url)
    connection.open()
    connection.run(lambda: connection.js.add_stream(name=dead_stream, subjects=[dead_subject]))

    summary = _run(NatsJetStreamSource(nats_broker.url, stream, dead_letters=dead_subject), tmp_path)
    assert summary.state.count("rows_read") == MESSAGES * ROWS
    assert summary.state.count("dead_letters") == 2
    letters = [connection.run(lambda seq=seq: connection.js.get_msg(dead_stream, seq=seq)) for seq in (1, 2)]
    connection.close()
    assert [json.loads(m.headers["streamgmm-position"]) for m in letters] == [{"stream_seq": 11}, {"stream_seq": 12}]
    assert "does not start with the binary magic" in letters[0].headers["streamgmm-reason"]
    assert "3 features per row; the stream has 4" in letters[1].headers["streamgmm-reason"]
    assert letters[0].data == b"not rows at all"

    # The same stream again, dead letters into a folder: same model, two files with reasons.
    folder = tmp_path / "again"
    summary_folder = _run(
        NatsJetStreamSource(nats_broker.url, stream, dead_letters=FolderDeadLetters(folder / "dead")), folder
    )
    assert_same_stream(summary_folder.state, summary.state)
    sidecars = sorted((folder / "dead").glob("*.json"))
    assert [json.loads(p.read_text())["position"] for p in sidecars] == [{"stream_seq": 11}, {"stream_seq": 12}]


def test_broker_down_at_start_is_a_clear_error(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnavailableError, match=rf"source.url: cannot reach the broker at {url}"):
        NatsJetStreamSource(url, "ANY")


def test_a_source_asked_to_wait_connects_once_the_server_is_up(tmp_path: Path) -> None:
    server = nats_process(tmp_path / "late")
    late = threading.Timer(1.0, server.start)
    late.start()
    try:
        # It waited and connected: what stops it now is the stream, not the server.
        with pytest.raises(SourceError, match="the NATS JetStream stream 'LATE' does not exist"):
            NatsJetStreamSource(server.url, "LATE", wait_for_broker=60)
    finally:
        late.join()
        server.stop()


def test_missing_stream_is_a_clear_error(nats_broker) -> None:
    with pytest.raises(SourceError, match="source.stream: the NATS JetStream stream 'NOSUCH' does not exist"):
        NatsJetStreamSource(nats_broker.url, "NOSUCH")


def test_broker_restart_mid_stream_resumes_and_equals_the_calm_run(nats_broker, tmp_path: Path) -> None:
    stream = unique("RESTART")
    _produce(nats_broker.url, stream, _good())
    calm = _run(NatsJetStreamSource(nats_broker.url, stream), tmp_path / "calm")

    source = NatsJetStreamSource(nats_broker.url, stream)
    runner = StreamRunner(source, settings(tmp_path / "restart", max_batches=4))
    runner.run()
    nats_broker.stop(signal.SIGKILL)  #: a crash; JetStream's file store keeps the messages
    restarter = threading.Timer(1.5, nats_broker.start)
    restarter.start()
    try:
        summary = StreamRunner(source, settings(tmp_path / "restart")).run()
    finally:
        restarter.join()
        source.close()
    assert_same_stream(summary.state, calm.state)


def test_a_recreated_stream_is_refused(nats_broker, tmp_path: Path) -> None:
    stream = unique("AGAIN")
    _produce(nats_broker.url, stream, _good())
    _run(NatsJetStreamSource(nats_broker.url, stream), tmp_path, max_batches=3)
    connection = NatsConnection(nats_broker.url)
    connection.open()
    connection.run(lambda: connection.js.delete_stream(stream))
    connection.close()
    time.sleep(1.1)  # the creation time has a resolution finer than this, but make it obvious
    _produce(nats_broker.url, stream, _good(seed=500))
    with pytest.raises(SourceMismatchError, match="deleted and created again"):
        _run(NatsJetStreamSource(nats_broker.url, stream), tmp_path)


@pytest.mark.slow
def test_killed_and_restarted_runner_equals_the_uninterrupted_one(nats_broker, tmp_path: Path) -> None:
    """``streamgmm stream`` killed with SIGKILL four times, restarted each time: bitwise the calm run."""
    stream, n_messages = unique("KILL"), 120
    _produce(nats_broker.url, stream, _good(n_messages))
    source = {"kind": "nats", "url": nats_broker.url, "stream": stream, "format": "binary"}
    calm, crashy = write_kill_config(tmp_path / "calm", source), write_kill_config(tmp_path / "crashy", source)
    run_to_end(calm)
    rng = random.Random(11)
    kills = sum(run_and_kill_at_batch(crashy, target, rng) for target in sorted(rng.sample(range(3, 45), 4)))
    assert kills == 4
    run_to_end(crashy)
    assert_same_outcome(calm.parent, crashy.parent, rows=n_messages * ROWS)
