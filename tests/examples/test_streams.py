"""Example 5: the speech and sensor streams, replayed whole and learnt online.

Checks the stream itself (every row consumed once, after the warm-up), that every
drift alarm follows a real change of speaker or activity within a few batches (no
false alarm) and that at least one change is caught in each stream, and that the
anomaly rate sits near the configured 1% quantile of the warm-up scores.
"""

from __future__ import annotations

import numpy as np
import pytest
from example_helpers import assert_small_png

from streamgmm.examples import streams


@pytest.mark.slow
def test_streams_are_learnt_and_changes_flagged(tmp_path):
    results = {r.name: r for r in streams.run("reduced", out=tmp_path / "out", work=tmp_path / "work")}
    assert set(results) == {"speech", "sensors"}
    expected_rows = {"speech": 9_961, "sensors": 8_000}
    for name, result in results.items():
        # Only full batches are taken from the growing store; the landing files are whole.
        assert expected_rows[name] - 50 < result.rows <= expected_rows[name]
        assert len(result.alarm_batches) >= 1, f"{name}: no drift alarm at any real change"
        for alarm in result.alarm_batches:
            since = alarm - result.change_batches[result.change_batches <= alarm]
            assert since.size and since.min() <= 3, f"{name}: alarm at batch {alarm} follows no change"
        scored = result.rows - result.warm_up_rows
        # Changes make anomalies burst, so the rate is above the 1% quantile, but bounded.
        assert 0.005 * scored < result.anomalies < 0.12 * scored, (name, result.anomalies, scored)
        assert_small_png(result.picture)
    assert np.array_equal(results["sensors"].change_batches, [31, 71, 111])
