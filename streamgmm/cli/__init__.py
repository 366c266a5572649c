"""The ``streamgmm`` command line: one module per command; each parses, calls, prints.

``streamgmm quickstart``            :mod:`.quickstart`  streamgmm and scikit-learn side by side
``streamgmm datagen PATH``          :mod:`.datagen`     a synthetic dataset of any size
``streamgmm models ACTION``         :mod:`.models`      the model registry
``streamgmm fit CONFIG``            :mod:`.fit`         the ``batch_fit`` flow, now
``streamgmm select-k CONFIG``       :mod:`.select_k`    the ``select_k`` flow, now
``streamgmm score CONFIG``          :mod:`.score`       the ``score`` flow, now
``streamgmm serve``                 :mod:`.serve`       the deployments of a ``prefect.yaml``
``streamgmm stream CONFIG``         :mod:`.stream`      online stepwise EM on a stream
``streamgmm replay DATASET TARGET`` :mod:`.replay`      a real dataset as a live stream (brokers, Zarr, folder)
``streamgmm examples [NAME]``       :mod:`.examples`    the runnable examples

Every command module has ``DESCRIPTION`` (and optionally ``EPILOG``),
``configure(parser)`` adding its arguments, and ``run(args) -> int`` (the exit
code). The dispatcher imports only the module of the command being run, by its
name in :data:`COMMANDS`: ``streamgmm models list`` never loads Prefect or Dask.
The code always comes from the installed package: nothing is looked up in the
working directory or a checkout.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..orchestration._server import PRINT_ONLY_OPTIONS, early_server

__all__ = ["COMMANDS", "PACKAGE_FOLDER", "CommandInfo", "build_parser", "main"]

#: Commands that run a flow on Prefect: their process starts Prefect's temporary API
#: server first thing (:func:`~streamgmm.orchestration._server.early_server`).
FLOW_COMMANDS = frozenset({"fit", "select-k", "score"})

#: Where the running code is installed (``--version`` and ``serve`` say it).
PACKAGE_FOLDER = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CommandInfo:
    """A subcommand: the module implementing it and its one-line help (shown by ``--help``)."""

    module: str
    help: str


#: Subcommand -> its module under ``streamgmm.cli`` (imported only when that command runs).
COMMANDS: dict[str, CommandInfo] = {
    "quickstart": CommandInfo(
        "quickstart", "fit a synthetic dataset with streamgmm and scikit-learn side by side"
    ),
    "datagen": CommandInfo(
        "datagen", "write a synthetic mixture dataset of any size to Zarr or Parquet"
    ),
    "models": CommandInfo(
        "models", "list, show, diff, promote and garbage-collect model versions"
    ),
    "fit": CommandInfo(
        "fit", "fit one mixture out of core and publish it (the batch_fit flow)"
    ),
    "select-k": CommandInfo(
        "select_k", "fit candidate K / covariance types together, publish the best by BIC or AIC"
    ),
    "score": CommandInfo(
        "score", "label and score data with a model version from the registry (the score flow)"
    ),
    "serve": CommandInfo(
        "serve", "serve streamgmm's flows on the schedules of a prefect.yaml (Prefect)"
    ),
    "stream": CommandInfo(
        "stream", "learn online from a stream (appended Zarr store, landing folder, stdin)"
    ),
    "replay": CommandInfo(
        "replay", "replay speech frames / sensor samples into NATS, MQTT, Kafka, Redis, Zarr or a folder"
    ),
    "examples": CommandInfo(
        "examples", "list or run the examples (segmentation, anomalies, streams, ...)"
    ),
}


class _VersionAction(argparse.Action):
    """``--version``: the version and the package's folder, unwrapped (argparse's own wraps)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        # Where the code comes from: always the installed package (never the working directory).
        print(f"streamgmm {__version__} ({PACKAGE_FOLDER})")
        parser.exit()


def _requested(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``streamgmm`` parser, with the arguments of ``command`` (if given) filled in.

    Parameters
    ----------
    command : str, optional
        A key of :data:`COMMANDS`; its module is imported to add its arguments.
        The other subcommands are listed with their help only.
    """
    parser = argparse.ArgumentParser(
        prog="streamgmm",
        description="Gaussian mixture clustering for data larger than memory and for streams.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the version and where it is installed"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, info in COMMANDS.items():
        if name != command:
            commands.add_parser(name, help=info.help)
            continue
        module = importlib.import_module(f"{__name__}.{info.module}")
        sub = commands.add_parser(
            name, help=info.help, description=module.DESCRIPTION,
            epilog=getattr(module, "EPILOG", None),
        )
        module.configure(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamgmm`` command; returns the exit code.

    Called without ``argv`` (as the console script), a flow command starts
    Prefect's temporary API server first (see :data:`FLOW_COMMANDS`), and the
    process ends right after:
    the objects left are frozen out of the garbage collector, whose walk over them
    at interpreter exit (half a million after a flow: Prefect, Dask, matplotlib)
    took 1–3 s; the memory goes back to the system as the process ends anyway.
    """
    process_ends = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _requested(argv)
    # A flow command's Prefect API server starts before this process imports the
    # command (numpy, scikit-learn, Dask, Prefect) and checks its config, on the
    # other core; it is stopped at exit if the flow did not run.
    with early_server(process_ends and command in FLOW_COMMANDS
                      and not PRINT_ONLY_OPTIONS.intersection(argv)):
        args = build_parser(command).parse_args(argv)
        code = int(args.handler(args))
    if process_ends:
        gc.freeze()
    return code
