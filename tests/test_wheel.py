"""The built wheel is the product: installed in a fresh virtualenv, it runs every command.

The wheel is built from a copy of the package sources (``pip wheel --no-deps
--no-build-isolation``), installed with ``--no-deps`` into a new virtualenv made
from the base interpreter. The dependencies come from the test environment's
site-packages through a ``.pth`` line, which Python appends to the path *after*
the new venv's own site-packages (and whose own ``.pth`` files, such as the
editable install of the checkout, are not run): so ``streamgmm`` can only come
from the wheel. Every command runs through the venv's ``streamgmm`` script in an
empty folder outside any checkout, beside decoy ``flows/`` and ``streamgmm/``
packages that fail loudly if anything imports them. ``PYTHONPATH`` is removed.
Flows talk to the session's Prefect test server (``PREFECT_API_URL``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 600
DECOY = "raise SystemExit('DECOY IMPORTED: code was imported from the working directory')\n"

pytestmark = pytest.mark.slow


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the built wheel installed (dependencies seen via .pth)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    shutil.copy2(REPO / "pyproject.toml", source)
    shutil.copy2(REPO / "README.md", source)
    shutil.copytree(
        REPO / "streamgmm", source / "streamgmm",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = work / "dist"
    _check(subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=TIMEOUT,
    ))
    (wheel,) = dist.glob("streamgmm-*.whl")

    env = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _check(subprocess.run([base, "-m", "venv", "--without-pip", str(env)],
                          capture_output=True, text=True, timeout=TIMEOUT))
    python = env / "bin" / "python"
    own = Path(_check(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, timeout=60,
    )).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (own / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")
    _check(subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=TIMEOUT,
    ))
    return env


@pytest.fixture
def empty_folder(tmp_path: Path) -> Path:
    """A working directory outside any checkout, with decoys that must never be imported."""
    folder = tmp_path / "work"
    for package in ("flows", "streamgmm"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(DECOY, encoding="utf-8")
    for flow in ("batch_fit", "select_k", "score", "online_update"):
        (folder / "flows" / f"{flow}.py").write_text(DECOY, encoding="utf-8")
    return folder


def _env(folder: Path, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFECT_API_URL")}
    env.update({
        "PREFECT_HOME": str(folder / ".prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MPLBACKEND": "Agg",
    })
    return env


def test_the_wheel_runs_every_command_outside_the_checkout(venv, empty_folder, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    env = _env(empty_folder, str(PREFECT_API_URL.value()))
    script = str(venv / "bin" / "streamgmm")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([script, *args], cwd=empty_folder, env=env,
                                capture_output=True, text=True, timeout=TIMEOUT)
        assert "DECOY IMPORTED" not in result.stderr + result.stdout
        return _check(result)

    # The code is the wheel's, installed in the venv.
    location = run("--version").stdout
    assert f"({venv.resolve()}/lib/" in location and "site-packages/streamgmm)" in location

    run("datagen", "data.zarr", "--n-samples", "3000", "--n-features", "3", "--n-components", "3",
        "--chunk-rows", "1000", "--seed", "11", "--quiet")
    model = {"n_components": 3, "covariance_type": "full", "tol": 1e-4, "max_iter": 30, "seed": 3}
    common = {"compute": {"scheduler": "threads", "n_workers": 2}}
    documents = {
        "fit.yaml": {
            "data": {"uri": "data.zarr"}, "model": model, **common,
            "registry": {"root": "registry", "model": "small", "aliases": ["candidate"]},
            "outputs": {"predictions": "predictions.zarr"},
        },
        "select_k.yaml": {
            "data": {"uri": "data.zarr"},
            "model": {**model, "n_components": [2, 3], "covariance_type": ["full"]}, **common,
            "selection": {"criterion": "bic"},
            "registry": {"root": "registry", "model": "chosen", "aliases": ["candidate"]},
        },
        "score.yaml": {
            "data": {"uri": "data.zarr"}, **common,
            "registry": {"root": "registry", "model": "chosen", "version": "candidate"},
            "outputs": {"predictions": "scores.zarr"},
        },
    }
    for name, document in documents.items():
        (empty_folder / name).write_text(yaml.safe_dump(document), encoding="utf-8")

    fit = run("fit", "fit.yaml", "--quiet")
    assert "model small version 1" in fit.stdout and "converged: yes" in fit.stdout
    assert (empty_folder / "predictions.zarr").is_dir()
    select = run("select-k", "select_k.yaml", "--quiet")
    assert "model chosen version 1" in select.stdout and "by BIC among 2 candidates" in select.stdout
    score = run("score", "score.yaml", "--quiet")
    assert "scored 3,000 of 3,000 rows with model chosen version 1" in score.stdout
    models = run("models", "list", "--root", "registry")
    assert "small" in models.stdout and "chosen" in models.stdout

    land = empty_folder / "land"
    land.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        centres = np.repeat([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], 200, axis=0)
        np.save(land / f"part-{i}.npy", centres + rng.normal(size=centres.shape))
    (empty_folder / "stream.yaml").write_text(
        "source: {kind: landing-folder, uri: land}\n"
        "model: {n_components: 3, covariance_type: diag, warm_up_size: 300, seed: 0}\n"
        "online: {batch_size: 300, state: state, snapshot: {every_batches: 2}}\n"
        "registry: {root: registry, model: online}\n",
        encoding="utf-8",
    )
    stream = run("stream", "stream.yaml", "--quiet")
    assert "stream: " in stream.stdout and "rows this run" in stream.stdout
    assert "model online version" in stream.stdout


def test_serve_from_the_wheel_serves_the_installed_flows(venv, empty_folder, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    shutil.copy2(REPO / "prefect.yaml", empty_folder / "prefect.yaml")  # names flows/*.py
    process = subprocess.Popen(
        [str(venv / "bin" / "streamgmm"), "serve", "--only", "batch_fit", "score", "--quiet"],
        cwd=empty_folder, env=_env(empty_folder, str(PREFECT_API_URL.value())),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 300
        # The header (package, deployments file, folder, API), then each deployment: read
        # up to the last one's line.
        while time.monotonic() < deadline and not any(
            x.strip().startswith("score/daily:") for x in lines
        ):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    said = "".join(lines) + out
    assert "DECOY IMPORTED" not in said + err
    assert f"  deployments file  {empty_folder.resolve() / 'prefect.yaml'}\n" in said, err[-3000:]
    assert "2 deployment(s):\n" in said
    assert f"streamgmm 0.1.0 installed at {venv.resolve()}/lib/" in said  # the wheel, not a checkout
    site = f"{venv.resolve()}/lib/"
    for flow, deployment in (("batch_fit", "nightly"), ("score", "daily")):
        line = next(x for x in lines if x.strip().startswith(f"{flow}/{deployment}:"))
        assert f"streamgmm.orchestration.{flow}.{flow} ({site}" in line
        assert f"site-packages/streamgmm/orchestration/{flow}.py)" in line
