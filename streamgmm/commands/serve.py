"""``streamgmm serve``: serve the deployments of ``prefect.yaml`` on their schedules.

Reads ``prefect.yaml`` (default: the checkout's, see :mod:`.project`), loads
each deployment's flow from its entrypoint, and serves them all with
``prefect.serve(*[flow.to_deployment(...)])`` until stopped (Ctrl-C or
SIGTERM; Prefect then pauses their schedules). The process works from the
folder of ``prefect.yaml``: entrypoints and the config paths in the
parameters are relative to it, and served runs start in it.

A deployment whose flow file does not exist yet is skipped with a warning
(unless ``--only`` names it, which is an error): a checkout can declare a
schedule for a flow that is still being written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .deployments import DeploymentFileError, DeploymentSpec, read_deployments, select_deployments
from .project import ProjectNotFoundError, find_project_root

__all__ = ["add_serve_command", "build_deployments", "run_serve"]

_DESCRIPTION = (
    "Serve the flows' deployments declared in prefect.yaml (schedules, parameters) from this "
    "process: Prefect starts each scheduled run here, until the command is stopped."
)
_EPILOG = (
    "Needs a running Prefect server for the schedules to outlive this command: start one with "
    "'prefect server start' and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api). "
    "Examples: streamgmm serve; streamgmm serve --only batch_fit score."
)


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the ``streamgmm`` subparsers."""
    parser = commands.add_parser(
        "serve", help="serve the scheduled deployments of prefect.yaml (Prefect)",
        description=_DESCRIPTION, epilog=_EPILOG,
    )
    parser.add_argument(
        "--prefect-yaml", metavar="PATH", type=Path, default=None,
        help="the deployments file (default: prefect.yaml at the root of the checkout)",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", default=None,
        help="serve only these: deployment names, flow names (all of a flow's deployments) or "
        "flow/deployment",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="log warnings only (no run progress lines)"
    )
    parser.set_defaults(handler=run_serve)


def build_deployments(
    specs: Sequence[DeploymentSpec], root: Path, *, required: Sequence[str] = ()
) -> tuple[list[Any], list[DeploymentSpec]]:
    """The ``RunnerDeployment`` of every spec whose flow file exists under ``root``.

    Entrypoints are loaded relative to the working directory, which must be
    ``root`` (Prefect records them relative to it for the runs).

    Parameters
    ----------
    specs : sequence of DeploymentSpec
    root : Path
        The folder of ``prefect.yaml``.
    required : sequence of str
        Names (as ``--only`` takes them) whose flow file must exist.

    Returns
    -------
    deployments : list of RunnerDeployment
    skipped : list of DeploymentSpec
        Those whose flow file does not exist (yet).

    Raises
    ------
    DeploymentFileError
        A required deployment's file is missing, or an entrypoint is not a flow.
    """
    from prefect.flows import load_flow_from_entrypoint

    deployments, skipped = [], []
    for spec in specs:
        if not (root / spec.file).is_file():
            if any(spec.matches(name) for name in required):
                raise DeploymentFileError(
                    f"{spec.full_name}: its flow file {root / spec.file} does not exist"
                )
            skipped.append(spec)
            continue
        try:
            flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)
        except Exception as exc:  # noqa: BLE001 - any import error of user code, reported whole
            raise DeploymentFileError(
                f"{spec.full_name}: cannot load the flow {spec.entrypoint} from {root}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        deployments.append(spec.to_deployment(flow))
    return deployments, skipped


def run_serve(args: argparse.Namespace) -> int:
    """Serve the selected deployments until stopped; the exit code."""
    try:
        path = (args.prefect_yaml or find_project_root() / "prefect.yaml").resolve()
        specs = select_deployments(read_deployments(path), args.only)
        # Entrypoints and config paths in prefect.yaml are relative to its folder,
        # and served runs start in the working directory.
        os.chdir(path.parent)
        deployments, skipped = build_deployments(specs, path.parent, required=args.only or ())
    except (DeploymentFileError, ProjectNotFoundError) as exc:
        print(f"streamgmm serve: {exc}", file=sys.stderr)
        return 2
    for spec in skipped:
        print(
            f"streamgmm serve: skipping {spec.full_name}: {spec.file} does not exist yet",
            file=sys.stderr,
        )
    if not deployments:
        print("streamgmm serve: nothing to serve", file=sys.stderr)
        return 2
    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print(
            "streamgmm serve: PREFECT_API_URL is not set, so the deployments live on a temporary "
            "local API that stops with this command. For lasting schedules and the UI, run "
            "'prefect server start' and set PREFECT_API_URL.",
            file=sys.stderr,
        )
    if args.quiet:
        for name in ("prefect", "prefect.runner", "prefect.flow_runs"):
            logging.getLogger(name).setLevel(logging.WARNING)
    serve(*deployments, print_starting_message=not args.quiet)
    return 0
