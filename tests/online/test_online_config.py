"""Validation of ``online_update`` configs: every kind of mistake names its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamgmm.config import ConfigError, load_config, parse_config
from streamgmm.online.from_config import build_settings

REPO = Path(__file__).resolve().parents[2]


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "source": {"kind": "landing-folder", "uri": "land"},
        "model": {"n_components": 4, "covariance_type": "diag"},
        "online": {"state": "state"},
        "registry": {"root": "registry", "model": "stream"},
    }
    for section, values in changes.items():
        if values is None:
            document.pop(section, None)
        else:
            document[section] = {**document.get(section, {}), **values}
    return document


def _problems(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "online_update", base_dir="/base")
    return str(caught.value)


def test_a_valid_config_resolves_paths_and_maps_to_runner_settings() -> None:
    config = parse_config(
        _document(
            online={"batch_size": 250, "step": {"constant": 0.05}, "drift": {"detector": "adwin", "delta": 0.01,
                    "on_alarm_step_size": 0.2}, "anomaly": {"threshold": -30.0}},
            model={"start_from": {"model": "batch", "ref": "production"}},
            outputs={"scores": "scores.zarr", "responsibilities": True},
        ),
        "online_update",
        base_dir="/base",
    )
    assert config.source.uri == "/base/land" and config.online.state == "/base/state"
    settings = build_settings(config)
    assert settings.batch_size == 250 and settings.model.step_size == 0.05
    assert settings.drift == {"kind": "adwin", "delta": 0.01} and settings.drift_step_size == 0.2
    assert (settings.anomaly_threshold, settings.anomaly_quantile) == (-30.0, None)
    assert settings.start_from == {"registry_root": "/base/registry", "model": "batch", "ref": "production"}
    assert settings.scores_path == "/base/scores.zarr" and settings.write_responsibilities


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"source": {"kind": "amqp"}}, "source.kind"),
        ({"source": {"kind": "stdin", "uri": "x"}}, "source.uri is not used with kind 'stdin'"),
        ({"source": {"kind": "zarr-append", "uri": None}}, "source.uri is required"),
        ({"source": {"kind": "zarr-append", "columns": ["a"]}}, "Parquet columns of landing-folder files"),
        ({"source": {"uri": "s3://bucket/land"}}, "give a path, not a URL"),
        ({"online": {"batch_size": 0}}, "online.batch_size"),
        ({"online": {"step": {"decay": 0.5}}}, "online.step.decay"),
        ({"online": {"step": {"constant": 1.5}}}, "online.step.constant"),
        ({"online": {"drift": {"detector": "cusum"}}}, "online.drift.detector"),
        ({"online": {"drift": {"detector": "adwin", "threshold": 5}}}, "belong to the page-hinkley detector"),
        ({"online": {"anomaly": {"quantile": 0.01, "threshold": -3}}}, "not both"),
        ({"online": {"anomaly": {"quantile": 1.5}}}, "online.anomaly.quantile"),
        ({"online": {"snapshots": {"every_batches": 3}}}, "online.snapshots"),
        ({"online": {"state": None}}, "online.state"),
        ({"model": {"n_components": [2, 3]}}, "model.n_components"),
        ({"model": {"start_from": {"model": "batch"}}, "registry": None}, "needs a registry"),
        ({"outputs": {"scores": "s3://bucket/scores"}}, "outputs.scores"),
        ({"surprise": {"key": 1}}, "surprise"),
    ],
)
def test_mistakes_name_the_key(changes: dict[str, Any], expected: str) -> None:
    document = _document(**{k: v for k, v in changes.items() if k != "source" or v is not None})
    for section, values in changes.items():
        if isinstance(values, dict):
            for key, value in values.items():
                if value is None:
                    document[section].pop(key, None)
    assert expected in _problems(document)


@pytest.mark.parametrize("name", ["stream_speech.yaml", "stream_sensors.yaml"])
def test_the_shipped_stream_configs_validate(name: str) -> None:
    config = load_config(REPO / "configs" / name, kind="online_update")
    assert config.online.drift is not None and config.registry is not None
