"""``python -m flows.batch_fit CONFIG``, through real subprocesses from the repository root.

The main run starts its own ephemeral Prefect API with PREFECT_HOME in a temporary
folder, as on a fresh machine; the --quiet run talks to the session's test server
through PREFECT_API_URL, as a run against a Prefect server would.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 300


def _run(
    args: list[str], prefect_home: Path, api_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command; on the ephemeral API unless ``api_url`` names a running server."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "MPLBACKEND": "Agg",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "flows.batch_fit", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )


def _assert_recorded_and_stopped(home: Path, stderr: str) -> None:
    """The temporary API recorded the run and its last log lines, and stopped; no UI link."""
    match = re.search(r"temporary API server on http://127\.0\.0\.1:(\d+)/api", stderr)
    assert match, stderr[-3000:]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(match.group(1)))) != 0  # nothing listens
    assert "View at" not in stderr
    with contextlib.closing(sqlite3.connect(home / "prefect.db")) as db:
        assert db.execute("select state_type from flow_run").fetchall() == [("COMPLETED",)]
        # The run's last log line was sent before the server stopped.
        (logged,) = db.execute(
            "select count(*) from log where task_run_id is null "
            "and message like 'Finished in state Completed%'"
        ).fetchone()
    assert logged == 1


@pytest.mark.slow
def test_command_runs_the_flow_and_prints_the_version(
    small_zarr, batch_fit_document, write_config, tmp_path, prefect_harness
):
    """First on a fresh ephemeral API (as the README), then --quiet against a running server."""
    from prefect.settings import PREFECT_API_URL

    document = batch_fit_document(
        {"uri": str(small_zarr)}, outputs={"predictions": "p.zarr", "overwrite": True}
    )
    config = write_config(document)
    home = tmp_path / "prefect-home"

    first = _run([str(config)], home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "model small version 1" in first.stdout
    assert f"location      {tmp_path / 'registry' / 'models' / 'small' / '1'}" in first.stdout
    for fragment in ("lower bound", "n_iter", "converged: yes", "BIC", "p.zarr"):
        assert fragment in first.stdout
    assert "Iteration 1" in first.stderr  # EM progress in the run log
    assert "Finished in state Completed()" in first.stderr
    _assert_recorded_and_stopped(home, first.stderr)

    quiet = _run([str(config), "--quiet"], home, api_url=PREFECT_API_URL.value())
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "model small version 2" in quiet.stdout
    assert "Iteration" not in quiet.stderr and "INFO" not in quiet.stderr


@pytest.mark.slow
def test_invalid_config_fails_fast_with_the_key_path(batch_fit_document, write_config, tmp_path):
    document = batch_fit_document({"uri": "x.zarr"})
    document["model"]["covariance_type"] = "fulll"
    result = _run([str(write_config(document))], tmp_path / "prefect-home")
    assert result.returncode == 2
    assert "model.covariance_type" in result.stderr and "'fulll'" in result.stderr
    assert "temporary API server" not in result.stderr  # rejected before orchestration


@pytest.mark.slow
def test_help():
    result = _run(["--help"], Path(os.devnull))
    assert result.returncode == 0
    assert "CONFIG" in result.stdout and "--quiet" in result.stdout
