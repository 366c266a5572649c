"""``streamgmm select-k CONFIG``: run the ``select_k`` flow now (:mod:`streamgmm.orchestration`)."""

from __future__ import annotations

import argparse

from ..orchestration.select_k import COMMAND
from ._flow import configure_flow_command, flow_epilog, run_flow_command

__all__ = ["DESCRIPTION", "EPILOG", "configure", "run"]

DESCRIPTION = (
    "Fit every candidate number of components (and covariance type) of a select_k YAML config "
    "together, sharing each pass over the data; choose by BIC or AIC; publish the winner with "
    "every candidate's criteria; plot the criteria."
)
EPILOG = flow_epilog("select-k", "configs/select_k.yaml")


def configure(parser: argparse.ArgumentParser) -> None:
    """``CONFIG`` and ``--quiet``."""
    configure_flow_command(parser, COMMAND)


def run(args: argparse.Namespace) -> int:
    """Run the flow; the exit code."""
    return run_flow_command(COMMAND, args)
