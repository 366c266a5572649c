"""The stream runner's state: model, source position and counters in ONE file.

Exactly-once processing rests on committing the model state and the source
position together: ``runner-state.npz`` holds the stepwise-EM state (parameters
and running statistics), the position after the last batch blended in, the
counters, the drift detector and the snapshot bookkeeping, and it is replaced
atomically (:mod:`streamgmm.io.atomic`). A runner killed at any moment restarts
from the last commit and re-reads exactly the batches after it.

The commit also holds what makes the other records derivable from it: the
source's identity at the committed position (``source_identity``, see
:mod:`.sources`; a resumed runner refuses a source that no longer matches it)
and the ``batches.csv`` line of the last committed batch (``history_row``, see
:mod:`.history`; the log is repaired from it after a crash).

Loaded with ``allow_pickle=False``; everything non-numeric is a JSON header.
Schema 1 (before identities and log lines were committed) is still read: its
state has neither, and the runner adopts the source as it finds it (with a
warning) at the next commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import StreamGMMError
from ..core.params import MixtureParameters
from ..core.statistics import SufficientStatistics
from ..core.stepwise import OnlineState
from ..io.state_file import load_state_file, save_state_file
from .history import HISTORY_FILENAME

__all__ = ["RunnerState", "RunnerStateError", "StateFile", "STATE_FILENAME", "is_legacy_state_folder"]

STATE_FILENAME = "runner-state.npz"
_SCHEMA_VERSION = 2
#: Schema versions this streamgmm reads (1: without source identity and log line).
_READABLE_SCHEMAS = (1, 2)


class RunnerStateError(StreamGMMError, ValueError):
    """The runner's state file cannot be used (unreadable, or written by another stream)."""


@dataclass(frozen=True)
class RunnerState:
    """Where a stream stands after its last committed batch.

    Attributes
    ----------
    online : OnlineState
        Stepwise-EM state (parameters, running statistics, update counters).
    position : dict or None
        The source's position after the last committed batch (JSON data).
    stream_key : str
        Identifies the stream and model setup that wrote the state.
    counters : dict
        ``batches``, ``rows_read``, ``invalid_rows``, ``empty_batches``,
        ``anomalies``, ``scored_rows``, ``dead_letters`` (broker messages set
        aside as undecodable) (ints).
    drift : dict or None
        The drift detector's ``state_dict()``.
    alarms : list of dict
        The most recent drift alarms (batch, position, value, time).
    step_size_override : float or None
        A constant step size switched on by a drift alarm.
    snapshot : dict
        ``{"version": int | None, "batch": int, "time": float}`` of the last
        published snapshot.
    parent : dict or None
        ``{"name", "version"}`` of the model version the stream started from.
    anomaly_threshold : float or None
        Log-likelihood below which a sample is flagged.
    source_identity : dict or None
        What identifies the source and the data read up to ``position`` (JSON
        data from the source's ``identity``); None before the first batch and in
        states written before it was recorded.
    history_row : tuple of str or None
        The ``batches.csv`` line of the last committed batch.
    """

    online: OnlineState
    position: dict[str, Any] | None
    stream_key: str
    counters: dict[str, int] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    alarms: tuple[dict[str, Any], ...] = ()
    step_size_override: float | None = None
    snapshot: dict[str, Any] = field(default_factory=lambda: {"version": None, "batch": 0, "time": 0.0})
    parent: dict[str, Any] | None = None
    anomaly_threshold: float | None = None
    source_identity: dict[str, Any] | None = None
    history_row: tuple[str, ...] | None = None

    def count(self, name: str) -> int:
        """A counter's value (0 if never incremented)."""
        return int(self.counters.get(name, 0))

    def with_counts(self, **increments: int) -> "RunnerState":
        """A copy with counters incremented."""
        counters = dict(self.counters)
        for name, value in increments.items():
            counters[name] = counters.get(name, 0) + int(value)
        return replace(self, counters=counters)


# ------------------------------------------------------------------- arrays <-> values
def _params_arrays(prefix: str, params: MixtureParameters) -> dict[str, np.ndarray]:
    return {
        f"{prefix}weights": params.weights,
        f"{prefix}means": params.means,
        f"{prefix}covariances": params.covariances,
        f"{prefix}precisions_cholesky": params.precisions_cholesky,
    }


def _params_from(prefix: str, arrays: Any, covariance_type: str) -> MixtureParameters:
    return MixtureParameters(
        arrays[f"{prefix}weights"],
        arrays[f"{prefix}means"],
        arrays[f"{prefix}covariances"],
        arrays[f"{prefix}precisions_cholesky"],
        covariance_type,
    )


