"""The deployments ``prefect.yaml`` declares, read into checked specs with parsed schedules.

Only what serving needs is read: for each entry under ``deployments``, its
``name``, ``entrypoint`` (``flows/batch_fit.py:batch_fit``, relative to the
file's folder, or ``streamgmm.orchestration.batch_fit:batch_fit``), ``parameters``, ``schedules`` (``cron``, ``interval`` in seconds
or ``rrule``, with ``timezone``, ``anchor_date``, ``active``, ``day_or``,
``parameters``, ``slug``), ``description``, ``tags``, ``paused`` and
``concurrency_limit``. Keys that only ``prefect deploy`` and workers use
(``work_pool``, ``pull``, ...) are accepted and ignored; any other key is an
error naming the entry, so a typo does not silently drop a schedule.

Schedules become :mod:`prefect.schedules` objects, so a bad cron string or
timezone is reported when the file is read, not when the first run is due.

Serving runs the package's own flows (:data:`~streamgmm.orchestration.FLOW_MODULES`):
an entrypoint names one of them, by its thin file in a checkout or by module, and
:func:`packaged_flow` returns the installed flow object; no file named by the
entrypoint is ever imported. The deployment is registered with the flow's module
path (``streamgmm.orchestration.batch_fit.batch_fit``), so every run imports the
installed package, whatever the working directory.
"""

from __future__ import annotations

import datetime
import importlib
import logging
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.schedules import Cron, Interval, RRule
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

from streamgmm.core.errors import StreamGMMError

from . import FLOW_MODULES

__all__ = [
    "DeploymentFileError", "DeploymentSpec", "api_url", "packaged_flow", "read_deployments",
    "select_deployments", "serve_deployments",
]

_SERVED_KEYS = {
    "name", "entrypoint", "parameters", "schedules", "description", "tags", "paused",
    "concurrency_limit",
}
# Used by `prefect deploy` and workers, not by serving.
_DEPLOY_ONLY_KEYS = {
    "version", "version_type", "flow_name", "work_pool", "enforce_parameter_schema", "build",
    "push", "pull", "triggers", "sla",
}
_SCHEDULE_KINDS = ("cron", "interval", "rrule")
_SCHEDULE_OPTIONS = {"timezone", "anchor_date", "active", "day_or", "parameters", "slug"}


