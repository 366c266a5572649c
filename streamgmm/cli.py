"""The ``streamgmm`` command line.

Parses arguments, calls the library, prints results. Commands:

``streamgmm quickstart``
    Fit a mixture to a synthetic dataset with streamgmm and scikit-learn from
    the same initial parameters and print both, side by side.
``streamgmm datagen PATH``
    Write a synthetic mixture dataset of any size to Zarr or Parquet.
``streamgmm models ACTION``
    Inspect and manage the model registry.
``streamgmm fit | select-k | score CONFIG``
    Run a Prefect flow of the checkout now (see :mod:`streamgmm.commands`).
``streamgmm serve``
    Serve the deployments of ``prefect.yaml`` on their schedules.
``streamgmm stream CONFIG``
    Consume a stream with online stepwise EM (see :mod:`streamgmm.online.command`).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Sequence

import numpy as np

__all__ = ["main", "build_parser"]


def _synthetic_mixture(
    n_samples: int, n_features: int, n_components: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn from a random, well separated Gaussian mixture; returns (X, labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n_samples)
    mixing = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features)
    noise = rng.normal(size=(n_samples, n_features))
    X = centres[labels] + np.einsum("nd,nde->ne", noise, mixing[labels])
    return X, labels


def _quickstart(args: argparse.Namespace) -> int:
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from . import GaussianMixture

    X, truth = _synthetic_mixture(args.n_samples, args.n_features, args.n_components, args.seed)
    print(
        f"data: {args.n_samples:,} rows x {args.n_features} features from a "
        f"{args.n_components}-component mixture (seed {args.seed})"
    )
    starter = SklearnGaussianMixture(
        args.n_components, covariance_type=args.covariance_type, max_iter=1, random_state=args.seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starter.fit(X[: min(len(X), 20_000)])
    common = dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        max_iter=args.max_iter,
        tol=0.0,
        weights_init=starter.weights_,
        means_init=starter.means_,
        precisions_init=starter.precisions_,
    )
    results = []
    for name, model in (
        ("scikit-learn", SklearnGaussianMixture(**common)),
        ("streamgmm", GaussianMixture(**common)),
    ):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        elapsed = time.perf_counter() - started
        ari = adjusted_rand_score(truth, model.predict(X))
        results.append((name, elapsed / model.n_iter_, model.lower_bound_, ari))
    print(f"{'':14}{'s / iteration':>15}{'lower bound':>16}{'ARI vs truth':>14}")
    for name, per_iter, bound, ari in results:
        print(f"{name:14}{per_iter:15.4f}{bound:16.8f}{ari:14.4f}")
    speedup = results[0][1] / results[1][1]
    print(
        f"streamgmm: {speedup:.1f}x faster per EM iteration, lower bound differs by "
        f"{abs(results[0][2] - results[1][2]):.1e}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="streamgmm",
        description="Gaussian mixture clustering for data larger than memory and for streams.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quick = commands.add_parser(
        "quickstart",
        help="fit a synthetic dataset with streamgmm and scikit-learn side by side",
        description="Fit a synthetic mixture with streamgmm and scikit-learn from the same "
        "initial parameters and compare time per iteration, lower bound and accuracy.",
    )
    quick.add_argument("--n-samples", type=int, default=200_000)
    quick.add_argument("--n-features", type=int, default=16)
    quick.add_argument("--n-components", type=int, default=16)
    quick.add_argument(
        "--covariance-type", choices=("full", "tied", "diag", "spherical"), default="full"
    )
    quick.add_argument("--max-iter", type=int, default=10)
    quick.add_argument("--seed", type=int, default=0)
    quick.set_defaults(handler=_quickstart)

    from .io.datagen import add_datagen_arguments, run_datagen

    datagen = commands.add_parser(
        "datagen",
        help="write a synthetic mixture dataset of any size to Zarr or Parquet",
        description="Write a synthetic Gaussian-mixture dataset chunk by chunk (bounded memory), "
        "with its true parameters saved beside it.",
    )
    add_datagen_arguments(datagen)
    datagen.set_defaults(handler=run_datagen)

    from .registry.cli import add_models_subcommands

    models = commands.add_parser(
        "models",
        help="list, show, diff, promote and garbage-collect model versions",
        description="Inspect and manage the versioned model registry.",
    )
    add_models_subcommands(models.add_subparsers(dest="models_command", required=True, metavar="ACTION"))
    models.set_defaults(handler=lambda args: args.func(args))

    from .commands import add_flow_commands, add_serve_command

    add_flow_commands(commands)
    add_serve_command(commands)

    from .online.command import add_stream_parser

    add_stream_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamgmm`` command."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
