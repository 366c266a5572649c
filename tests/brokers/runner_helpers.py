"""What the NATS and MQTT source tests add to ``broker_helpers``: in-process runner settings,
and a kill-test config that also writes scores, compared bitwise with an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamSettings

from broker_helpers import assert_same_stream, child_env, committed_state, stream_command

SETUP = ModelSetup(n_components=3, covariance_type="full", warm_up_size=300, random_state=0)


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


def write_kill_config(folder: Path, source: dict[str, Any], idle: float = 3.0) -> Path:
    """A config in ``folder`` reading ``source``, with snapshots, drift and scores; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "online.yaml"
    config.write_text(KILL_CONFIG.format(source=json.dumps(source), idle=idle))
    return config


def run_to_end(config: Path) -> None:
    """``streamgmm stream CONFIG`` to its end (the source idle)."""
    done = subprocess.run(stream_command(config), capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr


def assert_same_outcome(calm: Path, crashy: Path, rows: int) -> None:
    """Bitwise the same model, counters and drift detector; the same snapshots; the same scores."""
    import zarr

    from streamgmm.registry import ModelRegistry

    calm_state, crashy_state = committed_state(calm / "online.yaml"), committed_state(crashy / "online.yaml")
    assert_same_stream(crashy_state, calm_state)
    assert crashy_state.count("rows_read") == rows

    def snapshot_batches(folder: Path) -> list[int]:
        registry = ModelRegistry(folder / "registry")
        return [registry.show("crashy", v).stream_positions["batches"] for v in registry.list_versions("crashy")]

    assert snapshot_batches(crashy) == snapshot_batches(calm) != [], (snapshot_batches(crashy), snapshot_batches(calm))
    calm_scores = zarr.open_group(calm / "scores.zarr", mode="r")["log_likelihood"][:rows]
    crashy_scores = zarr.open_group(crashy / "scores.zarr", mode="r")["log_likelihood"][:rows]
    np.testing.assert_array_equal(crashy_scores, calm_scores)