def _stats_arrays(prefix: str, stats: SufficientStatistics) -> dict[str, np.ndarray]:
    return {
        f"{prefix}shift": stats.shift,
        f"{prefix}n": stats.n,
        f"{prefix}s1": stats.s1,
        f"{prefix}s2": stats.s2,
        f"{prefix}scalars": np.array([stats.log_likelihood, stats.weight_sum, stats.n_samples], dtype=np.float64),
    }


def _stats_from(prefix: str, arrays: Any, covariance_type: str) -> SufficientStatistics:
    log_likelihood, weight_sum, n_samples = arrays[f"{prefix}scalars"]
    return SufficientStatistics(
        covariance_type=covariance_type,
        shift=arrays[f"{prefix}shift"],
        n=arrays[f"{prefix}n"],
        s1=arrays[f"{prefix}s1"],
        s2=arrays[f"{prefix}s2"],
        log_likelihood=float(log_likelihood),
        weight_sum=float(weight_sum),
        n_samples=int(n_samples),
    )


def is_legacy_state_folder(folder: Path) -> bool:
    """Whether ``folder`` is a stream state folder of an earlier streamgmm (no marker).

    It holds the runner's state file or its batch log: files only a runner writes,
    so the folder is adopted (marked) by the next run; see
    :mod:`streamgmm.io.destinations`.
    """
    return (folder / STATE_FILENAME).is_file() or (folder / HISTORY_FILENAME).is_file()


class StateFile:
    """The state file of one stream runner, in a folder of its own.

    Parameters
    ----------
    directory : path-like
        Created on first save.
    durable : bool, default True
        fsync each commit (see ``StreamSettings.fsync_commits``).
    """

    def __init__(self, directory: str | Path, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILENAME
        self.durable = durable

    def exists(self) -> bool:
        """Whether a state has been committed."""
        return self.path.exists()

    def save(self, state: RunnerState) -> None:
        """Commit ``state`` atomically (the previous one stays until the rename)."""
        online = state.online
        ctype = online.params.covariance_type
        header = {
            "stream_key": state.stream_key,
            "covariance_type": ctype,
            "position": state.position,
            "counters": state.counters,
            "drift": state.drift,
            "alarms": list(state.alarms),
            "step_size_override": state.step_size_override,
            "snapshot": state.snapshot,
            "parent": state.parent,
            "anomaly_threshold": state.anomaly_threshold,
            "source_identity": state.source_identity,
            "history_row": None if state.history_row is None else list(state.history_row),
            "online": {
                "n_updates": online.n_updates,
                "n_samples_seen": online.n_samples_seen,
                "weight_seen": online.weight_seen,
                "n_averaged": online.n_averaged,
                "has_averaged": online.averaged is not None,
            },
        }
        arrays = {
            **_params_arrays("params_", online.params),
            **_stats_arrays("running_", online.running),
        }
        if online.averaged is not None:
            arrays.update(_stats_arrays("averaged_", online.averaged))
        save_state_file(self.path, header, arrays, schema_version=_SCHEMA_VERSION, durable=self.durable)

    def load(self, expected_key: str) -> RunnerState | None:
        """The committed state, or None if the stream has not committed yet.

        Raises
        ------
        RunnerStateError
            If the file is unreadable or belongs to another stream/model setup.
        """
        def parse(header: dict[str, Any], arrays: Any) -> RunnerState:
            if header["stream_key"] != expected_key:
                raise RunnerStateError(
                    f"Runner state '{self.path}' was written by a different stream or model "
                    "setup (source, features, n_components, covariance type or step "
                    "schedule changed). Use another state folder for the new setup, or "
                    "delete this one to start the stream afresh."
                )
            ctype = header["covariance_type"]
            info = header["online"]
            online = OnlineState(
                params=_params_from("params_", arrays, ctype),
                running=_stats_from("running_", arrays, ctype),
                n_updates=int(info["n_updates"]),
                n_samples_seen=int(info["n_samples_seen"]),
                weight_seen=float(info["weight_seen"]),
                averaged=_stats_from("averaged_", arrays, ctype) if info["has_averaged"] else None,
                n_averaged=int(info["n_averaged"]),
            )
            history_row = header.get("history_row")
            return RunnerState(
                online=online,
                position=header["position"],
                stream_key=header["stream_key"],
                counters={k: int(v) for k, v in header["counters"].items()},
                drift=header["drift"],
                alarms=tuple(header["alarms"]),
                step_size_override=header["step_size_override"],
                snapshot=header["snapshot"],
                parent=header["parent"],
                anomaly_threshold=header["anomaly_threshold"],
                source_identity=header.get("source_identity"),
                history_row=None if history_row is None else tuple(history_row),
            )

        return load_state_file(
            self.path, parse, readable=_READABLE_SCHEMAS, what="Runner state",
            error=RunnerStateError,
            outdated="Use the streamgmm that wrote it, or start the stream in a new state folder.",
            unreadable="Move it aside to restart the stream from its beginning (or from the "
            "model version it started from).",
        )
