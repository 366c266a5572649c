"""Running a flow as a command: check the config, run the flow on Prefect, print the result.

``python -m flows.<name> CONFIG`` and ``streamgmm <command> CONFIG`` both end in
:meth:`FlowCommand.run`, so they run the same flow function the same way.

Exit codes: 0 done; 1 the run failed (the message names the error); 2 the config
is invalid or its destinations unusable (rejected before any orchestration, so
no Prefect API starts for a typo).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect.settings import (
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)

from ._api import flow_run_api
from ._shared import quiet_logging
from streamgmm.config import ConfigError
from streamgmm.core.errors import StreamGMMError
from streamgmm.drivers.compute import started_ahead
from streamgmm.io.sources import open_rows

__all__ = [
    "EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "FlowCommand", "add_config_arguments", "compute_ahead",
    "ephemeral_startup_allowance",
]

#: The first start of the ephemeral API on a fresh machine creates its database and
#: runs migrations, which can take longer than Prefect's default 20 s.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 120


@contextlib.contextmanager
def ephemeral_startup_allowance() -> Iterator[None]:
    """The defaults of the temporary Prefect API a command starts.

    Its start-up may take :data:`EPHEMERAL_STARTUP_TIMEOUT_SECONDS`, and its
    telemetry is off: the temporary server lives for one command, and offline its
    telemetry call fails with an ERROR line on every run. A value set by the user
    (environment or profile) wins over these defaults.
    """
    with temporary_settings(set_defaults={
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
    }):
        yield


def compute_ahead(config: Any) -> contextlib.AbstractContextManager[None]:
    """Start the local cluster a job's flow will use, now (see :func:`started_ahead`).

    Only for configs with a ``compute`` section; "auto" is decided on the size of
    the data (opened lazily, metadata only), as the flow will decide it.
    """
    compute = getattr(config, "compute", None)
    if compute is None:
        return contextlib.nullcontext()
    params = compute.scheduler_params()
    if params["scheduler"] == "auto":
        rows = open_rows(config.data.uri, **config.data.open_options())
        params["data_nbytes"] = rows.array.nbytes
    return started_ahead(**params)


@dataclass(frozen=True)
class FlowCommand:
    """A flow that takes a config path, run as a command.

    Attributes
    ----------
    name : str
        The flow's name (``batch_fit``), used in messages and ``prog``.
    description : str
        What the command does, for ``--help``.
    flow : callable
        The Prefect flow, called as ``flow(config_path)``; its result has
        ``summary_lines()``.
    preflight : callable
        ``preflight(config_path)`` validates the config and its destinations,
        raising :class:`~streamgmm.config.ConfigError`; called before the flow.
    warm_up : tuple of str
        Modules the flow's tasks import on first use (matplotlib for plots),
        imported before waiting for Prefect's API server: while it starts, on the
        other core, rather than in the middle of the run.
    """

    name: str
    description: str
    flow: Callable[[str], Any]
    preflight: Callable[[str], Any]
    warm_up: tuple[str, ...] = field(default=())

    def run(self, config_path: str, *, quiet: bool = False) -> int:
        """Check the config, run the flow, print its closing summary; the exit code."""
        try:
            config = self.preflight(config_path)
        except ConfigError as exc:
            print(f"{self.name}: invalid config\n{exc}", file=sys.stderr)
            return 2
        except (StreamGMMError, OSError) as exc:  # e.g. an unreachable registry
            print(f"{self.name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        if quiet:
            quiet_logging()
        try:
            # Prefect's API server, the job's cluster (if any) and the imports of
            # warm_up go side by side; the flow runs once all are done, and reuses
            # that cluster.
            with ephemeral_startup_allowance(), flow_run_api() as api:
                with compute_ahead(config):
                    for module in self.warm_up:
                        importlib.import_module(module)
                    with api:
                        result = self.flow(config_path)
        except (StreamGMMError, OSError, ValueError) as exc:
            print(f"{self.name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print("\n".join(result.summary_lines()))
        return 0

    def parser(self) -> argparse.ArgumentParser:
        """``python -m flows.<name> CONFIG [--quiet]``."""
        parser = argparse.ArgumentParser(
            prog=f"python -m flows.{self.name}",
            description=f"{self.description} Runs on Prefect's ephemeral local API unless "
            "PREFECT_API_URL names a server.",
        )
        add_config_arguments(parser, self.name)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Entry point of ``python -m flows.<name>``.

        Called without ``argv``, the process ends right after: the objects left are
        frozen out of the garbage collector (as in ``streamgmm.cli.main``), sparing
        its 1–3 s walk over them at interpreter exit.
        """
        process_ends = argv is None
        args = self.parser().parse_args(argv)
        code = self.run(args.config, quiet=args.quiet)
        if process_ends:
            gc.freeze()
        return code


def add_config_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The arguments every flow command takes: the config file and ``--quiet``."""
    parser.add_argument("config", metavar="CONFIG", help=f"{name} YAML config file")
    parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="show warnings and the result only (no progress lines)",
    )
