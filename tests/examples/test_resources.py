"""The wall-time and peak-memory monitor the large-image example reports with."""

from __future__ import annotations

import time

import numpy as np

from streamgmm.examples.resources import ResourceMonitor


def test_peak_memory_sees_a_short_lived_allocation():
    with ResourceMonitor(interval=0.02) as monitor:
        before = monitor.usage
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.2)
        del block
    usage = monitor.usage
    assert before is None and usage is not None
    assert usage.wall_seconds >= 0.2
    assert usage.peak_rss_bytes >= usage.peak_own_rss_bytes >= 200 * 2**20
    assert "MiB (process tree)" in usage.describe()
