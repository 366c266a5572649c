"""``streamgmm quickstart``: streamgmm and scikit-learn side by side on a synthetic mixture.

Fits a synthetic dataset with both from the same initial parameters and prints
time per EM iteration, lower bound and accuracy.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from streamgmm import GaussianMixture

__all__ = ["DESCRIPTION", "configure", "run"]

DESCRIPTION = (
    "Fit a synthetic mixture with streamgmm and scikit-learn from the same initial parameters "
    "and compare time per iteration, lower bound and accuracy."
)


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


def run(args: argparse.Namespace) -> int:
    """Fit both, print the comparison; the exit code."""
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


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the quickstart's arguments."""
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-components", type=int, default=16)
    parser.add_argument(
        "--covariance-type", choices=("full", "tied", "diag", "spherical"), default="full"
    )
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
