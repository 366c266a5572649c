"""The stream runner: batches from a source -> stepwise EM -> committed state -> versions.

One loop, per batch::

    read the batch after the committed position            (source.next_batch)
    apply the NaN policy                                    (raise names where)
    score it with the current model, before the update      (drift, anomalies, outputs)
    stepwise EM update                                      (OnlineModel.partial_fit)
    feed the batch's mean log-likelihood to the drift detector
    write per-sample scores at the batch's stream rows      (idempotent region writes)
    COMMIT model + position + counters + detector together  (one atomic file)
           + the source's identity and the batch's log line
    append the log line to batches.csv                      (repaired from the commit)
    publish a model version if a snapshot is due            (idempotent: see below)

Exactly once: the commit is the only point where progress becomes durable, and
the source is replayable from a position, so a runner killed anywhere restarts
at the last commit and repeats exactly the uncommitted batch; its final model
equals the uninterrupted run's, bit for bit. Outputs are written at fixed row
ranges, so repeating a batch rewrites the same values. A snapshot published but
not yet recorded in the state is found again in the registry by its stream
position instead of being published twice.

A stream position belongs to one source: the source's identity at the
committed position is committed with it (see :mod:`.sources`), and a resumed
runner first checks that the source still holds what was consumed. A source
that was replaced, rewritten or shortened is refused with both identities
named, unless ``on_source_change="reset"`` (``--reset-source``) asks to keep the
learnt model and read the source afresh from its beginning. Then the log
``batches.csv`` is made to end exactly at the committed batch (:mod:`.history`).
A state written before identities were recorded adopts the source as found,
with a warning.

Starting point: a model version from the registry (its parameters seed the
running statistics), or a warm-up on the stream's first rows (batch EM on them);
nothing is committed before the warm-up completes, so a crash during it
re-reads the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import InvalidInputError, InvalidParameterError, StreamGMMError
from ..core.estep import chunk_posteriors, natural_form
from ..core.stepwise import OnlineState, start_from_parameters
from ..io.destinations import (
    MARKER_ATTRIBUTE,
    check_outside_inputs,
    check_reusable,
    folder_entries,
    local_path,
    marker_record,
    prepare_output_folder,
    read_marker,
)
from ..registry.registry import is_registry_layout
from ..validation import finite_row_mask, resolve_dtype
from .history import BatchHistory, history_row
from .model import OnlineModel, OnlineModelFactory, default_model_factory
from .scores import ScoreWriter
from .settings import ModelSetup, RunSummary, SnapshotPolicy, StreamSettings
from .sources import Batch, SourceMismatchError, StreamSource
from .state import RunnerState, StateFile, is_legacy_state_folder

__all__ = [
    "StreamSettings", "StreamRunner", "RunSummary", "ModelSetup", "SnapshotPolicy",
    "is_legacy_scores_store", "source_location",
]

logger = logging.getLogger("streamgmm.online")

#: Drift alarms kept in the state and in model metadata.
ALARMS_KEPT = 100

#: The arrays :class:`~.scores.ScoreWriter` creates in a stream's scores store.
_SCORE_ARRAYS = {"log_likelihood", "labels", "anomaly", "responsibilities"}


def is_legacy_scores_store(path: Path) -> bool:
    """Whether ``path`` is a stream scores store of an earlier streamgmm (no marker).

    A Zarr group whose members are only the score arrays, ``log_likelihood``
    among them; anything else is not adopted (see :mod:`streamgmm.io.destinations`).
    """
    try:
        names = set(folder_entries(path))
    except OSError:
        return False
    members = names - {"zarr.json", ".zgroup", ".zattrs", ".zmetadata"}
    is_group = "zarr.json" in names or ".zgroup" in names
    return is_group and "log_likelihood" in members and members <= _SCORE_ARRAYS


def source_location(source: Any) -> str | None:
    """The folder or store a stream source reads (None for stdin and brokers)."""
    location = getattr(source, "folder", None) or getattr(source, "uri", None)
    return None if location is None else str(location)


class StreamRunner:
    """Consumes a :class:`StreamSource` with exactly-once, crash-safe commits.

    Parameters
    ----------
    source : StreamSource
    settings : StreamSettings
    on_batch : callable, optional
        Called after every commit as ``on_batch(state, batch_log_likelihood)``
        (progress reporting).
    model_factory : OnlineModelFactory, optional
        Makes the model the stream updates; by default the one the estimator layer
        registered (``streamgmm.GaussianMixture``).
    """

    def __init__(
        self,
        source: StreamSource,
        settings: StreamSettings,
        on_batch: Callable[[RunnerState, float], None] | None = None,
        *,
        model_factory: OnlineModelFactory | None = None,
    ) -> None:
        if settings.on_source_change not in ("refuse", "reset"):
            raise InvalidParameterError(
                f"on_source_change={settings.on_source_change!r}: choose 'refuse' or 'reset'"
            )
        self.source = source
        self.settings = settings
        self.on_batch = on_batch
        self.model_factory = default_model_factory() if model_factory is None else model_factory
        self.state_file = StateFile(settings.state_dir, durable=settings.fsync_commits)
        self.history = BatchHistory(settings.state_dir)
        self._registry = None

    # ------------------------------------------------------------ identity of the stream
    def stream_key(self) -> str:
        """Hash of what must not change between restarts of one stream."""
        model = self.settings.model
        material = {
            "source": self.source.describe(),
            "n_components": model.n_components,
            "covariance_type": model.covariance_type,
            "batch_size": self.settings.batch_size,
            "start_from": self.settings.start_from,
            "schedule": [model.step_decay, model.step_offset, model.step_size, model.average],
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()

    # ------------------------------------------------------------------------ helpers
    def registry(self) -> Any:
        if self._registry is None and self.settings.snapshots.registry_root:
            from ..registry import ModelRegistry

            self._registry = ModelRegistry(self.settings.snapshots.registry_root)
        return self._registry

    def _model(self, online: OnlineState | None, step_size: float | None) -> OnlineModel:
        params = self.settings.model.estimator_params()
        if step_size is not None:
            params["step_size"] = step_size
        return self.model_factory(online, params)

    def _valid_rows(self, batch: Batch, n_features: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The batch's finite rows, and which rows of the batch they are (bool (n,)), by the NaN policy."""
        rows = batch.rows
        if n_features is not None and rows.shape[0] and rows.shape[1] != n_features:
            raise InvalidInputError(
                f"{batch.where} has {rows.shape[1]} features; the stream's model has {n_features}. "
                "Fix the producer, or start a new stream (another state folder) for the new layout."
            )
        finite = finite_row_mask(rows)
        if finite is None:
            return rows, np.ones(rows.shape[0], dtype=bool)
        bad = np.flatnonzero(~finite)
        if self.settings.model.nan_policy == "raise":
            raise InvalidInputError(
                f"{batch.where} has NaN or infinite values in {bad.size} row(s); the first is "
                f"row {int(bad[0])} of the batch. Nothing of this batch was used and the committed "
                "position is before it. Fix the data, or set nan_policy: drop to skip and count "
                "such rows."
            )
        return rows[finite], finite

    def _commit(self, state: RunnerState) -> None:
        """Save ``state`` atomically, then acknowledge its position to the source (brokers).

        The acknowledgement comes only after the commit: a broker never learns of
        progress the state file does not hold (the state is the single truth; an
        ack lost in a crash is sent again after the replayed batch).
        """
        self.state_file.save(state)
        acknowledge = getattr(self.source, "acknowledge", None)
        if acknowledge is not None and state.position is not None:
            acknowledge(state.position)

    # --------------------------------------------------------------- source identity
    def _identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        """The source's identity after ``batch`` (None for a source that has none)."""
        identify = getattr(self.source, "identity", None)
        return None if identify is None else identify(batch, previous)

    def _check_source(self, state: RunnerState) -> RunnerState:
        """The committed state, if the source still holds what it consumed.

        Raises
        ------
        SourceMismatchError
            The source was replaced, rewritten or shortened (both identities named),
            unless ``on_source_change`` is "reset": then the position is dropped
            (committed at once, with a warning) and the source read from its start.
        """
        verify = getattr(self.source, "verify_identity", None)
        if verify is None:
            return state
        if state.source_identity is None:
            if state.position is not None:
                logger.warning(
                    "runner state '%s' has no source identity (written by an older streamgmm): "
                    "adopting %s as it is now, at position %s",
                    self.state_file.path, self.source.describe(), state.position,
                )
            return state
        try:
            verify(state.source_identity, state.position)
        except SourceMismatchError as exc:
            if self.settings.on_source_change != "reset":
                raise self._refusal(exc, state) from exc
            logger.warning(
                "%s Resetting as asked (on_source_change: reset): the model of batch %d is kept "
                "and %s is read from its beginning.", exc, state.count("batches"), self.source.describe(),
            )
            state = replace(state, position=None, source_identity=None)
            self.state_file.save(state)
        return state

    def _refusal(self, exc: SourceMismatchError, state: RunnerState) -> SourceMismatchError:
        """``exc`` with the committed position, the state file and the ways out."""
        return SourceMismatchError(
            f"{exc} The committed position {state.position} (batch {state.count('batches')}, "
            f"runner state '{self.state_file.path}') belongs to the source as it was, and "
            "resuming would skip or misplace rows. To consume the source as a new stream, "
            "use another state folder (online.state). To keep the learnt model and read "
            "this source from its beginning, run once with --reset-source "
            "(online.on_source_change: reset).",
            exc.recorded, exc.current,
        )

    # ----------------------------------------------------------------------- start-up
    def _start_from_registry(self) -> tuple[OnlineModel, dict[str, Any], float | None]:
        from ..registry import ModelRegistry

        start = self.settings.start_from or {}
        registry = ModelRegistry(start["registry_root"])
        version = registry.load(start["model"], start.get("ref", "latest"))
        extra = dict(version.metadata.metrics.extra or {}) if version.metadata.metrics else {}
        threshold = extra.get("anomaly_threshold")
        model = self._model(start_from_parameters(version.parameters), None)
        parent = {"name": version.name, "version": version.version}
        return model, parent, None if threshold is None else float(threshold)

    def _warm_up(self, deadline: Callable[[], bool]) -> tuple[Any, ...] | None:
        """Read the first rows until the model is fitted; nothing is committed meanwhile.

        The warm-up rows are scored with the fitted model (and written out, if
        scores are). Returns the fitted model, the position after the warm-up
        rows, rows read, rows dropped, the rows' scores, the anomaly threshold
        from them and the source's identity after them; None if the stream ended
        first.
        """
        model = self._model(None, None)
        position: dict[str, Any] | None = None
        identity: dict[str, Any] | None = None
        rows_read = dropped = dead_letters = 0
        held: list[np.ndarray] = []
        valid: list[np.ndarray] = []
        while not model.warmed_up:
            batch = self._poll(position, deadline)
            if batch is None:
                return None
            rows, finite = self._valid_rows(batch, getattr(model, "n_features_in_", None))
            rows_read += batch.rows.shape[0]
            dropped += int(finite.size - rows.shape[0])
            dead_letters += batch.dead_letters
            position = batch.position
            identity = self._identity(batch, identity)
            valid.append(finite)
            if rows.shape[0]:
                held.append(rows)
                model.partial_fit(rows)
        warm_rows = np.concatenate(held)
        form = natural_form(model.online_state_.params, resolve_dtype(model.dtype, warm_rows.dtype))
        scores, responsibilities = chunk_posteriors(warm_rows, form)
        threshold = self._threshold(scores)
        if self.settings.scores_path:
            flagged = scores < threshold if threshold is not None else np.zeros(scores.shape, dtype=bool)
            self._writer(model.n_components).write(0, np.concatenate(valid), scores, responsibilities, flagged)
        return model, position, rows_read, dropped, dead_letters, scores, threshold, identity

    def prepare_destinations(self) -> None:
        """The state folder, the registry and the scores store: outside the source, ours, writable.

        Called before the first batch is read (the folders are created and marked).

        Raises
        ------
        DestinationError
            Naming the setting (``online.state``, ``registry.root``, ``outputs.scores``) and
            the way out.
        """
        settings = self.settings
        inputs = [("source.uri", source_location(self.source))]
        # (location, kind, key, legacy test, marker file?): a Zarr scores group is marked in
        # its attributes once the writer has made it (_writer).
        targets: list[tuple[str, str, str, Callable[[Path], bool], bool]] = [
            (settings.state_dir, "stream-state", "online.state", is_legacy_state_folder, True),
        ]
        root = settings.snapshots.registry_root and local_path(settings.snapshots.registry_root)
        if root:  # a registry at a URL is read-only: publishing says so
            targets.append((root, "registry", "registry.root", is_registry_layout, True))
        if settings.scores_path:
            targets.append((settings.scores_path, "scores", "outputs.scores", is_legacy_scores_store, False))
        for location, kind, key, legacy, _ in targets:  # every check before any folder is made
            check_outside_inputs(location, inputs, key=key)
            check_reusable(location, kind, key=key, legacy=legacy)
        for location, kind, key, legacy, mark in targets:
            prepare_output_folder(location, kind, key=key, legacy=legacy, mark=mark)

    def _writer(self, n_components: int) -> ScoreWriter:
        writer = ScoreWriter(self.settings.scores_path, n_components, self.settings.write_responsibilities)  # type: ignore[arg-type]
        if read_marker(writer.path) is None:
            import zarr  # lazily, as ScoreWriter does: importing streamgmm stays fast

            zarr.open_group(writer.path, mode="r+").attrs[MARKER_ATTRIBUTE] = marker_record("scores")
        return writer

    def _poll(self, position: dict[str, Any] | None, deadline: Callable[[], bool]) -> Batch | None:
        """The next batch, waiting while the source is idle (up to ``idle_seconds``)."""
        idle_since = time.monotonic()
        while True:
            batch = self.source.next_batch(position, self.settings.batch_size)
            if batch is not None:
                return batch
            idle = self.settings.idle_seconds
            if getattr(self.source, "exhausted", False) or deadline():
                break
            if idle is not None and time.monotonic() - idle_since >= idle:
                break
            time.sleep(self.settings.poll_seconds)
        if self.settings.drain:
            return self.source.next_batch(position, self.settings.batch_size, partial=True)
        return None

    def _threshold(self, scores: np.ndarray) -> float | None:
        if self.settings.anomaly_threshold is not None:
            return float(self.settings.anomaly_threshold)
        if self.settings.anomaly_quantile is None or scores.size == 0:
            return None
        return float(np.quantile(scores, self.settings.anomaly_quantile))

    def _new_detector(self) -> Any:
        if not self.settings.drift:
            return None
        from .drift import make_detector

        options = dict(self.settings.drift)
        return make_detector(options.pop("kind"), **options)

    def _restore_detector(self, state: dict[str, Any] | None) -> Any:
        if state is None:
            return self._new_detector()
        from .drift import detector_from_state_dict

        return detector_from_state_dict(state)

    def _initial_state(self, deadline: Callable[[], bool]) -> RunnerState | None:
        key = self.stream_key()
        if self.settings.start_from:
            model, parent, threshold = self._start_from_registry()
            detector = self._new_detector()
            return RunnerState(
                online=model.online_state_,
                position=None,
                stream_key=key,
                drift=None if detector is None else detector.state_dict(),
                parent=parent,
                anomaly_threshold=(
                    float(self.settings.anomaly_threshold)
                    if self.settings.anomaly_threshold is not None
                    else threshold
                ),
            )
        warmed = self._warm_up(deadline)
        if warmed is None:
            return None
        model, position, rows_read, dropped, dead_letters, scores, threshold, identity = warmed
        detector = self._new_detector()
        state = RunnerState(
            online=model.online_state_,
            position=position,
            stream_key=key,
            counters={
                "batches": 0, "rows_read": rows_read, "invalid_rows": dropped, "warm_up_rows": rows_read,
                "dead_letters": dead_letters,
            },
            drift=None if detector is None else detector.state_dict(),
            anomaly_threshold=threshold,
            source_identity=identity,
        )
        self._commit(state)
        logger.info(
            "warm-up done on %d rows (batch EM); stream position %s committed", rows_read, position
        )
        return state

    # --------------------------------------------------------------------- snapshots
    def _snapshot_due(self, state: RunnerState, now: float) -> bool:
        policy = self.settings.snapshots
        if self.registry() is None:
            return False
        batches_since = state.count("batches") - int(state.snapshot.get("batch", 0))
        if batches_since <= 0:
            return False
        if policy.every_batches is not None and batches_since >= policy.every_batches:
            return True
        last_time = float(state.snapshot.get("time") or 0.0)
        return policy.every_seconds is not None and now - last_time >= policy.every_seconds

    def _stream_positions(self, state: RunnerState) -> dict[str, Any]:
        return {
            "stream_key": state.stream_key,
            "source": self.source.describe(),
            "position": state.position,
            "source_identity": state.source_identity,
            "batches": state.count("batches"),
            "rows_read": state.count("rows_read"),
        }

    def _already_published(self, state: RunnerState) -> int | None:
        """The version published for exactly this committed state, if a crash hid it."""
        registry = self.registry()
        name = self.settings.snapshots.model
        try:
            versions = registry.list_versions(name)
        except Exception:
            return None
        if not versions:
            return None
        latest = registry.show(name, versions[-1])
        positions = latest.stream_positions or {}
        same = (
            positions.get("stream_key") == state.stream_key
            and positions.get("batches") == state.count("batches")
        )
        return versions[-1] if same else None

    def _publish(self, state: RunnerState) -> tuple[RunnerState, int]:
        registry = self.registry()
        policy = self.settings.snapshots
        version = self._already_published(state)
        if version is None:
            parent = state.snapshot.get("version")
            parent_name = None
            if parent is None and state.parent is not None:
                parent, parent_name = state.parent["version"], state.parent["name"]
                if parent_name == policy.model:
                    parent_name = None
            metrics = {
                "n_samples": state.count("rows_read"),
                "extra": {
                    "online": True,
                    "n_updates": state.online.n_updates,
                    "batches": state.count("batches"),
                    "invalid_rows": state.count("invalid_rows"),
                    "anomalies": state.count("anomalies"),
                    "anomaly_threshold": state.anomaly_threshold,
                    "drift_alarms": list(state.alarms),
                    "step_size_override": state.step_size_override,
                },
            }
            published = registry.publish(
                policy.model,
                state.online.reported_parameters(self.settings.model.reg_covar),
                parent_version=parent,
                parent_name=parent_name,
                training_config={"stream": _jsonable(asdict(self.settings))},
                data_source=self.source.describe(),
                metrics=metrics,
                stream_positions=self._stream_positions(state),
                aliases=policy.aliases,
            )
            version = published.version
            logger.info("published %s version %d at batch %d", policy.model, version, state.count("batches"))
        state = replace(
            state,
            snapshot={"version": version, "batch": state.count("batches"), "time": time.time()},
        )
        self.state_file.save(state)
        return state, version

    # --------------------------------------------------------------------------- run
    def run(self) -> RunSummary:
        """Process batches until a bound is reached or the source is idle/exhausted."""
        settings = self.settings
        started = time.monotonic()

        def deadline() -> bool:
            return settings.max_seconds is not None and time.monotonic() - started >= settings.max_seconds

        self.prepare_destinations()
        state = self.state_file.load(self.stream_key())
        if state is None:
            self.history.set_aside()  # a log without a state belongs to an abandoned stream
            state = self._initial_state(deadline)
            if state is None:
                raise StreamGMMError(
                    "The stream ended before the warm-up had enough rows to fit a first model "
                    f"(warm_up_size {settings.model.warm_up_size or 'auto: 10 x K x D'}). Send more "
                    "rows, lower model.warm_up_size, or start from a model version (start_from)."
                )
        else:
            state = self._check_source(state)
            logger.info(
                "resuming stream at batch %d, position %s", state.count("batches"), state.position
            )
        self.history.reconcile(state.count("batches"), state.history_row)
        model = self._model(state.online, state.step_size_override)
        if hasattr(self.source, "expect_features"):
            self.source.expect_features(model.n_features_in_)
        detector = self._restore_detector(state.drift)
        writer = self._writer(state.online.params.n_components) if settings.scores_path else None
        versions: list[int] = []
        alarms: list[dict[str, Any]] = []
        batch_lls: list[float] = []
        run_batches = run_rows = run_invalid = run_anomalies = run_dead = 0
        stop_reason = "source idle"
        if self._snapshot_due(state, time.time()):
            # Killed between a batch's commit and the snapshot it was due: publish it now, at
            # the batch an uninterrupted run publishes at (found, if it was published already).
            state, version = self._publish(state)
            versions.append(version)
        while True:
            if settings.max_batches is not None and run_batches >= settings.max_batches:
                stop_reason = "max_batches reached"
                break
            if deadline():
                stop_reason = "max_seconds reached"
                break
            try:
                batch = self._poll(state.position, deadline)
            except SourceMismatchError as exc:  # e.g. a store shortened under the runner
                raise self._refusal(exc, state) from exc
            if batch is None:
                stop_reason = "source exhausted" if getattr(self.source, "exhausted", False) else "source idle"
                break
            first_row = state.count("rows_read")
            rows, finite = self._valid_rows(batch, model.n_features_in_)
            n_bad = int(finite.size - rows.shape[0])
            state = state.with_counts(
                rows_read=batch.rows.shape[0], invalid_rows=n_bad, dead_letters=batch.dead_letters
            )
            run_rows += batch.rows.shape[0]
            run_invalid += n_bad
            run_dead += batch.dead_letters
            if rows.shape[0] == 0:
                state = replace(
                    state.with_counts(empty_batches=1),
                    position=batch.position,
                    source_identity=self._identity(batch, state.source_identity),
                )
                self._commit(state)
                continue
            # Per-row scores (one more E-step, before the update) only for what uses them.
            wants_scores = writer is not None or state.anomaly_threshold is not None or (
                settings.anomaly_quantile is not None or settings.anomaly_threshold is not None
            )
            if wants_scores:  # from the update's own E-step, under the parameters before it
                # The writer's labels are the responsibilities' argmax.
                scores, responsibilities = model.partial_fit_scored(rows, responsibilities=writer is not None)
            else:
                model.partial_fit(rows)
            batch_ll = float(model.batch_log_likelihood_)
            batch_lls.append(batch_ll)
            threshold = state.anomaly_threshold
            if threshold is None and settings.anomaly_quantile is not None and settings.anomaly_threshold is None:
                threshold = self._threshold(scores)  # starting from a version without one
                state = replace(state, anomaly_threshold=threshold)
            n_flagged = 0
            if threshold is not None:
                flagged = scores < threshold
                n_flagged = int(flagged.sum())
            elif wants_scores:
                flagged = np.zeros(scores.shape, dtype=bool)
            run_anomalies += n_flagged
            step_override = state.step_size_override
            new_alarms = list(state.alarms)
            alarmed = detector is not None and detector.update(batch_ll)
            if alarmed:
                alarm = {
                    "batch": state.count("batches") + 1,
                    "position": batch.position,
                    "where": batch.where,
                    "batch_log_likelihood": batch_ll,
                    "time": time.time(),
                }
                alarms.append(alarm)
                new_alarms = (new_alarms + [alarm])[-ALARMS_KEPT:]
                logger.warning(
                    "drift alarm at batch %d (%s): mean log-likelihood %.4f", alarm["batch"], batch.where, batch_ll
                )
                detector.reset()
                if settings.drift_step_size is not None:
                    step_override = float(settings.drift_step_size)
                    model.set_params(step_size=step_override)
                    logger.warning("switched to a constant step size of %g after the alarm", step_override)
            if writer is not None:
                writer.write(first_row, finite, scores, responsibilities, flagged)
            state = state.with_counts(batches=1, anomalies=n_flagged, scored_rows=rows.shape[0])
            row = history_row(state, batch_ll, model.step_size_, n_flagged, alarmed)
            state = replace(
                state,
                online=model.online_state_,
                position=batch.position,
                drift=None if detector is None else detector.state_dict(),
                alarms=tuple(new_alarms),
                step_size_override=step_override,
                source_identity=self._identity(batch, state.source_identity),
                history_row=row,
            )
            # The commit: model, position, source identity and log line together.
            self._commit(state)
            self.history.append(row)
            run_batches += 1
            if self.on_batch is not None:
                self.on_batch(state, batch_ll)
            if settings.log_every and state.count("batches") % settings.log_every == 0:
                logger.info(
                    "batch %d: %d rows, mean log-likelihood %.4f, step %.4g, %d anomalies so far",
                    state.count("batches"), state.count("rows_read"), batch_ll, model.step_size_,
                    state.count("anomalies"),
                )
            if self._snapshot_due(state, time.time()):
                state, version = self._publish(state)
                versions.append(version)
        if settings.snapshots.at_end and self.registry() is not None:
            if state.count("batches") > int(state.snapshot.get("batch", 0)) or state.snapshot.get("version") is None:
                state, version = self._publish(state)
                versions.append(version)
        return RunSummary(
            batches=run_batches,
            rows=run_rows,
            invalid_rows=run_invalid,
            anomalies=run_anomalies,
            alarms=alarms,
            versions=versions,
            state=state,
            stop_reason=stop_reason,
            batch_log_likelihoods=batch_lls,
            dead_letters=run_dead,
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
