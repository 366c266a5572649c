"""``BatchHistory.reconcile``: the log is cut and completed to end at the committed batch.

Real files in a tmp folder, in the states a crash (or an older streamgmm) can leave.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamgmm.online.history import HISTORY_FILENAME, BatchHistory, read_history

HEADER = "batch,rows_read,mean_log_likelihood,step_size,anomalies,drift_alarm,time\n"


def _row(batch: int) -> tuple[str, ...]:
    return (str(batch), str(100 * batch), "-1.5", "0.25", "0", "0", f"{1000.0 + batch:.3f}")


def _line(batch: int) -> str:
    return ",".join(_row(batch)) + "\n"


def _log(tmp_path: Path, text: str) -> BatchHistory:
    (tmp_path / HISTORY_FILENAME).write_text(text)
    return BatchHistory(tmp_path)


def _batches(tmp_path: Path) -> list[int]:
    text = (tmp_path / HISTORY_FILENAME).read_text()
    assert text.startswith(HEADER) and text.endswith("\n")
    return [int(line.split(",")[0]) for line in text.splitlines()[1:]]


@pytest.mark.parametrize(
    ("text", "committed", "expected"),
    [
        (HEADER + _line(1) + _line(2) + _line(3), 3, [1, 2, 3]),  # in step
        (HEADER + _line(1) + _line(2), 3, [1, 2, 3]),  # the committed line was lost
        (HEADER + _line(1) + _line(2) + _line(3)[:7], 3, [1, 2, 3]),  # torn mid-line
        (HEADER + _line(1) + _line(2) + _line(3)[:7], 2, [1, 2]),  # torn, already logged
        (HEADER + _line(1) + _line(2) + _line(3) + _line(4), 2, [1, 2]),  # lines past the commit
        (HEADER, 1, [1]),
        (HEADER[:10], 1, [1]),  # even the header torn
    ],
    ids=["in-step", "lost", "torn-lost", "torn-logged", "past-commit", "header-only", "torn-header"],
)
def test_reconcile_ends_the_log_at_the_commit(tmp_path: Path, text: str, committed: int, expected: list[int]) -> None:
    _log(tmp_path, text).reconcile(committed, _row(committed))
    assert _batches(tmp_path) == expected
    assert read_history(tmp_path)["batch"].tolist() == expected


def test_reconcile_reads_backwards_across_blocks(tmp_path: Path) -> None:
    """A long log (several 64 KiB blocks) with many lines past the commit is cut right."""
    text = HEADER + "".join(_line(b) for b in range(1, 5001))
    _log(tmp_path, text).reconcile(1234, _row(1234))
    assert _batches(tmp_path) == list(range(1, 1235))


def test_a_gap_left_by_an_older_version_is_reported_not_invented(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history = _log(tmp_path, HEADER + _line(1) + _line(2))
    with caplog.at_level(logging.WARNING, logger="streamgmm.online"):
        history.reconcile(5, _row(5))
    assert _batches(tmp_path) == [1, 2, 5]
    assert "batches 3-4 cannot be logged again" in caplog.text
    caplog.clear()
    # A schema-1 state has no log line to restore: reported, nothing appended.
    history = _log(tmp_path, HEADER + _line(1))
    with caplog.at_level(logging.WARNING, logger="streamgmm.online"):
        history.reconcile(3, None)
    assert _batches(tmp_path) == [1]
    assert "cannot be rebuilt" in caplog.text


def test_a_line_torn_by_an_older_version_in_the_middle_is_kept(tmp_path: Path) -> None:
    torn = _line(2)[:9] + _line(3)  # the old runner appended after a torn line
    _log(tmp_path, HEADER + _line(1) + torn + _line(4)).reconcile(4, _row(4))
    assert read_history(tmp_path)["batch"].tolist() == [1, 4]
    assert (tmp_path / HISTORY_FILENAME).read_text().endswith(_line(4))


def test_a_log_without_a_state_is_set_aside_not_mixed_in(tmp_path: Path) -> None:
    history = _log(tmp_path, HEADER + _line(1) + _line(2))
    kept = history.set_aside()
    assert kept is not None and kept.read_text() == HEADER + _line(1) + _line(2)
    assert not history.path.exists()
    history.append(_row(1))
    assert _batches(tmp_path) == [1]
