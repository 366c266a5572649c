"""The core benchmark runs end to end (``--quick``). No timing assertions: machines are noisy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_core.py"
RATIO_LINE = re.compile(r"^\[(\S+) N=[\d,]+ D=\d+ K=\d+\] ratio sklearn/streamgmm = [\d.]+x", re.M)


@pytest.mark.slow
def test_bench_core_quick_runs_and_reports_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    report = json.loads(out.read_text())
    cases = [fit["case"] for fit in report["fits"]]
    # Every covariance type, and float32 for full, for each of the two shapes.
    assert sorted(set(cases)) == [
        "diag/float64", "full/float32", "full/float64", "spherical/float64", "tied/float64",
    ]
    assert len(cases) == 10
    assert RATIO_LINE.findall(proc.stdout) == cases  # one summary line per case, in order
    assert "peak reference used: float64 matmul" in proc.stdout
    assert "threadpool: blas/" in proc.stdout
    assert "[predict_proba " in proc.stdout
    assert {row["library"] for row in report["predict_memory"]} == {"streamgmm", "sklearn"}
    for fit in report["fits"]:
        assert fit["sklearn"]["per_iter_s"] > 0 and fit["streamgmm"]["per_iter_s"] > 0
        assert fit["ratio"] > 0
        assert fit["compared_at_iteration"] >= 2
