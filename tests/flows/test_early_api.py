"""A flow command's Prefect API server started first thing, through the real ``streamgmm`` script.

Once Prefect's database exists, ``streamgmm fit`` starts the temporary API server
before it imports anything heavy or checks the config
(:mod:`streamgmm.orchestration._server`). The run then uses that server, which
records the run and its last log line and is stopped at the end; a refused config
stops it unused, with the same message and no process left behind.
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

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
TIMEOUT = 300
SERVER_LINE = re.compile(r"(Starting|Using) Prefect's temporary API server on "
                         r"http://127\.0\.0\.1:(\d+)/api")


def _fit(config: Path, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(home), "MPLBACKEND": "Agg",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([STREAMGMM, "fit", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def _processes_with_home(home: Path) -> list[int]:
    """Processes whose environment names ``home`` as PREFECT_HOME (a server left running)."""
    wanted = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _server(stderr: str) -> tuple[str, int]:
    match = SERVER_LINE.search(stderr)
    assert match, stderr[-3000:]
    return match.group(1), int(match.group(2))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_warm_run_uses_the_server_started_first_and_a_refusal_leaves_none(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    config = write_config(batch_fit_document({"uri": str(small_zarr)}, outputs={"overwrite": True}))
    home = tmp_path / "prefect-home"

    first = _fit(config, tmp_path, home)  # creates the database: the server starts after the check
    assert first.returncode == 0, first.stderr[-3000:]
    assert _server(first.stderr)[0] == "Starting"

    second = _fit(config, tmp_path, home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "model small version 2" in second.stdout
    how, port = _server(second.stderr)
    assert how == "Using" and "started with the command" in second.stderr
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # stopped: nothing listens
    with contextlib.closing(sqlite3.connect(home / "prefect.db")) as db:
        assert db.execute("select state_type from flow_run").fetchall() == [("COMPLETED",)] * 2
        # Each run's last log line reached its server before it stopped.
        (logged,) = db.execute(
            "select count(*) from log where task_run_id is null "
            "and message like 'Finished in state Completed%'"
        ).fetchone()
    assert logged == 2

    document = batch_fit_document({"uri": str(small_zarr)})
    document["model"]["covariance_type"] = "fulll"
    bad = write_config(document, "bad.yaml")
    refused = _fit(bad, tmp_path, home)  # the server started first is stopped unused
    cold = _fit(bad, tmp_path, tmp_path / "no-database-home")  # no server started at all
    assert refused.returncode == cold.returncode == 2
    assert refused.stderr == cold.stderr
    assert "model.covariance_type: 'fulll' is not allowed" in refused.stderr
    assert refused.stdout == cold.stdout == ""
    assert _processes_with_home(home) == []
    assert not (tmp_path / "no-database-home" / "prefect.db").exists()
