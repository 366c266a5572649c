"""The online benchmark runs end to end at reduced sizes. No timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_online.py"


@pytest.mark.slow
def test_bench_online_quick_prints_every_part() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--parts", "1,3,4"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "1. partial_fit throughput" in out and "3. Japanese Vowels" in out and "4. drift" in out
    for covariance_type in ("diag", "full", "tied", "spherical"):
        assert f"\n{covariance_type} " in out
