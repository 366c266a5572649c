"""What a stream run is told (settings) and what it reports (summary).

Plain frozen dataclasses: :mod:`streamgmm.online.from_config` builds them from a
YAML config, tests and notebooks build them directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.params import MixtureParameters
from .state import RunnerState

__all__ = ["ModelSetup", "SnapshotPolicy", "StreamSettings", "RunSummary"]


@dataclass(frozen=True)
class ModelSetup:
    """The estimator's parameters for the stream (see ``GaussianMixture``)."""

    n_components: int = 8
    covariance_type: str = "diag"
    reg_covar: float = 1e-6
    step_decay: float = 0.7
    step_offset: float = 2.0
    step_size: float | None = None
    average: bool | int = False
    warm_up_size: int | None = None
    init_params: str = "kmeans"
    n_init: int = 1
    max_iter: int = 100
    tol: float = 1e-3
    random_state: int | None = 0
    dtype: str | None = None
    nan_policy: str = "raise"

    def estimator_params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SnapshotPolicy:
    """When the runner publishes a model version.

    Attributes
    ----------
    registry_root : str or None
        No snapshots without a registry.
    model : str
        Model name in the registry.
    every_batches : int or None
    every_seconds : float or None
    aliases : tuple of str
        Aliases moved to every snapshot (e.g. ``("online",)``).
    at_end : bool
        Publish once more when the run stops, if anything changed since.
    """

    registry_root: str | None = None
    model: str = "online"
    every_batches: int | None = 100
    every_seconds: float | None = None
    aliases: tuple[str, ...] = ()
    at_end: bool = True


@dataclass(frozen=True)
class StreamSettings:
    """Everything a stream run needs besides the source.

    Attributes
    ----------
    state_dir : str
        Folder of the committed state (one per stream).
    batch_size : int
        Rows per batch.
    model : ModelSetup
    start_from : dict or None
        ``{"registry_root", "model", "ref"}`` of a version to start from when no
        state exists (else: warm-up on the stream).
    snapshots : SnapshotPolicy
    scores_path : str or None
        Zarr store for per-sample log-likelihood, label, anomaly flag (and
        responsibilities if ``write_responsibilities``).
    write_responsibilities : bool
    anomaly_quantile : float or None
        Flag samples below this quantile of the warm-up (or first batch) scores.
    anomaly_threshold : float or None
        A fixed log-likelihood threshold instead.
    drift : dict or None
        ``{"kind": "page-hinkley" | "adwin", ...params}``.
    drift_step_size : float or None
        Constant step size switched on by a drift alarm.
    max_batches, max_seconds : int, float or None
        Bounds of this run.
    idle_seconds : float or None
        Stop after this long without a new batch (None: wait forever; 0: stop as
        soon as the source has nothing).
    poll_seconds : float
        Wait between polls of an idle source.
    drain : bool
        At the end of the stream, also take a final incomplete batch.
    log_every : int
        Log progress every this many batches.
    on_source_change : {"refuse", "reset"}
        When a resumed stream finds its source replaced, rewritten or shortened
        (its identity no longer matches the commit): "refuse" stops with both
        identities named; "reset" keeps the learnt model and counters and reads
        the source from its beginning (a warning, and the reset is committed).
    fsync_commits : bool, default True
        Make every commit durable against power loss and OS crashes (fsync of the
        state file and its folder). False keeps the atomic rename: a runner killed
        anywhere (``kill -9``) still resumes exactly at its last commit, but an OS
        crash may take the stream back to an earlier commit (or damage the file on
        filesystems that do not order data before renames). The two fsyncs are
        most of a commit's cost (config ``online.fsync``).
    """

    state_dir: str
    batch_size: int = 1000
    model: ModelSetup = field(default_factory=ModelSetup)
    start_from: dict[str, Any] | None = None
    snapshots: SnapshotPolicy = field(default_factory=SnapshotPolicy)
    scores_path: str | None = None
    write_responsibilities: bool = False
    anomaly_quantile: float | None = 0.01
    anomaly_threshold: float | None = None
    drift: dict[str, Any] | None = field(default_factory=lambda: {"kind": "page-hinkley"})
    drift_step_size: float | None = None
    max_batches: int | None = None
    max_seconds: float | None = None
    idle_seconds: float | None = 0.0
    poll_seconds: float = 1.0
    drain: bool = False
    log_every: int = 100
    fsync_commits: bool = True
    on_source_change: str = "refuse"


@dataclass(frozen=True)
class RunSummary:
    """What one run of the runner did (the committed state holds the totals).

    Attributes
    ----------
    batches, rows, invalid_rows, anomalies : int
        This run's counts.
    alarms : list of dict
        Drift alarms raised in this run.
    versions : list of int
        Model versions published in this run.
    state : RunnerState
        The last committed state.
    stop_reason : str
    batch_log_likelihoods : list of float
    dead_letters : int
        Broker messages this run sent to the dead-letter sink (undecodable).
    """

    batches: int
    rows: int
    invalid_rows: int
    anomalies: int
    alarms: list[dict[str, Any]]
    versions: list[int]
    state: RunnerState
    stop_reason: str
    batch_log_likelihoods: list[float] = field(default_factory=list)
    dead_letters: int = 0

    @property
    def params(self) -> MixtureParameters:
        """The running model's parameters at the last commit.

        With averaging on, published versions hold the averaged parameters instead
        (``state.online.reported_parameters(reg_covar)``).
        """
        return self.state.online.params
