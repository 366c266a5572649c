"""``streamgmm fit CONFIG``: run the ``batch_fit`` flow now (:mod:`streamgmm.orchestration`)."""

from __future__ import annotations

import argparse

from ..orchestration.batch_fit import COMMAND
from ._flow import configure_flow_command, flow_epilog, run_flow_command

__all__ = ["DESCRIPTION", "EPILOG", "configure", "run"]

DESCRIPTION = (
    "Fit a Gaussian mixture out of core as a batch_fit YAML config says, publish it as a new "
    "model version, write predictions and plots, record Prefect artifacts."
)
EPILOG = flow_epilog("fit", "configs/batch_fit.yaml")


def configure(parser: argparse.ArgumentParser) -> None:
    """``CONFIG`` and ``--quiet``."""
    configure_flow_command(parser, COMMAND)


def run(args: argparse.Namespace) -> int:
    """Run the flow; the exit code."""
    return run_flow_command(COMMAND, args)
