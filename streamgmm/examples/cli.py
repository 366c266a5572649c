"""The command line every example shares: ``--size``, ``--out``, ``--work``, ``--verbose``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = ["SIZES", "Size", "check_size", "parse_example_arguments"]

Size = Literal["reduced", "full"]
#: "full" makes the README's pictures; "reduced" is the quick version CI runs.
SIZES: tuple[str, ...] = ("reduced", "full")


def check_size(size: str) -> Size:
    """``size`` itself, or a ValueError naming the choices."""
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not known; choose 'reduced' or 'full'")
    return size  # type: ignore[return-value]


def parse_example_arguments(
    module: str, description: str, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse an example's command line.

    Parameters
    ----------
    module : str
        The example's module name, for ``prog`` (``python -m streamgmm.examples.<module>``).
    description : str
        The first paragraph of the module's docstring.
    argv : sequence of str, optional
        Default: ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
        ``size`` (str), ``out`` and ``work`` (Path or None: the example's defaults),
        ``verbose`` (bool).
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m streamgmm.examples.{module}", description=description
    )
    parser.add_argument(
        "--size", choices=SIZES, default="full",
        help="full (default) makes the README's pictures; reduced is the quick CI version",
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="folder for the pictures (default: data/examples/ in the checkout)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, metavar="DIR",
        help=f"folder for generated data, registry and predictions (default: "
        f"data/generated/examples/{module}/ in the checkout)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="show the orchestration's progress logs (EM iterations, task states)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    return args
