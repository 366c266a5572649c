"""The ``streamgmm`` command through real subprocesses: help, runs, mistakes, ``serve``.

Commands run the installed entry point (``.venv/bin/streamgmm``) from a temporary
working directory: the flows are the package's (``streamgmm.orchestration``). Runs
talk to the session's Prefect test server through ``PREFECT_API_URL`` (the
ephemeral-API path is covered by ``test_batch_fit_command.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
TIMEOUT = 300
SUBCOMMANDS = (
    "quickstart", "datagen", "models", "fit", "select-k", "score", "serve", "stream", "examples",
)


def _env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "MPLBACKEND": "Agg",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "COLUMNS": "200",  # --help text wrapped the same everywhere
    }
    env.pop("PREFECT_API_URL", None)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def _run(args: list[str], cwd: Path, api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STREAMGMM, *args], cwd=cwd, env=_env(cwd / "prefect-home", api_url),
        capture_output=True, text=True, timeout=TIMEOUT,
    )


@pytest.fixture
def api_url(prefect_harness: None) -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def test_help_of_every_subcommand(tmp_path):
    top = _run(["--help"], tmp_path)
    assert top.returncode == 0
    for command in SUBCOMMANDS:
        assert command in top.stdout
    for command in SUBCOMMANDS:
        result = _run([command, "--help"], tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert f"usage: streamgmm {command}" in result.stdout
        if command in ("fit", "select-k", "score"):
            assert "CONFIG" in result.stdout and "--quiet" in result.stdout
            assert "Exit codes" in result.stdout
        if command == "serve":
            assert "--prefect-yaml PATH" in result.stdout and "--only NAME" in result.stdout
            assert "PREFECT_API_URL" in result.stdout


@pytest.mark.slow
def test_a_mistake_in_the_config_exits_2_with_the_key_path_before_prefect_starts(
    tmp_path, batch_fit_document, select_k_document, write_config
):
    document = batch_fit_document({"uri": "x.zarr"})
    document["model"]["covariance_type"] = "fulll"
    fit = _run(["fit", str(write_config(document))], tmp_path)
    assert fit.returncode == 2
    assert "batch_fit: invalid config" in fit.stderr
    assert "model.covariance_type: 'fulll' is not allowed" in fit.stderr
    assert "Starting temporary server" not in fit.stderr

    document = select_k_document({"uri": "x.zarr"})
    document["model"]["n_components"] = [3, 3]
    select = _run(["select-k", str(write_config(document, "select_k.yaml"))], tmp_path)
    assert select.returncode == 2
    assert "model.n_components: [3, 3] is not allowed; a candidate is listed twice" in select.stderr

    missing = _run(["score", str(tmp_path / "nope.yaml")], tmp_path)
    assert missing.returncode == 2 and "nope.yaml: no such config file" in missing.stderr


@pytest.mark.slow
def test_select_k_then_score_through_the_command(
    small_zarr, select_k_document, write_config, tmp_path, api_url
):
    """select-k publishes the winner; score scores with it by alias; both print the version."""
    document = select_k_document({"uri": str(small_zarr)})
    document["model"]["covariance_type"] = "full"
    select_config = write_config(document, "select_k.yaml")

    select = _run(["select-k", str(select_config)], tmp_path, api_url)

    assert select.returncode == 0, select.stderr[-3000:]
    assert "model small-selected version 1" in select.stdout
    assert f"location      {tmp_path / 'registry' / 'models' / 'small-selected' / '1'}" in select.stdout
    assert "chosen        K=3 full by BIC among 3 candidates" in select.stdout
    assert "EM pass 1:" in select.stderr  # EM progress with the lower bound, in the run log
    assert "best lower bound" in select.stderr

    score_config = write_config({
        "data": {"uri": str(small_zarr)},
        "registry": {"root": "registry", "model": "small-selected", "version": "candidate"},
        "outputs": {"predictions": "scores.zarr"},
        "anomaly": {"threshold": -9.0},
    }, "score.yaml")
    score = _run(["score", str(score_config), "--quiet"], tmp_path, api_url)

    assert score.returncode == 0, score.stderr[-3000:]
    assert "scored 6,000 of 6,000 rows with model small-selected version 1" in score.stdout
    assert f"scores        {tmp_path / 'scores.zarr'}" in score.stdout
    assert "anomalies" in score.stdout
    assert "INFO" not in score.stderr  # --quiet

    again = _run(["score", str(score_config)], tmp_path, api_url)
    assert again.returncode == 2
    assert "outputs.predictions:" in again.stderr and "already exists" in again.stderr

    unknown = write_config({
        "data": {"uri": str(small_zarr)},
        "registry": {"root": "registry", "model": "small-selected", "version": "staging"},
    }, "score-unknown.yaml")
    bad_alias = _run(["score", str(unknown)], tmp_path, api_url)
    assert bad_alias.returncode == 2
    assert "registry.version: Model 'small-selected' has no alias 'staging'" in bad_alias.stderr


@pytest.mark.slow
def test_fit_through_the_command(small_zarr, batch_fit_document, write_config, tmp_path, api_url):
    config = write_config(batch_fit_document({"uri": str(small_zarr)}))
    fit = _run(["fit", str(config)], tmp_path, api_url)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "model small version 1" in fit.stdout and "BIC" in fit.stdout
    assert "Iteration 1" in fit.stderr


def _serve_only(prefect_yaml: Path, cwd: Path, api_url: str, *names: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STREAMGMM, "serve", "--prefect-yaml", str(prefect_yaml), "--only", *names],
        cwd=cwd, env=_env(cwd / "prefect-home", api_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends; serve shuts down cleanly
    try:
        # Generous: on a loaded 2-core machine serve's clean shutdown was seen to take over 60 s.
        return process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.mark.slow
def test_serve_registers_the_deployments_with_their_schedules(tmp_path, api_url):
    """The repository's prefect.yaml, served for real against the test server, then stopped."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    wanted = {
        "batch_fit/nightly": ("batch_fit", "configs/batch_fit.yaml", "0 2 * * *"),
        "select_k/weekly": ("select_k", "configs/select_k.yaml", "0 3 * * 0"),
        "score/daily": ("score", "configs/score.yaml", "30 6 * * *"),
    }
    process = _serve_only(REPO / "prefect.yaml", tmp_path, api_url, "batch_fit", "select_k", "score")
    found = {}
    try:
        deadline = time.monotonic() + 180
        with get_client(sync_client=True) as client:
            while len(found) < len(wanted) and time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                for name in set(wanted) - set(found):
                    try:
                        found[name] = client.read_deployment_by_name(name)
                    except ObjectNotFound:
                        pass
                time.sleep(1)
    finally:
        out, err = _stop(process)
    assert set(found) == set(wanted), f"stdout:\n{out[-2000:]}\nstderr:\n{err[-3000:]}"
    # What it serves, said before serving: code, deployments file, folder, API, registries.
    assert "streamgmm serve: streamgmm " in out and " installed at " in out
    assert f"  deployments file  {REPO / 'prefect.yaml'}\n" in out
    assert f"  working folder    {REPO} (config paths resolve here" in out
    assert f"  Prefect API       {api_url}\n" in out
    assert "    entrypoint in prefect.yaml flows/score.py:score (served from the installed" in out
    assert (f"    config configs/score.yaml: registry {REPO / 'registry'} (from registry.root in "
            "configs/score.yaml)") in out
    for name, (flow, config, cron) in wanted.items():
        deployment = found[name]
        # Registered by module path: runs import the installed package, from any folder.
        assert deployment.entrypoint == f"streamgmm.orchestration.{flow}.{flow}"
        assert f"{name}: streamgmm.orchestration.{flow}.{flow} (" in out  # says what it serves
        assert deployment.parameters == {"config_path": config}
        assert [s.schedule.cron for s in deployment.schedules] == [cron]
        assert "streamgmm" in deployment.tags
    assert process.returncode == 0, err[-3000:]


def test_serve_mistakes_exit_2_with_the_reason(tmp_path):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(yaml.safe_dump({"deployments": [
        {"name": "later", "entrypoint": "flows/later.py:later", "schedules": [{"interval": 60}]},
    ]}), encoding="utf-8")
    unknown = _run(["serve", "--prefect-yaml", str(prefect_yaml), "--only", "nightly"], tmp_path)
    assert unknown.returncode == 2 and "no deployment named 'nightly'" in unknown.stderr
    foreign = _run(["serve"], tmp_path)  # prefect.yaml of the working directory by default
    assert foreign.returncode == 2
    assert "later/later: entrypoint 'flows/later.py:later' is not a streamgmm flow" in foreign.stderr
    (tmp_path / "empty").mkdir()
    missing = _run(["serve"], tmp_path / "empty")
    assert missing.returncode == 2 and "prefect.yaml: no such file" in missing.stderr
