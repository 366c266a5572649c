"""The ``online_update`` flow for real: a Prefect run over a landing folder and a growing Zarr store.

Checks the published versions and their lineage, the artifacts read back from the
Prefect API, the plot, and that a second scheduled run continues where the first
stopped (bounded by ``max_batches``), exactly as one uninterrupted run would.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from streamgmm.config import ConfigError
from streamgmm.reporting.embed import EMBED_MAX_WIDTH
from streamgmm.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flow_module() -> Any:
    return importlib.import_module("streamgmm.orchestration.online_update")


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 6.0, -2.0]])
    return centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 3))


def _document(source: dict[str, Any], **online: Any) -> dict[str, Any]:
    return {
        "source": source,
        "model": {"n_components": 3, "covariance_type": "full", "warm_up_size": 600, "seed": 0},
        "online": {"batch_size": 200, "state": "state", "snapshot": {"every_batches": 5}, **online},
        "registry": {"root": "registry", "model": "stream", "aliases": ["online"]},
        "outputs": {"scores": "scores.zarr", "reports": "plots"},
    }


def test_bounded_runs_continue_where_the_last_one_stopped(flow_module, write_config, tmp_path: Path) -> None:
    from prefect.artifacts import Artifact

    store = tmp_path / "growing.zarr"
    xr.Dataset({"X": (("sample", "feature"), _rows(4000, seed=1))}).to_zarr(store, zarr_format=3)
    path = write_config(_document({"kind": "zarr-append", "uri": str(store), "variable": "X"}), "online.yaml")

    first = flow_module.online_update(str(path), max_batches=6)
    assert (first.summary.batches, first.summary.stop_reason) == (6, "max_batches reached")
    second = flow_module.online_update(str(path))
    assert second.summary.batches == 11 and second.summary.state.count("batches") == 17
    assert second.summary.state.position == {"rows": 4000}

    registry = ModelRegistry(tmp_path / "registry")
    versions = registry.list_versions("stream")
    batches = [registry.show("stream", v).stream_positions["batches"] for v in versions]
    assert batches == [5, 6, 11, 16, 17]
    assert registry.resolve("stream", "online") == versions[-1] == second.version
    assert registry.show("stream", versions[-1]).parent.version == versions[-2]

    # One uninterrupted run over the same store equals the two bounded ones.
    path_once = write_config(
        _document({"kind": "zarr-append", "uri": str(store), "variable": "X"}, state="state-once"),
        "online-once.yaml",
    )
    once = flow_module.online_update(str(path_once))
    np.testing.assert_array_equal(once.summary.state.online.params.means, second.summary.state.online.params.means)

    counts = Artifact.get("online-update-stream-counts")
    rows = {r["measure"]: r for r in json.loads(counts.data)}
    assert rows["batches"]["total"] == 17
    markdown = Artifact.get("online-update-stream-summary")
    assert "{'rows': 4000}" in markdown.data
    # The plot goes to outputs.reports (never into the state folder), and the summary
    # carries it (a small PNG the Prefect UI shows) besides the link to the file.
    assert second.plot == str(tmp_path / "plots" / "stream-history.png")
    assert Path(second.plot).stat().st_size > 10_000
    assert not list((tmp_path / "state").glob("*.png"))
    embedded = re.search(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown.data)
    assert embedded is not None
    with Image.open(io.BytesIO(base64.b64decode(embedded.group(1)))) as image:
        assert image.format == "PNG" and image.width <= EMBED_MAX_WIDTH
    assert len(embedded.group(1)) < 200_000
    assert Path(second.plot).resolve().as_uri() in markdown.data
    assert second.summary_lines()[0].startswith("online_update: 11 batches, 2,200 rows")


def test_landing_folder_run_through_the_command(write_config, tmp_path: Path, prefect_home: Path) -> None:
    land = tmp_path / "land"
    land.mkdir()
    for i in range(5):
        np.save(land / f"f-{i:03d}.npy", _rows(400, seed=10 + i))
    (land / "f-002b.npy").write_text("not an array")
    path = write_config(_document({"kind": "landing-folder", "uri": str(land)}), "landing.yaml")
    env = {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(prefect_home), "PATH": "/usr/bin:/bin",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.online_update", str(path), "--quiet"],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "online_update: 7 batches, 1,400 rows this run" in done.stdout
    assert f"plot          {tmp_path / 'plots' / 'stream-history.png'}" in done.stdout
    assert "model stream version 2" in done.stdout
    assert (land / "quarantine" / "f-002b.npy.reason.txt").exists()


def test_a_bad_config_fails_before_any_run(flow_module, write_config) -> None:
    document = _document({"kind": "landing-folder"})
    path = write_config(document, "bad.yaml")
    with pytest.raises(ConfigError, match="source.uri is required"):
        flow_module.preflight(str(path))
