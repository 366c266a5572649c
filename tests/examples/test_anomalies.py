"""Example 4 at its reduced size: the false-alarm rate is the one chosen, anomalies are found.

The threshold is a quantile of the training log-likelihoods, so on held-out normal
readings the share flagged is the chosen rate up to sampling noise: binomial noise
of the held-out count plus the noise of the quantile estimated from the training
rows. Two rates are checked, so a threshold that ignored the rate would fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from example_helpers import assert_small_png

from streamgmm.examples import anomalies


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_false_alarms_at_the_chosen_rate_and_anomalies_flagged(tmp_path, rate):
    result = anomalies.run(
        "reduced", out=tmp_path / "out", work=tmp_path / "work", false_alarm_rate=rate
    )

    noise = math.sqrt(rate * (1 - rate) * (1 / result.n_normal + 1 / result.n_train))
    assert abs(result.false_alarm_rate - rate) < 4 * noise, (result.false_alarm_rate, rate, noise)
    assert result.detection_rate > 0.9
    assert result.n_anomalies == 400 and result.n_normal == 20_000 - 400
    assert_small_png(result.picture)


def test_injected_anomalies_replace_the_chosen_number_of_rows():
    rows = np.random.default_rng(0).normal(size=(1_000, 4)).astype(np.float32)
    injected, is_anomaly = anomalies.inject_anomalies(rows, 50, np.random.default_rng(1))

    assert is_anomaly.sum() == 50 and injected.dtype == np.float32
    np.testing.assert_array_equal(injected[~is_anomaly], rows[~is_anomaly])
    changed = (injected[is_anomaly] != rows[is_anomaly]).any(axis=1)
    assert changed.all()
    # Spikes move one channel by 3 to 6 standard deviations; faults land anywhere in range.
    largest = np.abs(injected[is_anomaly] - rows[is_anomaly]).max(axis=1)
    assert (largest > 2.5 * rows.std(axis=0).min()).mean() > 0.9
