"""The Bayesian mixture benchmark runs end to end (``--quick``). No timing assertions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_bayesian.py"
RATIO_LINE = re.compile(
    r"^\[bayesian (\S+) N=[\d,]+ D=\d+ K=\d+\] ratio sklearn/streamgmm = [\d.]+x per iteration "
    r".*; GaussianMixture [\d.]+x", re.M)


@pytest.mark.slow
def test_bench_bayesian_quick_runs_reports_ratios_and_the_same_answer(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    report = json.loads(out.read_text())
    cases = [fit["case"] for fit in report["fits"]]
    assert cases == ["full/float64", "full/float32", "diag/float64", "tied/float64",
                     "spherical/float64"]
    assert RATIO_LINE.findall(proc.stdout) == cases  # one summary line per case, in order
    assert "peak reference after the fits" in proc.stdout
    for fit in report["fits"]:
        assert fit["sklearn"]["per_iter_s"] > 0 and fit["streamgmm"]["per_iter_s"] > 0
        assert fit["gaussian_mixture"]["ratio"] > 0
        # The same start and the same iterations give scikit-learn's parameters.
        assert fit["same_answer"], fit["parameter_rel_diff"]
        assert set(fit["parameter_rel_diff"]) >= {"means_", "covariances_",
                                                  "weight_concentration_", "lower_bound_"}
