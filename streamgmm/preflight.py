"""A job's inputs and destinations, checked for real before any work.

A layer of its own, above ``online`` and below the commands and flows that call
it: it opens data (``io``), reads stream state (``online``), checkpoints
(``drivers``) and the registry, so it cannot live in ``config``.

The commands (``streamgmm fit|select-k|score|stream``, ``python -m flows.<name>``)
call :func:`check_job` right after loading the config, before Prefect, a Dask
cluster or a data pass starts; the flows call it again in their first task, and
the fitting flows check the destinations once more just before they publish, so
a run that fails on a destination never leaves a model version behind.

What is checked (every problem is one line naming the config key path and the
way out; all of them are reported at once in a :class:`~streamgmm.config.ConfigError`):

- **inputs**: the data open (the file or store exists and is readable, and has
  the named ``variable`` / ``columns``: metadata only, no data pass); a score's
  model version exists; an online stream's landing folder exists and a
  ``start_from`` version exists (unless the stream resumes from its state); a
  broker source's credential variables are set and its broker accepts a TCP
  connection within 2 s (unless ``source.wait_for_broker`` asks to wait);
- **destinations** (:mod:`streamgmm.io.destinations`): none is, contains or lies
  inside an input or another destination; each is streamgmm's own output of
  its kind (marker) or new; an existing predictions target needs
  ``outputs.overwrite``; and, once nothing else is wrong, each is *probed*: its
  folder (for a predictions target, the parent) is created and a byte written,
  flushed and deleted there. The probe creates missing folders; when any check
  fails, the (still empty) folders it created are removed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgmm.config.errors import ConfigError
from streamgmm.config.online import OnlineUpdateConfig
from streamgmm.config.schema import BatchFitConfig, DataConfig
from streamgmm.config.score import ScoreConfig
from streamgmm.config.select_k import SelectKConfig
from streamgmm.core.errors import StreamGMMError
from streamgmm.drivers.checkpoint import is_legacy_checkpoint_folder
from streamgmm.io.destinations import (
    DestinationError,
    LegacyTest,
    NamedInput,
    check_outside_inputs,
    check_replaceable,
    check_reusable,
    legacy_files,
    local_path,
    normalise_location,
    prepare_output_folder,
    probe_writable,
    remove_created,
)
from streamgmm.drivers.predictions import is_legacy_predictions
from streamgmm.io.sources import open_rows
from streamgmm.online.brokers.common import BrokerConfigError, credentials, unreachable
from streamgmm.online.runner import is_legacy_scores_store
from streamgmm.online.state import STATE_FILENAME, is_legacy_state_folder
from streamgmm.registry import ModelRegistry
from streamgmm.registry.errors import ModelNotFoundError
from streamgmm.registry.registry import is_registry_layout

__all__ = [
    "Destination",
    "check_job",
    "data_problems",
    "destination_problems",
    "job_destinations",
    "job_inputs",
    "prepare_reports_folder",
]

#: A reports folder of an earlier version (no marker): only the PNGs the flows wrote.
is_legacy_reports_folder: LegacyTest = legacy_files("*.png")
_OVERWRITE_HINT = "set outputs.overwrite: true"


@dataclass(frozen=True)
class Destination:
    """One place a job writes.

    Attributes
    ----------
    key : str
        Its config key path (``outputs.predictions``).
    location : str
        The resolved path (or URL).
    kind : str
        Output kind (:data:`~streamgmm.io.destinations.OUTPUT_KINDS`).
    replaced_whole : bool
        True for outputs replaced whole (predictions): an existing one needs
        ``overwrite``, and the probe runs in its parent. False for folders written
        into run after run (registry, checkpoint, state, scores, reports).
    overwrite : bool
    legacy : callable, optional
        Recognises the writer's unmarked output of earlier versions.
    """

    key: str
    location: str
    kind: str
    replaced_whole: bool = False
    overwrite: bool = False
    legacy: LegacyTest | None = None


# ============================================================================ inputs
def data_problems(data: DataConfig, key: str = "data") -> list[str]:
    """Open the data (metadata only): missing, unreadable, or no such variable/columns."""
    try:
        open_rows(data.uri, **data.open_options())
    except (StreamGMMError, OSError, ValueError) as exc:
        selector = f"{key}.columns" if data.columns is not None else f"{key}.variable"
        return [
            f"{key}.uri: the data cannot be opened: {exc}. Check {key}.uri ({data.uri!r}) and "
            f"{selector}."
        ]
    return []


def _model_problems(root: str, model: str, ref: int | str, key: str) -> list[str]:
    """The model version ``ref`` of ``model`` must exist in the registry at ``root``."""
    registry = ModelRegistry(root)
    try:
        registry.resolve(model, ref)
    except ModelNotFoundError as exc:
        which = f"{key}.version" if registry.list_versions(model) else f"{key}.model"
        return [f"{which}: {exc} Check {key}.root, {key}.model and the version."]
    except (StreamGMMError, OSError) as exc:
        return [f"{key}.root: the registry {root!r} cannot be read: {exc}"]
    return []


#: Seconds the preflight waits for a broker to accept a connection.
BROKER_PROBE_SECONDS = 2.0


def _broker_problems(source: Any) -> list[str]:
    """A broker source: its credentials' variables are set, and the broker answers.

    The reachability probe (a TCP connection, :data:`BROKER_PROBE_SECONDS`) is
    skipped when ``source.wait_for_broker`` asks the stream to wait for it.
    """
    problems = []
    try:
        credentials(source)
    except BrokerConfigError as exc:
        problems.append(str(exc))
    if source.wait_for_broker is None:
        why = unreachable(source.kind, source.address, timeout=BROKER_PROBE_SECONDS)
        if why is not None:
            problems.append(
                f"source.{source.address_key}: cannot reach the {source.kind} broker at "
                f"{source.address} ({why}). Start the broker or fix the address; to wait for a "
                "broker that is starting, set source.wait_for_broker (seconds)."
            )
    return problems


def job_inputs(config: Any) -> list[NamedInput]:
    """``(key, location)`` of everything a job reads."""
    if isinstance(config, (BatchFitConfig, SelectKConfig)):
        return [("data.uri", config.data.uri)]
    if isinstance(config, ScoreConfig):
        return [("data.uri", config.data.uri), ("registry.root", config.registry.root)]
    if isinstance(config, OnlineUpdateConfig):
        inputs: list[NamedInput] = [("source.uri", config.source.uri)]
        start = config.model.start_from
        registry_root = config.registry.root if config.registry is not None else None
        # The stream may start from the very registry it publishes to: that one is its output.
        if start is not None and start.root is not None and (
            registry_root is None or normalise_location(start.root) != normalise_location(registry_root)
        ):
            inputs.append(("model.start_from.root", start.root))
        return inputs
    raise TypeError(f"no preflight for {type(config).__name__}")


def _input_problems(config: Any) -> list[str]:
    if isinstance(config, (BatchFitConfig, SelectKConfig)):
        return data_problems(config.data)
    if isinstance(config, ScoreConfig):
        reg = config.registry
        return _model_problems(reg.root, reg.model, reg.version, "registry") + data_problems(config.data)
    if isinstance(config, OnlineUpdateConfig):
        source = config.source
        problems = _broker_problems(source) if source.is_broker else []
        folder = local_path(str(source.uri)) if source.uri is not None else None
        if source.kind == "landing-folder" and not (folder and Path(folder).is_dir()):
            problems.append(
                f"source.uri: the landing folder {source.uri!r} does not exist (or is not a "
                "folder). Create it (producers drop files there) or fix the path."
            )
        start = config.model.start_from
        resuming = (Path(config.online.state) / STATE_FILENAME).is_file()
        if start is not None and not resuming:
            root = start.root or (config.registry.root if config.registry is not None else None)
            if root is not None:
                problems += _model_problems(root, start.model, start.ref, "model.start_from")
        return problems
    raise TypeError(f"no preflight for {type(config).__name__}")


# ============================================================================ destinations
def job_destinations(config: Any) -> list[Destination]:
    """Every place a job writes, with its kind and rules."""
    destinations: list[Destination] = []
    if isinstance(config, (BatchFitConfig, SelectKConfig)):
        destinations.append(Destination("registry.root", config.registry.root, "registry",
                                        legacy=is_registry_layout))
        outputs = config.outputs
        if outputs.predictions is not None:
            destinations.append(Destination(
                "outputs.predictions", outputs.predictions, "predictions", replaced_whole=True,
                overwrite=outputs.overwrite, legacy=is_legacy_predictions,
            ))
        destinations.append(Destination("outputs.reports", outputs.reports, "report",
                                        legacy=is_legacy_reports_folder))
        if isinstance(config, BatchFitConfig) and config.checkpoint.folder is not None:
            destinations.append(Destination("checkpoint.folder", config.checkpoint.folder, "checkpoint",
                                            legacy=is_legacy_checkpoint_folder))
    elif isinstance(config, ScoreConfig):
        target = config.predictions_target
        if target is not None:
            key = "outputs.predictions" if config.outputs.predictions else (
                "outputs.predictions (default: beside the input)")
            destinations.append(Destination(key, target, "predictions", replaced_whole=True,
                                            overwrite=config.outputs.overwrite,
                                            legacy=is_legacy_predictions))
    elif isinstance(config, OnlineUpdateConfig):
        destinations.append(Destination("online.state", config.online.state, "stream-state",
                                        legacy=is_legacy_state_folder))
        if config.outputs.scores is not None:
            destinations.append(Destination("outputs.scores", config.outputs.scores, "scores",
                                            legacy=is_legacy_scores_store))
        if config.registry is not None:
            destinations.append(Destination("registry.root", config.registry.root, "registry",
                                            legacy=is_registry_layout))
        dead_letter = config.source.dead_letter
        if dead_letter is not None and dead_letter.folder is not None:  # the default is in online.state
            destinations.append(Destination("source.dead_letter.folder", dead_letter.folder, "dead-letters"))
    else:
        raise TypeError(f"no preflight for {type(config).__name__}")
    return destinations


def destination_problems(
    destinations: Sequence[Destination], inputs: Iterable[NamedInput], *, probe: bool = True
) -> list[str]:
    """Each destination: outside the inputs and the other destinations, ours, writable.

    Parameters
    ----------
    destinations : sequence of Destination
    inputs : iterable of (key, location)
    probe : bool, default True
        Create the folders and write a probe file, once no other problem was found.

    Returns
    -------
    list of str
        One line per problem (key path, paths, way out); empty when all is well.
    """
    inputs = list(inputs)
    problems: list[str] = []
    for i, destination in enumerate(destinations):
        others = [(d.key, d.location) for j, d in enumerate(destinations) if j != i]
        try:
            check_outside_inputs(destination.location, inputs, key=destination.key)
            check_outside_inputs(destination.location, others, key=destination.key, role="output")
            path = local_path(destination.location)
            if path is None:
                if destination.kind == "registry":
                    raise DestinationError(
                        f"{destination.location!r} is read-only here (a URL); publish to a local "
                        "or mounted folder", path=destination.location, key=destination.key)
                raise DestinationError(
                    f"{destination.location!r} is a URL; this output is written to a local "
                    "folder: give a path", path=destination.location, key=destination.key)
            if destination.replaced_whole:
                check_replaceable(path, destination.kind, overwrite=destination.overwrite,
                                  key=destination.key, overwrite_hint=_OVERWRITE_HINT,
                                  legacy=destination.legacy)
            else:
                check_reusable(path, destination.kind, key=destination.key, legacy=destination.legacy)
        except DestinationError as exc:
            problems.append(str(exc))
    if problems or not probe:
        return problems
    created: list[Path] = []
    for destination in destinations:
        path = local_path(destination.location)
        assert path is not None  # URLs were refused above
        try:
            created += probe_writable(Path(path).parent if destination.replaced_whole else path,
                                      key=destination.key)
        except DestinationError as exc:
            problems.append(str(exc))
    if problems:  # a refused run leaves no empty folders behind either
        remove_created(created)
    return problems


# ============================================================================ the job
def check_job(config: Any, source: str, *, inputs: bool = True, probe: bool = True) -> None:
    """Check a validated job config's inputs and destinations for real, before any work.

    Parameters
    ----------
    config : BatchFitConfig, SelectKConfig, ScoreConfig or OnlineUpdateConfig
    source : str
        The config file (or a description), for the message.
    inputs : bool, default True
        Also open the data and look up model versions (False: destinations only,
        e.g. just before a flow publishes).
    probe : bool, default True
        Create the destination folders and write a probe byte in each.

    Raises
    ------
    ConfigError
        One line per problem, each naming the config key path and the way out.
    """
    problems = _input_problems(config) if inputs else []
    if isinstance(config, ScoreConfig) and config.predictions_target is None:
        problems.append(
            f"outputs.predictions: the data are at a URL ({config.data.uri}), so there is no "
            "folder beside them for the scores; give outputs.predictions (a local path)"
        )
    problems += destination_problems(job_destinations(config), job_inputs(config),
                                     probe=probe and not problems)
    if problems:
        raise ConfigError(source, problems)


def prepare_reports_folder(folder: str) -> Path:
    """The ``outputs.reports`` folder, checked, created and marked; plots go inside.

    Raises
    ------
    DestinationError
        The folder holds files streamgmm did not write, or cannot be written.
    """
    return prepare_output_folder(folder, "report", key="outputs.reports",
                                 legacy=is_legacy_reports_folder)
