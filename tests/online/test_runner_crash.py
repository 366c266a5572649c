"""Kill the stream runner with SIGKILL at random moments; the restarted stream loses nothing.

A real ``streamgmm stream`` process consumes a landing folder; it is killed
(``kill -9``) several times while it works and started again each time. The
final committed model must equal, bit for bit, the model of a run that was never
interrupted, every batch must be counted once, and no snapshot may be published
twice. Both kinds of mixture: stepwise EM (``model.kind: gaussian``) and
stochastic variational inference (``model.kind: bayesian``, whose commit holds
the whole posterior).
"""

from __future__ import annotations

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
from streamgmm.registry import ModelRegistry

from online_helpers import mixture_rows

REPO = Path(__file__).resolve().parents[2]
N_FILES, ROWS_PER_FILE = 150, 200

MODELS = {
    "gaussian": "{n_components: 3, covariance_type: full, warm_up_size: 1000, seed: 0}",
    "bayesian": "{kind: bayesian, n_components: 6, covariance_type: full, warm_up_size: 1000, seed: 0, "
    "weight_concentration_prior: 0.01}",
}

CONFIG = """\
source: {{kind: landing-folder, uri: land}}
model: {model}
online:
  batch_size: 200
  state: state
  snapshot: {{every_batches: 10}}
  drift: {{detector: page-hinkley}}
registry: {{root: registry, model: crashy}}
outputs: {{scores: scores.zarr}}
"""


def _prepare(folder: Path, kind: str) -> Path:
    (folder / "land").mkdir(parents=True)
    for i in range(N_FILES):
        np.save(folder / "land" / f"part-{i:04d}.npy", mixture_rows(ROWS_PER_FILE, seed=100 + i))
    config = folder / "online.yaml"
    config.write_text(CONFIG.format(model=MODELS[kind]))
    return config


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "streamgmm.cli.stream", str(config), "--progress-every", "1"]


def _run_and_kill_at_batch(config: Path, target: int, rng: random.Random) -> bool:
    """Start the runner, SIGKILL it soon after it reports batch ``target``; False if it finished."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        _command(config), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("batch") and int(line.split()[1]) >= target:
            time.sleep(rng.uniform(0.0, 0.03))  # land anywhere in the next batch's work
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return True
    process.wait(timeout=600)
    assert process.returncode == 0
    return False


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_killed_and_restarted_stream_equals_the_uninterrupted_one(tmp_path: Path, kind: str) -> None:
    calm, crashy = tmp_path / "calm", tmp_path / "crashy"
    calm_config, crashy_config = _prepare(calm, kind), _prepare(crashy, kind)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(_command(calm_config), capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr

    rng = random.Random(7)
    kills = 0
    for target in sorted(rng.sample(range(5, N_FILES - 5), 4)):
        kills += _run_and_kill_at_batch(crashy_config, target, rng)
    assert kills == 4
    done = subprocess.run(_command(crashy_config), capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr

    states = []
    for config in (calm_config, crashy_config):
        runner = build_runner(load_config(config, kind="online_update"))
        states.append(runner.state_file.load(runner.stream_key()))
    calm_state, crashy_state = states
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(crashy_state.online.params, name), getattr(calm_state.online.params, name))
    np.testing.assert_array_equal(crashy_state.online.running.s2, calm_state.online.running.s2)
    if kind == "bayesian":  # the whole posterior, bit for bit
        calm_posterior, crashy_posterior = calm_state.online.posterior, crashy_state.online.posterior
        for name in ("mean_precision", "degrees_of_freedom", "covariances"):
            np.testing.assert_array_equal(getattr(crashy_posterior, name), getattr(calm_posterior, name))
        np.testing.assert_array_equal(
            np.asarray(crashy_posterior.weight_concentration), np.asarray(calm_posterior.weight_concentration)
        )
        assert crashy_state.online.weight_seen == calm_state.online.weight_seen
        assert ModelRegistry(crashy / "registry").load("crashy").kind == "bayesian"
    assert crashy_state.counters == calm_state.counters
    assert crashy_state.count("rows_read") == N_FILES * ROWS_PER_FILE
    assert crashy_state.drift == calm_state.drift

    # Snapshots: the same stream positions, each published exactly once.
    def snapshot_batches(folder: Path) -> list[int]:
        registry = ModelRegistry(folder / "registry")
        return [registry.show("crashy", v).stream_positions["batches"] for v in registry.list_versions("crashy")]

    assert snapshot_batches(crashy) == snapshot_batches(calm)
    # Scores rewritten by repeated batches hold the uninterrupted run's values.
    import zarr

    calm_scores = zarr.open_group(calm / "scores.zarr", mode="r")["log_likelihood"][: N_FILES * ROWS_PER_FILE]
    crashy_scores = zarr.open_group(crashy / "scores.zarr", mode="r")["log_likelihood"][: N_FILES * ROWS_PER_FILE]
    np.testing.assert_array_equal(crashy_scores, calm_scores)
    assert not any(name.endswith(".tmp") for name in os.listdir(crashy / "state"))
