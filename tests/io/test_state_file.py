"""The state file shared by fit checkpoints and the stream runner's commits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamgmm.io.state_file import load_state_file, save_state_file


class _StateError(ValueError):
    pass


def _load(path: Path, parse=lambda header, arrays: (header, {k: arrays[k] for k in arrays.files})):
    return load_state_file(
        path, parse, readable=(1, 2), what="Test state", error=_StateError,
        outdated="Use the old version.", unreadable="Delete it.",
    )


def test_round_trip_keeps_arrays_bitwise_and_the_header(tmp_path: Path) -> None:
    arrays = {"means": np.random.default_rng(0).normal(size=(3, 4)), "n": np.array([1, 2, 3])}
    save_state_file(tmp_path / "s.npz", {"key": "abc", "nested": {"a": [1, 2]}}, arrays,
                    schema_version=2)
    header, loaded = _load(tmp_path / "s.npz")
    assert header == {"schema_version": 2, "key": "abc", "nested": {"a": [1, 2]}}
    assert set(loaded) == {"means", "n", "header"}
    assert np.array_equal(loaded["means"], arrays["means"]) and loaded["means"].dtype == np.float64


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert _load(tmp_path / "absent.npz") is None


def test_another_schema_version_is_refused_with_the_way_out(tmp_path: Path) -> None:
    save_state_file(tmp_path / "s.npz", {}, {}, schema_version=7)
    with pytest.raises(_StateError, match=r"schema_version 7; this streamgmm reads 1 and 2\. Use the old"):
        _load(tmp_path / "s.npz")


@pytest.mark.parametrize("size", [0, 10, 100])
def test_a_torn_file_is_refused_naming_it(tmp_path: Path, size: int) -> None:
    path = tmp_path / "s.npz"
    save_state_file(path, {"key": "k"}, {"x": np.arange(1000.0)}, schema_version=1)
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(_StateError, match=r"Test state '.*s\.npz' cannot be read .*Delete it\."):
        _load(path)


def test_errors_of_the_parser_are_kept_and_damage_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    save_state_file(path, {"key": "k"}, {"x": np.arange(3.0)}, schema_version=1)

    def other_stream(header, arrays):
        raise _StateError("written by another stream")

    with pytest.raises(_StateError, match="^written by another stream$"):
        _load(path, other_stream)
    with pytest.raises(_StateError, match="cannot be read \\(KeyError"):
        _load(path, lambda header, arrays: arrays["missing"])


def test_the_header_refuses_nan_and_the_reserved_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_state_file(tmp_path / "s.npz", {"x": float("nan")}, {}, schema_version=1)
    with pytest.raises(ValueError, match="reserved"):
        save_state_file(tmp_path / "s.npz", {}, {"header": np.zeros(1)}, schema_version=1)
    assert not (tmp_path / "s.npz").exists()


def _state(step: int) -> dict[str, np.ndarray]:
    return {"step": np.array([step])}


def test_unflushed_saves_replace_the_file_without_renaming_over_it(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    for step in range(3):
        save_state_file(path, {"step": step}, _state(step), schema_version=2, durable=False)
        header, arrays = _load(path)
        assert header["step"] == step and arrays["step"][0] == step
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


def test_a_process_killed_between_the_steps_of_an_unflushed_save_leaves_a_complete_version(tmp_path: Path) -> None:
    from streamgmm.io.atomic import next_version

    path = tmp_path / "s.npz"
    save_state_file(path, {"step": 1}, _state(1), schema_version=2, durable=False)
    complete = path.read_bytes()
    save_state_file(tmp_path / "two.npz", {"step": 2}, _state(2), schema_version=2, durable=False)
    newer = (tmp_path / "two.npz").read_bytes()
    upcoming = next_version(path)
    # Killed while writing the next version: the torn one is ignored, then cleared.
    upcoming.write_bytes(newer[: len(newer) // 2])
    assert _load(path)[0]["step"] == 1
    # Killed after the next version was complete (before or after unlinking the old one).
    upcoming.write_bytes(newer)
    assert _load(path)[0]["step"] == 2
    path.unlink()
    assert _load(path)[0]["step"] == 2
    # The next save takes the complete next version as the newest, then moves on.
    save_state_file(path, {"step": 3}, _state(3), schema_version=2, durable=False)
    assert _load(path)[0]["step"] == 3 and not upcoming.exists()
    # A durable save after an unflushed one is not shadowed by a stale next version.
    upcoming.write_bytes(complete)
    save_state_file(path, {"step": 4}, _state(4), schema_version=2)
    assert _load(path)[0]["step"] == 4 and not upcoming.exists()
