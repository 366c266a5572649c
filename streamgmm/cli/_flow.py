"""What ``streamgmm fit | select-k | score CONFIG`` share: running a packaged flow now.

Each command calls the ``COMMAND`` of its flow module in :mod:`streamgmm.orchestration`
(:class:`~streamgmm.orchestration._command.FlowCommand`) — exactly what
``python -m flows.<flow>`` does: the config is checked first (exit 2 on a mistake,
before Prefect starts), the flow runs on Prefect's ephemeral local API (or the
server ``PREFECT_API_URL`` names), progress goes to the log on stderr, and the
closing summary (model version, location, key metrics) to stdout.
"""

from __future__ import annotations

import argparse

from ..orchestration._command import FlowCommand, add_config_arguments
from ._registry import announce_config_registry

__all__ = ["flow_epilog", "configure_flow_command", "run_flow_command"]

_EPILOG = (
    "Runs now on Prefect's ephemeral local API (nothing to start), or on the Prefect server "
    "PREFECT_API_URL names. Exit codes: 0 done, 1 the run failed, 2 invalid config."
)


def flow_epilog(command: str, example: str) -> str:
    """The ``--help`` epilog of a flow command: an example, where it runs, the exit codes."""
    return f"Example: streamgmm {command} {example}. {_EPILOG}"


def configure_flow_command(parser: argparse.ArgumentParser, command: FlowCommand) -> None:
    """The arguments of a flow command: ``CONFIG`` and ``--quiet``."""
    add_config_arguments(parser, command.name)


def run_flow_command(command: FlowCommand, args: argparse.Namespace) -> int:
    """Run the flow on the parsed config; the exit code.

    Says first where the registry is when the config does not name it.
    """
    announce_config_registry(args.config, command.name, quiet=args.quiet)
    return int(command.run(args.config, quiet=args.quiet))
