"""``streamgmm score CONFIG``: run the ``score`` flow now (:mod:`streamgmm.orchestration`)."""

from __future__ import annotations

import argparse

from ..orchestration.score import COMMAND
from ._flow import configure_flow_command, flow_epilog, run_flow_command

__all__ = ["DESCRIPTION", "EPILOG", "configure", "run"]

DESCRIPTION = (
    "Write labels, responsibilities and log-likelihoods of every row of a dataset, out of core, "
    "with a model version (number or alias) from the registry, and summarise them (rows, mean "
    "log-likelihood, rows per label, anomalies)."
)
EPILOG = flow_epilog("score", "configs/score.yaml")


def configure(parser: argparse.ArgumentParser) -> None:
    """``CONFIG`` and ``--quiet``."""
    configure_flow_command(parser, COMMAND)


def run(args: argparse.Namespace) -> int:
    """Run the flow; the exit code."""
    return run_flow_command(COMMAND, args)
