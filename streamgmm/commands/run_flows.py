"""``streamgmm fit | select-k | score CONFIG``: run a flow of the checkout now.

Each command imports ``flows.<flow>`` from the checkout (see :mod:`.project`)
and calls its ``COMMAND.run`` — exactly what ``python -m flows.<flow>`` does:
the config is checked first (exit 2 on a mistake, before Prefect starts), the
flow runs on Prefect's ephemeral local API (or the server ``PREFECT_API_URL``
names), progress goes to the log on stderr, and the closing summary (model
version, location, key metrics) to stdout.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any

from .project import ProjectNotFoundError, import_flow_module

__all__ = ["FLOW_COMMANDS", "FlowCommandInfo", "add_flow_commands", "run_flow_command"]


@dataclass(frozen=True)
class FlowCommandInfo:
    """A ``streamgmm`` subcommand that runs a flow."""

    flow: str
    help: str
    description: str
    example: str


#: Subcommand -> the flow it runs.
FLOW_COMMANDS: dict[str, FlowCommandInfo] = {
    "fit": FlowCommandInfo(
        flow="batch_fit",
        help="fit one mixture out of core and publish it (the batch_fit flow)",
        description="Fit a Gaussian mixture out of core as a batch_fit YAML config says, "
        "publish it as a new model version, write predictions and plots, record Prefect "
        "artifacts.",
        example="configs/batch_fit.yaml",
    ),
    "select-k": FlowCommandInfo(
        flow="select_k",
        help="fit candidate K / covariance types together, publish the best by BIC or AIC",
        description="Fit every candidate number of components (and covariance type) of a "
        "select_k YAML config together, sharing each pass over the data; choose by BIC or "
        "AIC; publish the winner with every candidate's criteria; plot the criteria.",
        example="configs/select_k.yaml",
    ),
    "score": FlowCommandInfo(
        flow="score",
        help="label and score data with a model version from the registry (the score flow)",
        description="Write labels, responsibilities and log-likelihoods of every row of a "
        "dataset, out of core, with a model version (number or alias) from the registry, and "
        "summarise them (rows, mean log-likelihood, rows per label, anomalies).",
        example="configs/score.yaml",
    ),
}

_EPILOG = (
    "Runs now on Prefect's ephemeral local API (nothing to start), or on the Prefect server "
    "PREFECT_API_URL names. Exit codes: 0 done, 1 the run failed, 2 invalid config."
)


def add_flow_commands(commands: Any) -> None:
    """Add ``fit``, ``select-k`` and ``score`` to the ``streamgmm`` subparsers."""
    for name, info in FLOW_COMMANDS.items():
        parser = commands.add_parser(
            name, help=info.help, description=info.description,
            epilog=f"Example: streamgmm {name} {info.example}. {_EPILOG}",
        )
        parser.add_argument("config", metavar="CONFIG", help=f"{info.flow} YAML config file")
        parser.add_argument(
            "-q", "--quiet", action="store_true",
            help="show warnings and the result only (no progress lines)",
        )
        parser.set_defaults(handler=partial(run_flow_command, name))


def run_flow_command(name: str, args: argparse.Namespace) -> int:
    """Run the flow of subcommand ``name`` with the parsed arguments; the exit code."""
    info = FLOW_COMMANDS[name]
    try:
        module = import_flow_module(info.flow)
    except ProjectNotFoundError as exc:
        print(f"streamgmm {name}: {exc}", file=sys.stderr)
        return 2
    return int(module.COMMAND.run(args.config, quiet=args.quiet))
