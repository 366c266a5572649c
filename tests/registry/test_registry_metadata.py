"""metadata.json: the schema's rules, applied alike to callers and to files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry import FileRecord, ModelMetadata, ModelRef, TrainingMetrics
from streamgmm.registry.metadata import encode_metadata, parse_metadata


def _metadata(**changes) -> ModelMetadata:
    fields = dict(
        name="speech",
        version=3,
        created_at=datetime(2026, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        parent=ModelRef(name="speech", version=2),
        covariance_type="full",
        n_components=4,
        n_features=2,
        feature_names=("mfcc-1", "énergie"),
        dtype="float64",
        training_config={"tol": 1e-3},
        data_source={"uri": "file:///data/x.zarr", "shape": [10, 2]},
        metrics=TrainingMetrics(lower_bound=-1.5, n_iter=7, converged=True, n_samples=10),
        stream_positions={"partition-0": 99},
        library_versions={"numpy": "2.0"},
        files={"parameters.npz": FileRecord(sha256="0" * 64, size=10)},
    )
    fields.update(changes)
    return ModelMetadata(**fields)


def test_encode_parse_round_trip():
    metadata = _metadata()
    assert metadata.created_at.tzinfo == timezone.utc  # stored in UTC
    assert metadata.created_at.hour == 12
    parsed = parse_metadata(encode_metadata(metadata), source="metadata.json")
    assert parsed == metadata
    assert parsed.feature_names == ("mfcc-1", "énergie")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"covariance_type": "banded"}, "covariance_type must be one of"),
        ({"n_components": 0}, "n_components must be an int >= 1"),
        ({"version": True}, "version must be an int >= 1"),
        ({"dtype": "float65"}, "dtype must be a numpy dtype name"),
        ({"files": {"../x": FileRecord(sha256="0" * 64, size=1)}}, "not a plain file name"),
        ({"stream_positions": [1, 2]}, "stream_positions must be a dict"),
        ({"data_source": {"fingerprint": {1: "a"}}}, "JSON keys must be strings"),
    ],
)
def test_rules(changes, message):
    with pytest.raises(InvalidParameterError, match=message):
        _metadata(**changes)


def test_file_records_and_metrics_are_checked():
    with pytest.raises(InvalidParameterError, match="64 lower-case hex"):
        FileRecord(sha256="ABC", size=1)
    with pytest.raises(InvalidParameterError, match="converged must be True, False or None"):
        TrainingMetrics(converged="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n_iter must be an int >= 0"):
        TrainingMetrics(n_iter=-1)
