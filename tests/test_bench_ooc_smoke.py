"""The out-of-core benchmark runs end to end (``--quick``). No timing assertions: machines are noisy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_out_of_core.py"
RATIO = r"[\d.]+x"
MEMORY_LINE = re.compile(rf"^\[peak memory full D=16 K=16\] .* ratio big/small = {RATIO}", re.M)
DIAG_LINE = re.compile(
    rf"^\[diag vs dask read .*\] ratio diag s/iter / dask read\+sum = {RATIO} \(from_zarr\), "
    rf"{RATIO} \(open_rows\)",
    re.M,
)
DISTRIBUTED_LINE = re.compile(
    rf"^\[distributed full .*\] speedup 2 workers / 1 worker = {RATIO} per iteration .*"
    r"threads scheduler [\d.]+ s/iter",
    re.M,
)


@pytest.mark.slow
def test_bench_out_of_core_quick_runs_and_reports_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    workdir = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    stdout = proc.stdout
    assert "threadpool: blas/" in stdout
    assert re.search(r"cores: \d+ available", stdout)
    assert MEMORY_LINE.search(stdout), stdout[-3000:]
    assert DIAG_LINE.search(stdout), stdout[-3000:]
    assert DISTRIBUTED_LINE.search(stdout), stdout[-3000:]
    assert "== targets (issue 3) ==" in stdout

    report = json.loads(out.read_text())
    small, big = report["memory"]["rows"]
    assert big["n_rows"] == 8 * small["n_rows"]
    assert small["peak_bytes"] > 0 and big["peak_bytes"] > 0
    assert report["diag"]["per_iter_s"] > 0
    assert all(t > 0 for times in report["diag"]["reads_s"].values() for t in times)
    runs = report["distributed"]["runs"]
    assert set(runs) == {"distributed_1", "distributed_2", "threads"}
    assert all(run["steady_per_iter_s"] > 0 for run in runs.values())

    # The generated datasets are kept for the next run, and reused by it.
    assert sorted(p.name for p in workdir.iterdir()) == sorted(
        Path(d["path"]).name for d in report["datasets"].values()
    )
