"""``streamgmm stream`` through the installed entry point, in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from online_helpers import mixture_rows

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([STREAMGMM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_stream_runs_continues_and_reports(tmp_path: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    for i in range(3):
        np.save(land / f"a-{i}.npy", mixture_rows(1000, seed=i))
    (tmp_path / "s.yaml").write_text(
        "source: {kind: landing-folder, uri: land}\n"
        "model: {n_components: 3, covariance_type: tied, warm_up_size: 500, seed: 0}\n"
        "online: {batch_size: 250, state: state, snapshot: {every_batches: 4}}\n"
        "registry: {root: registry, model: cmd}\n"
    )
    first = _run(["stream", "s.yaml", "--max-batches", "3", "--progress-every", "1"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "stream: 3 batches, 750 rows this run (max_batches reached)" in first.stdout
    assert "batch      3  rows      1,250" in first.stderr  # progress lines
    assert "model cmd version 1" in first.stdout
    second = _run(["stream", "s.yaml", "--quiet"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "stream: 7 batches, 1,750 rows this run (source idle)" in second.stdout
    assert "total        10 batches, 3,000 rows" in second.stdout
    assert second.stderr == ""
    # The stream's whole history, drawn into outputs.reports (default "reports" beside the
    # config), not into the state folder.
    plot = tmp_path / "reports" / "cmd-history.png"
    assert f"plot         {plot}" in second.stdout
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > 600
    assert not list((tmp_path / "state").glob("*.png"))


def test_a_config_mistake_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "source: {kind: landing-folder, uri: land}\n"
        "model: {n_components: 3}\n"
        "online: {batch_size: -5, state: state}\n"
    )
    result = _run(["stream", "bad.yaml"], tmp_path)
    assert result.returncode == 2
    assert "online.batch_size" in result.stderr
