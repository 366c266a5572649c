"""``streamgmm examples [NAME [ARGS...]]``: list the runnable examples, or run one.

``streamgmm examples heights --size reduced`` is ``python -m streamgmm.examples.heights
--size reduced``: the example's own ``main`` parses the rest of the line (``--size``,
``--out``, ``--work``, ``--verbose``; see :mod:`streamgmm.examples`). The examples read
their configs from the repository checkout (``configs/examples/``) and need the
``examples`` extra.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["DESCRIPTION", "EPILOG", "EXAMPLES", "configure", "run"]

#: Example name -> what it shows (its module is ``streamgmm.examples.<name>``).
EXAMPLES: dict[str, str] = {
    "image_segmentation": "colour segmentation of photographs (batch_fit flow)",
    "large_image": "the same on a 20,000 x 20,000 image, out of core",
    "customers": "soft clustering of a customer table",
    "anomalies": "anomaly detection at a chosen false-alarm rate",
    "heights": "the one-dimensional classic",
    "choosing_k": "the number of clusters by BIC (select_k flow)",
    "too_many_components": "EM uses every component, a Dirichlet-process prior switches some off",
    "streams": "speech and sensor streams, learnt online",
}

DESCRIPTION = "List the runnable examples, or run one (its arguments follow its name)."
EPILOG = "Examples: streamgmm examples; streamgmm examples heights --size reduced."


def configure(parser: argparse.ArgumentParser) -> None:
    """``NAME`` (optional) and the example's own arguments."""
    parser.add_argument("name", nargs="?", choices=tuple(EXAMPLES), metavar="NAME",
                        help=f"the example to run: {', '.join(EXAMPLES)} (omit to list them)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="the example's arguments, e.g. --size reduced (see NAME --help)")


def run(args: argparse.Namespace) -> int:
    """List the examples, or run one; the exit code."""
    if args.name is None:
        for name, what in EXAMPLES.items():
            print(f"{name:20s} {what}")
        return 0
    module = importlib.import_module(f"streamgmm.examples.{args.name}")
    return int(module.main(args.arguments))
