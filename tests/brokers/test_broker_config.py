"""Broker source configs: each key validated, secrets only as variable names, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamgmm.config import ConfigError, parse_config
from streamgmm.online.brokers.common import BrokerConfigError, credentials, endpoints


def _document(**source: Any) -> dict[str, Any]:
    return {
        "source": {"kind": "kafka", "bootstrap_servers": "127.0.0.1:9092", "topic": "rows", **source},
        "model": {"n_components": 4, "covariance_type": "diag"},
        "online": {"state": "state"},
    }


def _problems(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "online_update", base_dir="/base")
    return str(caught.value)


def test_a_broker_config_resolves_its_folders_and_keeps_variable_names() -> None:
    config = parse_config(
        _document(format="arrow", columns=["a", "b"], partitions=[0, 2], dead_letter={"folder": "dead"},
                  credentials={"username_env": "KAFKA_USER", "password_env": "KAFKA_PASSWORD"},
                  tls={"ca_file": "ca.pem", "verify": False}, wait_for_broker=5),
        "online_update", base_dir="/base",
    ).source
    assert config.is_broker and config.address_key == "bootstrap_servers"
    assert config.dead_letter.destination == ("folder", "/base/dead")
    assert config.tls.ca_file == "/base/ca.pem" and config.partitions == (0, 2)
    assert config.credentials.password_env == "KAFKA_PASSWORD"


@pytest.mark.parametrize(
    "source, expected",
    [
        ({"bootstrap_servers": None}, "source.bootstrap_servers is required for kind 'kafka'"),
        ({"topic": None}, "source.topic is required for kind 'kafka'"),
        ({"url": "redis://x"}, "kind 'kafka' takes source.bootstrap_servers, not source.url"),
        ({"stream": "s"}, "source.stream is not used with kind 'kafka'"),
        ({"uri": "folder"}, "source.uri is not used with kind 'kafka'"),
        ({"quarantine": "q"}, "undecodable messages go to source.dead_letter"),
        ({"format": "csv"}, "source.format"),
        ({"columns": ["a"]}, "it needs format: arrow"),
        ({"partitions": [-1]}, "source.partitions[0]"),
        ({"wait_for_broker": -1}, "source.wait_for_broker"),
        ({"dead_letter": {"stream": "dead"}}, "source.dead_letter.stream is not a kafka destination"),
        ({"dead_letter": {"topic": "a", "folder": "b"}}, "give exactly one of folder, topic"),
        ({"credentials": {"pasword_env": "X"}}, "did you mean 'password_env'?"),
    ],
)
def test_each_wrong_broker_key_is_named(source: dict[str, Any], expected: str) -> None:
    assert expected in _problems(_document(**source))


def test_broker_keys_are_refused_for_file_sources() -> None:
    document = _document()
    document["source"] = {"kind": "landing-folder", "uri": "land", "topic": "rows"}
    assert "source.topic is for broker kinds" in _problems(document)
    document["source"] = {"kind": "landing-folder", "uri": "land", "format": "json"}
    assert "source.format is the message format of broker kinds" in _problems(document)


def test_redis_needs_a_url_and_a_stream() -> None:
    document = _document()
    document["source"] = {"kind": "redis", "url": "redis://127.0.0.1:6379/0"}
    assert "source.stream is required for kind 'redis'" in _problems(document)
    document["source"] = {"kind": "redis", "stream": "rows"}
    assert "source.url is required for kind 'redis'" in _problems(document)


def test_a_secret_pasted_where_a_variable_name_goes_is_refused_and_never_echoed() -> None:
    text = _problems(_document(credentials={"password_env": "s3cr3t pa55!"}))
    assert "source.credentials.password_env" in text and "NAME of a variable" in text
    assert "s3cr3t" not in text
    text = _problems(_document(credentials={"password": "s3cr3t pa55!"}))
    assert "unknown key 'password'" in text and "s3cr3t" not in text


def test_credentials_are_read_from_the_named_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(
        _document(credentials={"username_env": "SGM_TEST_USER", "password_env": "SGM_TEST_PASSWORD"}),
        "online_update", base_dir="/base",
    ).source
    monkeypatch.setenv("SGM_TEST_USER", "alice")
    monkeypatch.delenv("SGM_TEST_PASSWORD", raising=False)
    with pytest.raises(BrokerConfigError) as caught:
        credentials(config)
    assert "source.credentials.password_env" in str(caught.value) and "'SGM_TEST_PASSWORD' is not set" in str(caught.value)
    monkeypatch.setenv("SGM_TEST_PASSWORD", "pw")
    assert credentials(config) == {"username": "alice", "password": "pw", "token": None}


def test_broker_addresses_split_into_endpoints() -> None:
    assert endpoints("kafka", "a:1, b:2") == [("a", 1), ("b", 2)]
    assert endpoints("redis", "redis://user:pw@host:6380/0") == [("host", 6380)]
    assert endpoints("redis", "redis://host") == [("host", 6379)]
    assert endpoints("nats", "nats://a:4223,nats://b") == [("a", 4223), ("b", 4222)]
