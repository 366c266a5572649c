"""The NATS and MQTT keys of a stream config: what each kind needs, refuses and resolves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamgmm.config import ConfigError, parse_config
from streamgmm.online.brokers.mqtt import DEFAULT_SPOOL_FOLDER, MqttSource
from streamgmm.online.from_config import build_source


def _parse(source: dict[str, Any], base: Path) -> Any:
    return parse_config(
        {"source": source, "model": {"n_components": 4, "covariance_type": "diag"}, "online": {"state": "state"}},
        "online_update", base_dir=str(base),
    )


def _problem(source: dict[str, Any], base: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        _parse(source, base)
    return str(caught.value)


MQTT = {"kind": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": "sensors", "client_id": "gmm"}
NATS = {"kind": "nats", "url": "nats://127.0.0.1:4222", "stream": "SPEECH"}


def test_mqtt_needs_a_client_id_for_its_persistent_session(tmp_path: Path) -> None:
    source = {k: v for k, v in MQTT.items() if k != "client_id"}
    assert "source.client_id is required for kind 'mqtt'" in _problem(source, tmp_path)


def test_the_spool_is_mqtt_only_and_resolved_against_the_config(tmp_path: Path) -> None:
    assert "source.spool is the MQTT consumer's spool folder" in _problem({**NATS, "spool": "s"}, tmp_path)
    assert _parse({**MQTT, "spool": "spool"}, tmp_path).source.spool == str(tmp_path / "spool")


def test_nats_takes_a_subject_filter_and_a_subject_dead_letter_not_a_topic(tmp_path: Path) -> None:
    config = _parse({**NATS, "subject": "speech.>", "dead_letter": {"subject": "speech.dead"}}, tmp_path).source
    assert config.subject == "speech.>" and config.dead_letter.destination == ("subject", "speech.dead")
    assert "dead_letter.topic is not a nats destination" in _problem({**NATS, "dead_letter": {"topic": "t"}}, tmp_path)


def test_an_mqtt_source_spools_inside_the_state_folder_by_default(tmp_path: Path) -> None:
    config = _parse(MQTT, tmp_path)
    source = build_source(config)  # nothing connects before the first read
    assert isinstance(source, MqttSource)
    assert source.spool == Path(config.online.state) / DEFAULT_SPOOL_FOLDER
    assert not source.spool.exists()
