"""``streamgmm serve``: serve streamgmm's flows on the schedules of a ``prefect.yaml``.

Reads the deployments file (``--prefect-yaml``, default ``prefect.yaml`` in the
working directory: the repository's names the thin ``flows/<flow>.py:<flow>``
entrypoints), takes each deployment's flow from the installed package
(:func:`~streamgmm.orchestration.deployments.packaged_flow`; no file of the
checkout or the working directory is imported), prints what it serves (the package's
version and folder, the deployments file, the working folder, the Prefect API, and per
deployment its flow, code, ``prefect.yaml`` entrypoint, parameters, schedules and the
registry its config uses), and serves
them all with ``prefect.serve`` until stopped (Ctrl-C or SIGTERM; Prefect then
pauses their schedules). The deployments are registered by module path
(``streamgmm.orchestration.batch_fit.batch_fit``). The process works from the
folder of ``prefect.yaml``: the config paths in the parameters are relative to it,
and served runs start in it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, load_config
from ..orchestration._command import ephemeral_startup_allowance
from ..orchestration.deployments import (
    DeploymentFileError,
    DeploymentSpec,
    api_url,
    packaged_flow,
    read_deployments,
    select_deployments,
    serve_deployments,
)
from . import PACKAGE_FOLDER
from ._registry import config_registry_location

__all__ = [
    "DESCRIPTION", "EPILOG", "build_deployments", "configure", "describe", "registry_line", "run",
]

DESCRIPTION = (
    "Serve streamgmm's flows as the deployments of a prefect.yaml declare them (schedules, "
    "parameters) from this process: Prefect starts each scheduled run here, until the command "
    "is stopped. The flows are the installed package's, whatever the entrypoints' files contain."
)
EPILOG = (
    "Needs a running Prefect server for the schedules to outlive this command: start one with "
    "'prefect server start' and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api). "
    "Examples: streamgmm serve; streamgmm serve --prefect-yaml deploy/prefect.yaml --only "
    "batch_fit score."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``serve``."""
    parser.add_argument(
        "--prefect-yaml", metavar="PATH", type=Path, default=Path("prefect.yaml"),
        help="the deployments file (default: prefect.yaml in the working directory)",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", default=None,
        help="serve only these: deployment names, flow names (all of a flow's deployments) or "
        "flow/deployment",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="log warnings only (no run progress lines)"
    )


def build_deployments(specs: Sequence[DeploymentSpec]) -> list[Any]:
    """The ``RunnerDeployment`` of every spec, with the installed package's flow.

    Raises
    ------
    DeploymentFileError
        An entrypoint names no streamgmm flow.
    """
    return [spec.to_deployment(packaged_flow(spec)) for spec in specs]


def describe(spec: DeploymentSpec, deployment: Any) -> str:
    """What a deployment serves: flow and code, the ``prefect.yaml`` entrypoint, parameters,
    schedules (one line, then indented lines)."""
    module = sys.modules[deployment.entrypoint.rsplit(".", 1)[0]]
    schedules = "; ".join(_schedule_text(s) for s in spec.schedules) or "no schedule"
    parameters = ", ".join(f"{k}={v}" for k, v in spec.parameters.items()) or "no parameters"
    return (
        f"{spec.full_name}: {deployment.entrypoint} ({module.__file__}); {parameters}; "
        f"{schedules}\n"
        f"    entrypoint in prefect.yaml {spec.entrypoint} (served from the installed package)"
    )


def registry_line(spec: DeploymentSpec) -> str | None:
    """Where a deployment's config publishes or reads models, and how that was found.

    The config path is relative to the working folder (``prefect.yaml``'s). None
    when the deployment has no ``config_path``; a config that cannot be read says so
    (the run will report it in full).
    """
    config_path = spec.parameters.get("config_path")
    if not isinstance(config_path, str):
        return None
    try:
        config = load_config(config_path, kind=spec.function)
    except (ConfigError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        return f"    config {config_path} cannot be loaded now: {first}"
    location = config_registry_location(config, config_path)
    if location is None:
        return f"    config {config_path}: no registry"
    return f"    config {config_path}: registry {location.root} (from {location.origin})"


def _schedule_text(schedule: Any) -> str:
    zone = f" {schedule.timezone}" if schedule.timezone else ""
    if getattr(schedule, "cron", None):
        return f"cron '{schedule.cron}'{zone}"
    if getattr(schedule, "interval", None):
        return f"every {schedule.interval.total_seconds():g} s"
    return f"rrule '{schedule.rrule}'{zone}"


def run(args: argparse.Namespace) -> int:
    """Serve the selected deployments until stopped; the exit code."""
    try:
        path = args.prefect_yaml.resolve()
        specs = select_deployments(read_deployments(path), args.only)
        deployments = build_deployments(specs)
    except DeploymentFileError as exc:
        print(f"streamgmm serve: {exc}", file=sys.stderr)
        return 2
    # Config paths in prefect.yaml are relative to its folder, and served runs start in
    # the working directory.
    os.chdir(path.parent)
    url = api_url()
    print(f"streamgmm serve: streamgmm {__version__} installed at {PACKAGE_FOLDER}")
    print(f"  deployments file  {path}")
    print(f"  working folder    {path.parent} (config paths resolve here; runs start here)")
    print(f"  Prefect API       {url or 'a temporary local API started by this command'}")
    print(f"{len(deployments)} deployment(s):")
    for spec, deployment in zip(specs, deployments, strict=True):
        print(f"  {describe(spec, deployment)}")
        line = registry_line(spec)
        if line is not None:
            print(line)
    sys.stdout.flush()
    if url is None:
        print(
            "streamgmm serve: PREFECT_API_URL is not set, so the deployments live on a temporary "
            "local API that stops with this command. For lasting schedules and the UI, run "
            "'prefect server start' and set PREFECT_API_URL.",
            file=sys.stderr,
        )
    with ephemeral_startup_allowance():  # the temporary API's defaults (no telemetry)
        serve_deployments(deployments, quiet=args.quiet)
    return 0