class DeploymentFileError(StreamGMMError, ValueError):
    """``prefect.yaml`` is missing, unreadable or declares a deployment wrongly."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of ``prefect.yaml``.

    Attributes
    ----------
    name : str
        Deployment name (Prefect shows it as ``<flow>/<name>``).
    entrypoint : str
        ``path/to/file.py:function`` (relative to the folder of ``prefect.yaml``)
        or ``package.module:function``.
    parameters : dict
        The flow's parameters.
    schedules : tuple of prefect.schedules.Schedule
    description : str or None
    tags : tuple of str
    paused : bool or None
    concurrency_limit : int or None
    """

    name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[Any, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()
    paused: bool | None = None
    concurrency_limit: int | None = None

    @property
    def file(self) -> str:
        """The entrypoint's Python file or module (a file is relative to ``prefect.yaml``)."""
        return self.entrypoint.rsplit(":", 1)[0]

    @property
    def function(self) -> str:
        """The flow function's name in that file (usually the flow's name too)."""
        return self.entrypoint.rsplit(":", 1)[1]

    @property
    def full_name(self) -> str:
        """``<flow function>/<deployment name>``."""
        return f"{self.function}/{self.name}"

    def matches(self, name: str) -> bool:
        """Whether ``name`` is this deployment's name, its flow's, or ``flow/deployment``."""
        return name in (self.name, self.function, self.full_name)

    def to_deployment(self, flow: Any) -> Any:
        """A ``RunnerDeployment`` of ``flow`` with these settings (for ``prefect.serve``).

        The deployment's entrypoint is the flow's module path, so a run imports the
        installed package, not a file of the working directory.
        """
        options: dict[str, Any] = {
            "parameters": dict(self.parameters),
            "schedules": list(self.schedules),
            "description": self.description,
            "tags": list(self.tags),
        }
        if self.paused is not None:
            options["paused"] = self.paused
        if self.concurrency_limit is not None:
            options["concurrency_limit"] = self.concurrency_limit
        return flow.to_deployment(
            self.name, entrypoint_type=EntrypointType.MODULE_PATH, **options
        )


def _fail(path: Path, where: str, problem: str) -> DeploymentFileError:
    return DeploymentFileError(f"{path}: {where}: {problem}")


def _timedelta_seconds(value: Any, path: Path, where: str) -> datetime.timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(path, f"{where}.interval", f"{value!r} is not a positive number of seconds")
    return datetime.timedelta(seconds=value)


def _schedule(item: Any, path: Path, where: str) -> Any:
    """One schedule entry -> ``prefect.schedules.Schedule`` (validated by Prefect too)."""
    if not isinstance(item, Mapping):
        raise _fail(path, where, f"expected a mapping such as {{cron: '0 2 * * *'}}, got {item!r}")
    kinds = [k for k in _SCHEDULE_KINDS if k in item]
    if len(kinds) != 1:
        raise _fail(path, where, "give exactly one of cron, interval (seconds) or rrule")
    unknown = sorted(set(item) - set(_SCHEDULE_KINDS) - _SCHEDULE_OPTIONS)
    if unknown:
        raise _fail(
            path, where,
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_SCHEDULE_KINDS)}, "
            f"{', '.join(sorted(_SCHEDULE_OPTIONS))}",
        )
    timezone = item.get("timezone")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(str(timezone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _fail(path, f"{where}.timezone", f"{timezone!r} is not an IANA time zone "
                        "(e.g. UTC, Europe/Paris)") from None
    common = {
        "timezone": timezone,
        "active": bool(item.get("active", True)),
        "parameters": dict(item.get("parameters") or {}),
        "slug": item.get("slug"),
    }
    try:
        if "cron" in item:
            return Cron(str(item["cron"]), day_or=bool(item.get("day_or", True)), **common)
        if "interval" in item:
            anchor = item.get("anchor_date")
            if isinstance(anchor, str):
                anchor = datetime.datetime.fromisoformat(anchor)
            return Interval(_timedelta_seconds(item["interval"], path, where),
                            anchor_date=anchor, **common)
        return RRule(str(item["rrule"]), **common)
    except DeploymentFileError:
        raise
    except ValueError as exc:
        raise _fail(path, where, str(exc)) from None


def _spec(entry: Any, index: int, path: Path) -> DeploymentSpec:
    where = f"deployments[{index}]"
    if not isinstance(entry, Mapping):
        raise _fail(path, where, f"expected a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(path, f"{where}.name", "every deployment needs a name")
    where = f"{where} ({name})"
    if "schedule" in entry:
        raise _fail(path, f"{where}.schedule", "use 'schedules:' (a list of schedules)")
    unknown = sorted(set(entry) - _SERVED_KEYS - _DEPLOY_ONLY_KEYS)
    if unknown:
        raise _fail(path, where, f"unknown key(s) {', '.join(unknown)}; allowed: "
                    f"{', '.join(sorted(_SERVED_KEYS | _DEPLOY_ONLY_KEYS))}")
    entrypoint = entry.get("entrypoint")
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise _fail(path, f"{where}.entrypoint",
                    f"{entrypoint!r} is not of the form path/to/file.py:flow_function "
                    "or package.module:flow_function")
    parameters = entry.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise _fail(path, f"{where}.parameters", "expected a mapping of parameter names to values")
    schedules = entry.get("schedules") or []
    if not isinstance(schedules, list):
        raise _fail(path, f"{where}.schedules", "expected a list of schedules")
    tags = entry.get("tags") or []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise _fail(path, f"{where}.tags", "expected a list of strings")
    limit = entry.get("concurrency_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise _fail(path, f"{where}.concurrency_limit", f"{limit!r} is not an integer >= 1")
    return DeploymentSpec(
        name=name,
        entrypoint=entrypoint,
        parameters=dict(parameters),
        schedules=tuple(
            _schedule(item, path, f"{where}.schedules[{i}]") for i, item in enumerate(schedules)
        ),
        description=entry.get("description"),
        tags=tuple(tags),
        paused=entry.get("paused"),
        concurrency_limit=limit,
    )


def read_deployments(path: str | Path) -> list[DeploymentSpec]:
    """Read and check every deployment of a ``prefect.yaml``.

    Raises
    ------
    DeploymentFileError
        The file is missing or not YAML, or an entry is wrong (named with its
        index, name and key).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeploymentFileError(
            f"{path}: no such file; give a deployments file (e.g. the prefect.yaml of the "
            "streamgmm repository) with --prefect-yaml"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise DeploymentFileError(f"{path}: cannot be read as YAML: {exc}") from exc
    entries = document.get("deployments") if isinstance(document, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise DeploymentFileError(f"{path}: no 'deployments:' list; nothing to serve")
    specs = [_spec(entry, i, path) for i, entry in enumerate(entries)]
    names = [spec.full_name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DeploymentFileError(f"{path}: deployment(s) {', '.join(repeated)} declared twice")
    return specs


def select_deployments(specs: Sequence[DeploymentSpec], only: Sequence[str] | None
                       ) -> list[DeploymentSpec]:
    """The deployments ``only`` names (deployment, flow or ``flow/deployment`` names); all if empty.

    Raises
    ------
    DeploymentFileError
        A name matches no deployment (the message lists them).
    """
    if not only:
        return list(specs)
    unknown = [name for name in only if not any(spec.matches(name) for spec in specs)]
    if unknown:
        raise DeploymentFileError(
            f"no deployment named {', '.join(map(repr, unknown))}; the deployments are "
            f"{', '.join(spec.full_name for spec in specs)} (a flow name selects all of its own)"
        )
    return [spec for spec in specs if any(spec.matches(name) for name in only)]


def packaged_flow(spec: DeploymentSpec) -> Flow[Any, Any]:
    """The installed streamgmm flow a deployment's entrypoint names.

    ``flows/<name>.py:<name>`` (the thin entrypoint of a checkout) and
    ``streamgmm.orchestration.<name>:<name>`` both name the flow ``<name>`` of
    :data:`~streamgmm.orchestration.FLOW_MODULES`; its module is imported from the
    installed package (by name, from that table).

    Raises
    ------
    DeploymentFileError
        The entrypoint names no streamgmm flow (the message lists them).
    """
    name = spec.function
    module = FLOW_MODULES.get(name)
    accepted = (f"flows/{name}.py", module)
    if module is None or spec.file not in accepted:
        raise DeploymentFileError(
            f"{spec.full_name}: entrypoint {spec.entrypoint!r} is not a streamgmm flow; serve "
            f"runs the package's flows ({', '.join(FLOW_MODULES)}), named as "
            "flows/<flow>.py:<flow> or streamgmm.orchestration.<flow>:<flow>"
        )
    return getattr(importlib.import_module(module), name)


def api_url() -> str | None:
    """The Prefect server the deployments go to (``PREFECT_API_URL``); None: a temporary one."""
    return PREFECT_API_URL.value() or None


def serve_deployments(deployments: Sequence[Any], *, quiet: bool = False) -> None:
    """Serve ``deployments`` from this process until stopped (Ctrl-C or SIGTERM).

    Parameters
    ----------
    deployments : sequence of RunnerDeployment
        As :meth:`DeploymentSpec.to_deployment` makes them.
    quiet : bool
        Log warnings only (no run progress lines, no starting message).
    """
    if quiet:
        for name in ("prefect", "prefect.runner", "prefect.flow_runs"):
            logging.getLogger(name).setLevel(logging.WARNING)
    serve(*deployments, print_starting_message=not quiet)
