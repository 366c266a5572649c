"""What the NATS and MQTT source tests share: seeded rows, runner settings, bitwise comparison."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np

from streamgmm.online.runner import ModelSetup, SnapshotPolicy, StreamSettings
from streamgmm.online.state import RunnerState

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
