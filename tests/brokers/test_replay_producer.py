"""``streamgmm replay`` feeds each real broker, and the stream runner consumes every row.

The producer runs as a real subprocess (paced), in another message format per broker;
the runner that reads the broker afterwards must have seen the replayed speech frames
in stream order: its model equals ``partial_fit`` by hand over those rows, bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from broker_helpers import MQTT_USER, child_env, write_config
from runner_helpers import unique
from streamgmm import GaussianMixture
from streamgmm.config import load_config
from streamgmm.datasets import load_japanese_vowels
from streamgmm.online.from_config import build_runner, build_settings, close_source
from streamgmm.online.replay import stream_order

ROWS, PER_MESSAGE = 3000, 100


def _target(kind: str, address: str, name: str) -> tuple[list[str], dict]:
    """The replay command's target arguments, and the runner's source section reading them."""
    if kind == "nats":
        return (["nats", "--url", f"nats://{address}", "--stream", name, "--format", "binary"],
                {"kind": "nats", "url": f"nats://{address}", "stream": name, "format": "binary"})
    if kind == "mqtt":
        url = f"mqtt://{MQTT_USER}@{address}"
        return (["mqtt", "--url", url, "--topic", name, "--session", f"consumer-{name}", "--format", "json"],
                {"kind": "mqtt", "url": url, "topic": name, "client_id": f"consumer-{name}", "format": "json"})
    if kind == "kafka":
        return (["kafka", "--bootstrap-servers", address, "--topic", name, "--format", "arrow"],
                {"kind": "kafka", "bootstrap_servers": address, "topic": name, "format": "arrow"})
    return (["redis", "--url", f"redis://{address}/0", "--stream", name, "--format", "binary"],
            {"kind": "redis", "url": f"redis://{address}/0", "stream": name, "format": "binary"})


@pytest.mark.parametrize("kind", ["nats", "mqtt", "kafka", "redis"])
def test_replayed_frames_reach_the_runner_in_stream_order(kind: str, request, tmp_path: Path) -> None:
    broker = request.getfixturevalue(f"{kind}_broker")
    name = unique("speech")
    arguments, source = _target(kind, broker.address, name)
    done = subprocess.run(
        [sys.executable, "-m", "streamgmm.cli.replay", "japanese-vowels", *arguments, "--limit", str(ROWS),
         "--rows-per-message", str(PER_MESSAGE), "--rate", "30000"],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"replayed {ROWS:,} rows of japanese-vowels to {kind}" in done.stdout
    assert f"({ROWS // PER_MESSAGE} messages" in done.stdout

    config = load_config(write_config(tmp_path, source), kind="online_update")
    runner = build_runner(config)
    try:
        state = runner.run().state
    finally:
        close_source(runner.source)
    assert state.count("rows_read") == ROWS and state.count("dead_letters") == 0

    table = load_japanese_vowels()
    rows = np.asarray(table.X[stream_order(table)[:ROWS]], dtype=np.float64)
    by_hand = GaussianMixture(**build_settings(config).model.estimator_params())
    for start in range(0, ROWS, config.online.batch_size):
        by_hand.partial_fit(rows[start : start + config.online.batch_size])
    np.testing.assert_array_equal(state.online.params.means, by_hand.online_state_.params.means)
    np.testing.assert_array_equal(state.online.params.covariances, by_hand.online_state_.params.covariances)


def test_a_broker_target_without_its_address_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamgmm.cli.replay", "basic-motions", "nats", "--stream", "S"],
        capture_output=True, text=True, env=child_env(), timeout=120,
    )
    assert done.returncode == 2 and "target nats needs --url" in done.stderr
