"""Build a stream runner from a validated ``online_update`` config.

The CLI (``streamgmm stream CONFIG``) and the Prefect flow
(``flows/online_update.py``) both go through :func:`build_runner`, so a config
means the same thing wherever it runs.
"""

from __future__ import annotations

from typing import IO, Any, Callable

from ..config.online import OnlineUpdateConfig
from .brokers import build_broker_source
from .runner import ModelSetup, RunnerState, SnapshotPolicy, StreamRunner, StreamSettings
from .sources import AppendedZarrSource, LandingFolderSource, StdinSource, StreamSource

__all__ = ["build_source", "build_settings", "build_runner", "close_source"]


def build_source(config: OnlineUpdateConfig, stdin: IO[str] | None = None) -> StreamSource:
    """The stream source a config describes (a broker's: see :mod:`.brokers`)."""
    source = config.source
    if source.is_broker:
        return build_broker_source(source, config.online.state)
    if source.kind == "landing-folder":
        return LandingFolderSource(
            source.uri,  # type: ignore[arg-type]
            columns=source.columns,
            variable=source.variable,
            quarantine=source.quarantine,
        )
    if source.kind == "zarr-append":
        return AppendedZarrSource(
            source.uri,  # type: ignore[arg-type]
            variable=source.variable,
            sample_dim=source.sample_dim,
            feature_dim=source.feature_dim,
        )
    return StdinSource(stdin)


def close_source(source: StreamSource) -> None:
    """Release a source's connection (broker sources have one; files have nothing to close)."""
    close = getattr(source, "close", None)
    if close is not None:
        close()


def build_settings(config: OnlineUpdateConfig) -> StreamSettings:
    """Runner settings from a config."""
    model, online = config.model, config.online
    setup = ModelSetup(
        n_components=model.n_components,  # type: ignore[arg-type]
        covariance_type=model.covariance_type,
        reg_covar=model.reg_covar,
        step_decay=online.step.decay,
        step_offset=online.step.offset,
        step_size=online.step.constant,
        average=online.step.average,
        warm_up_size=model.warm_up_size,
        init_params=model.init_params,
        n_init=model.n_init,
        max_iter=model.max_iter,
        tol=model.tol,
        random_state=model.seed,
        dtype=model.dtype,
        nan_policy=online.nan_policy,
    )
    start_from = None
    if model.start_from is not None:
        root = model.start_from.root or (config.registry.root if config.registry else None)
        start_from = {"registry_root": root, "model": model.start_from.model, "ref": model.start_from.ref}
    registry = config.registry
    snapshots = SnapshotPolicy(
        registry_root=None if registry is None else registry.root,
        model="online" if registry is None else registry.model,
        every_batches=online.snapshot.every_batches,
        every_seconds=online.snapshot.every_seconds,
        aliases=() if registry is None else tuple(registry.aliases),
        at_end=online.snapshot.at_end,
    )
    anomaly = online.anomaly
    drift = online.drift
    return StreamSettings(
        state_dir=online.state,
        batch_size=online.batch_size,
        model=setup,
        start_from=start_from,
        snapshots=snapshots,
        scores_path=config.outputs.scores,
        write_responsibilities=config.outputs.responsibilities,
        anomaly_quantile=None if anomaly is None or anomaly.threshold is not None else anomaly.quantile,
        anomaly_threshold=None if anomaly is None else anomaly.threshold,
        drift=None if drift is None else drift.detector_options(),
        drift_step_size=None if drift is None else drift.on_alarm_step_size,
        max_batches=online.max_batches,
        max_seconds=online.max_seconds,
        idle_seconds=online.idle_seconds,
        poll_seconds=online.poll_seconds,
        drain=online.drain,
        on_source_change=online.on_source_change,
        fsync_commits=online.fsync,
    )


def build_runner(
    config: OnlineUpdateConfig,
    *,
    stdin: IO[str] | None = None,
    on_batch: Callable[[RunnerState, float], None] | None = None,
    overrides: dict[str, Any] | None = None,
) -> StreamRunner:
    """A ready :class:`StreamRunner` for ``config``.

    Parameters
    ----------
    config : OnlineUpdateConfig
    stdin : text stream, optional
        For ``source.kind: stdin`` (default ``sys.stdin``).
    on_batch : callable, optional
        Progress callback, ``on_batch(state, batch_log_likelihood)``.
    overrides : dict, optional
        StreamSettings fields to replace (e.g. ``max_batches`` from a flow parameter).
    """
    from dataclasses import replace

    settings = build_settings(config)
    if overrides:
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    return StreamRunner(build_source(config, stdin), settings, on_batch=on_batch)
