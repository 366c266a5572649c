"""What the NATS and MQTT source tests share: seeded rows, runner settings, bitwise comparison."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamSettings
from streamgmm.online.state import RunnerState

from broker_helpers import child_env, stream_command

#: Three well separated components in 4 features.
CENTRES = np.random.default_rng(2024).normal(scale=5.0, size=(3, 4))
SETUP = ModelSetup(n_components=3, covariance_type="full", warm_up_size=300, random_state=0)


def mixture_rows(n: int, seed: int) -> np.ndarray:
    """Rows (n, 4) of the fixed mixture."""
    rng = np.random.default_rng(seed)
    return CENTRES[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 4))


def unique(prefix: str) -> str:
    """A stream / topic name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def settings(folder: Path, **changes: Any) -> StreamSettings:
    """Runner settings writing under ``folder``: batches of 200 rows, snapshots every 4 batches."""
    base: dict[str, Any] = dict(
        state_dir=str(folder / "state"),
        batch_size=200,
        model=SETUP,
        snapshots=SnapshotPolicy(registry_root=str(folder / "registry"), model="stream", every_batches=4),
        idle_seconds=0,
        poll_seconds=0.05,
        drain=True,
    )
    base.update(changes)
    return StreamSettings(**base)


def assert_same_state(got: RunnerState, expected: RunnerState) -> None:
    """Bitwise the same model, running statistics and counters."""
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(got.online.params, name), getattr(expected.online.params, name))
    np.testing.assert_array_equal(got.online.running.s2, expected.online.running.s2)
    assert got.online.n_updates == expected.online.n_updates
    assert got.counters == expected.counters
    assert got.position == expected.position


# ------------------------------------------------------------------ kill -9 of a real runner
#: The online_update config of the kill tests; ``{source}`` is the broker's source section.
KILL_CONFIG = """\
source: {source}
model: {{n_components: 3, covariance_type: full, warm_up_size: 1000, seed: 0}}
online:
  batch_size: 200
  state: state
  snapshot: {{every_batches: 10}}
  drift: {{detector: page-hinkley}}
  idle_seconds: {idle}
  poll_seconds: 0.1
registry: {{root: registry, model: crashy}}
outputs: {{scores: scores.zarr}}
"""


def write_config(folder: Path, source: dict[str, Any], idle: float = 3.0) -> Path:
    """An online_update config in ``folder`` reading ``source``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "online.yaml"
    config.write_text(KILL_CONFIG.format(source=json.dumps(source), idle=idle))
    return config


def run_to_end(config: Path) -> None:
    """``streamgmm stream CONFIG`` to its end (the source idle)."""
    done = subprocess.run(stream_command(config), capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr


def run_and_kill_at_batch(config: Path, target: int, rng: random.Random) -> bool:
    """Start the runner, SIGKILL it soon after it reports batch ``target``; False if it finished first."""
    process = subprocess.Popen(
        stream_command(config), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=child_env()
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


def committed_state(config: Path) -> RunnerState:
    """The state a config's stream committed."""
    from streamgmm.config import load_config
    from streamgmm.online.from_config import build_runner

    runner = build_runner(load_config(config, kind="online_update"))
    try:
        state = runner.state_file.load(runner.stream_key())
    finally:
        runner.source.close()
    assert state is not None
    return state


def assert_same_outcome(calm: Path, crashy: Path, rows: int) -> None:
    """Bitwise the same model, counters and drift detector; the same snapshots; the same scores."""
    import zarr

    from streamgmm.registry import ModelRegistry

    calm_state, crashy_state = committed_state(calm / "online.yaml"), committed_state(crashy / "online.yaml")
    assert_same_state(crashy_state, calm_state)
    assert crashy_state.drift == calm_state.drift
    assert crashy_state.count("rows_read") == rows

    def snapshot_batches(folder: Path) -> list[int]:
        registry = ModelRegistry(folder / "registry")
        return [registry.show("crashy", v).stream_positions["batches"] for v in registry.list_versions("crashy")]

    assert snapshot_batches(crashy) == snapshot_batches(calm) != [], (snapshot_batches(crashy), snapshot_batches(calm))
    calm_scores = zarr.open_group(calm / "scores.zarr", mode="r")["log_likelihood"][:rows]
    crashy_scores = zarr.open_group(crashy / "scores.zarr", mode="r")["log_likelihood"][:rows]
    np.testing.assert_array_equal(crashy_scores, calm_scores)
