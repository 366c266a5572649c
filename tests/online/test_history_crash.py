"""``batches.csv`` agrees with the committed state after any crash (issue 13, item 5).

Real ``streamgmm stream`` processes consume a landing folder and are killed with
SIGKILL: at exact points of the commit protocol (just after the state's atomic
commit, before its log line; in the middle of writing the log line), and at
random moments from outside. After each kill, and at the end, the log must hold
exactly one complete line per committed batch, in order, and the final log must
equal an uninterrupted run's line for line (apart from the wall-clock time).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from streamgmm.config import load_config
from streamgmm.online.from_config import build_runner
from streamgmm.online.history import HISTORY_FILENAME

from online_helpers import mixture_rows

REPO = Path(__file__).resolve().parents[2]
N_FILES, ROWS_PER_FILE = 24, 200

CONFIG = """\
source: {kind: landing-folder, uri: land}
model: {n_components: 2, covariance_type: diag, warm_up_size: 400, seed: 0}
online: {batch_size: 100, state: state}
"""

#: Runs the real runner of a config, killing its own process with SIGKILL at one point
#: of the commit protocol: ``after-commit`` (the state of batch N is committed, its log
#: line not yet written) or ``torn-line`` (half of batch N's log line written).
KILLER = """\
import os, signal, sys
from streamgmm.config import load_config
from streamgmm.online.from_config import build_runner

config, where, at = sys.argv[1], sys.argv[2], sys.argv[3]
runner = build_runner(load_config(config, kind="online_update"))
save, append = runner.state_file.save, runner.history.append

def save_then_die(state):
    save(state)
    if where == "after-commit" and state.history_row and state.history_row[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)

def append_torn(row):
    if where == "torn-line" and row[0] == at:
        with open(runner.history.path, "ab") as log:
            log.write(",".join(row)[: len(",".join(row)) // 2].encode())
        os.kill(os.getpid(), signal.SIGKILL)
    append(row)

runner.state_file.save = save_then_die
runner.history.append = append_torn
runner.run()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}


def _prepare(folder: Path) -> Path:
    (folder / "land").mkdir(parents=True)
    for i in range(N_FILES):
        np.save(folder / "land" / f"part-{i:04d}.npy", mixture_rows(ROWS_PER_FILE, seed=300 + i))
    config = folder / "online.yaml"
    config.write_text(CONFIG)
    return config


def _stream(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "streamgmm.cli.stream", str(config), *args]


def _committed_batches(config: Path) -> int:
    runner = build_runner(load_config(config, kind="online_update"))
    state = runner.state_file.load(runner.stream_key())
    return 0 if state is None else state.count("batches")


def _log_lines(config: Path) -> list[list[str]]:
    """Every line of the log after its header, as written (no de-duplication)."""
    path = config.parent / "state" / HISTORY_FILENAME
    if not path.exists():
        return []
    text = path.read_text()
    assert text.endswith("\n") or text == "", "a torn last line"
    rows = list(csv.reader(text.splitlines()))
    assert rows[0][0] == "batch"
    return rows[1:]


def _assert_log_matches_commit(config: Path) -> None:
    """Once the runner has started again, the log ends exactly at the commit."""
    committed = _committed_batches(config)
    batches = [int(row[0]) for row in _log_lines(config)]
    assert batches == list(range(1, committed + 1)), (committed, batches)


def _kill_at(config: Path, where: str, batch: int) -> None:
    script = config.parent / "killer.py"
    script.write_text(KILLER)
    run = subprocess.run(
        [sys.executable, str(script), str(config), where, str(batch)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert _committed_batches(config) == batch  # the kill fell where it was meant to


def _kill_randomly(config: Path, target: int, rng: random.Random) -> bool:
    process = subprocess.Popen(
        _stream(config, "--progress-every", "1"),
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(),
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("batch") and int(line.split()[1]) >= target:
            time.sleep(rng.uniform(0.0, 0.01))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return True
    process.wait(timeout=300)
    return False


@pytest.mark.slow
def test_log_has_one_line_per_committed_batch_after_kills_at_every_point(tmp_path: Path) -> None:
    calm_config, crashy_config = _prepare(tmp_path / "calm"), _prepare(tmp_path / "crashy")
    done = subprocess.run(_stream(calm_config), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    total = _committed_batches(calm_config)
    assert total == (N_FILES * ROWS_PER_FILE - 400) // 100

    rng = random.Random(13)
    # Exact points of the commit protocol, then random moments, each followed by a
    # restart that must first bring the log in step with the commit.
    plan: list[tuple[str, int]] = [("after-commit", 3), ("torn-line", 7), ("after-commit", 12), ("torn-line", 16)]
    for where, batch in plan:
        _kill_at(crashy_config, where, batch)
        lines = _log_lines_raw(crashy_config)
        if where == "after-commit":
            assert lines[-1].split(",")[0] == str(batch - 1)  # the crash lost the committed line...
        else:
            assert not lines[-1].endswith("\n")  # ...or tore it
    killed = sum(_kill_randomly(crashy_config, target, rng) for target in (20, 24, 29, 33))
    assert killed >= 3
    done = subprocess.run(_stream(crashy_config), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    assert _committed_batches(crashy_config) == total
    _assert_log_matches_commit(crashy_config)
    calm, crashy = _log_lines(calm_config), _log_lines(crashy_config)
    assert [row[:-1] for row in crashy] == [row[:-1] for row in calm]  # all but the time


def _log_lines_raw(config: Path) -> list[str]:
    return (config.parent / "state" / HISTORY_FILENAME).read_text().splitlines(keepends=True)


def test_the_restart_repairs_the_log_before_anything_else(tmp_path: Path) -> None:
    """Killed just after a commit, then while writing a log line: each restart (one
    batch) first brings the log in step with the commit."""
    config = _prepare(tmp_path)
    for where, batch in (("after-commit", 5), ("torn-line", 9)):
        _kill_at(config, where, batch)
        restart = subprocess.run(
            _stream(config, "--max-batches", "1"), env=_env(), capture_output=True, text=True, timeout=300
        )
        assert restart.returncode == 0, restart.stderr
        assert _committed_batches(config) == batch + 1
        _assert_log_matches_commit(config)
