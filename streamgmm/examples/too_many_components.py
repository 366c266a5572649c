"""Example 8: too many components — EM uses them all, a Dirichlet-process prior switches them off.

A two-dimensional mixture of 4 Gaussians (tilted ellipses of different sizes and
weights; synthetic and seeded) is fitted with 10 components twice: by maximum
likelihood (``GaussianMixture``, EM), which spends all 10 on the 4 clusters by
splitting them, and by variational Bayes with a Dirichlet-process prior on the
weights (``BayesianGaussianMixture``), which drives the expected weights of the
components it does not need towards zero. The picture shows both side by side:
the components in use (expected weight at least ``weight_threshold``) as solid
ellipses, the switched-off ones faint and dashed, every one with its weight.

In memory, the two fits are::

    GaussianMixture(10, random_state=0).fit(X)
    BayesianGaussianMixture(10, weight_concentration_prior_type="dirichlet_process",
                            random_state=0).fit(X).n_active_components_

    python -m streamgmm.examples.too_many_components [--size reduced|full] [--out DIR]

Sizes: ``full`` is 5,000 rows; ``reduced`` (CI) is 2,000. Everything stays in memory.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bayesian import BayesianGaussianMixture
from ..estimator import GaussianMixture
from .checkout import default_pictures
from .cli import check_size, parse_example_arguments
from .figures import new_figure, save_png
from .selection_figure import ellipse

__all__ = ["MAX_COMPONENTS", "TRUE_MEANS", "TooManyResult", "main", "make_data", "run"]

NAME = "too_many_components"
# Small on purpose: with more rows the evidence for splitting a cluster grows and the
# prior needs far more iterations to switch the extra components off (20,000 rows:
# 6 of 10 still above 0.01 after 1,000 iterations).
ROWS = {"reduced": 2_000, "full": 5_000}
MAX_COMPONENTS = 10
SEED = 8
PLOT_ROWS = 6_000
#: The true mixture: 4 clusters, distinct but touching.
TRUE_WEIGHTS = np.array([0.35, 0.3, 0.2, 0.15])
TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 6.0], [8.0, 7.0]])
TRUE_COVARIANCES = np.array([
    [[2.0, 0.9], [0.9, 1.0]],
    [[1.0, -0.6], [-0.6, 1.5]],
    [[1.5, 0.0], [0.0, 0.5]],
    [[0.6, 0.3], [0.3, 1.2]],
])


@dataclass(frozen=True)
class TooManyResult:
    """Both fits and the picture.

    Attributes
    ----------
    n_rows : int
    em_weights, bayes_weights : ndarray of shape (MAX_COMPONENTS,)
        ``weights_`` of the EM and of the Dirichlet-process fit.
    bayes_in_use : ndarray of bool, shape (MAX_COMPONENTS,)
        The Bayesian mixture's components in use (``active_components_``).
    bayes_means : ndarray of shape (MAX_COMPONENTS, 2)
    weight_threshold : float
    em_seconds, bayes_seconds : float
        Wall time of each fit.
    picture : Path
    """

    n_rows: int
    em_weights: np.ndarray
    bayes_weights: np.ndarray
    bayes_in_use: np.ndarray
    bayes_means: np.ndarray
    weight_threshold: float
    em_seconds: float
    bayes_seconds: float
    picture: Path

    @property
    def n_in_use(self) -> int:
        """Components the Dirichlet-process fit keeps in use."""
        return int(self.bayes_in_use.sum())


def make_data(n_rows: int, seed: int = SEED) -> np.ndarray:
    """``n_rows`` rows (n_rows, 2) drawn from the true 4-component mixture, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(TRUE_WEIGHTS), size=n_rows, p=TRUE_WEIGHTS)
    factors = np.linalg.cholesky(TRUE_COVARIANCES)
    noise = rng.standard_normal((n_rows, 2))
    return TRUE_MEANS[labels] + np.einsum("nij,nj->ni", factors[labels], noise)


def _draw_panel(ax: Any, sample: np.ndarray, model: Any, in_use: np.ndarray, title: str) -> None:
    """Rows in grey; in-use components solid (1 and 2 sd), switched-off ones faint and dashed."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    ax.scatter(sample[:, 0], sample[:, 1], s=3, color="0.5", alpha=0.35, linewidths=0)
    covariances = model.covariances_
    order = np.argsort(-model.weights_, kind="stable")
    colour_of = {int(k): palette(i % palette.N) for i, k in enumerate(order[in_use[order]])}
    for k in order:
        mean = model.means_[k]
        if in_use[k]:
            colour = colour_of[int(k)]
            for radius, width in ((1.0, 1.8), (2.0, 1.0)):
                points = ellipse(mean, covariances[k], radius)
                ax.plot(points[:, 0], points[:, 1], "-", color=colour, linewidth=width)
            ax.annotate(f"{model.weights_[k]:.2f}", mean, ha="center", va="center", fontsize=8,
                        fontweight="bold", color="black",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colour,
                              "alpha": 0.85})
        else:
            points = ellipse(mean, covariances[k], 1.0)
            ax.plot(points[:, 0], points[:, 1], "--", color="0.45", linewidth=0.9, alpha=0.6)
    off = model.weights_[order][~in_use[order]]
    if len(off):
        # Switched-off components collapse onto the prior (one spot): their weights
        # are listed in a corner instead of written over each other.
        ax.text(0.02, 0.98, "switched off, weights:\n" + "\n".join(f"{w:.1e}" for w in off),
                transform=ax.transAxes, ha="left", va="top", fontsize=7, color="0.3",
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.6", "alpha": 0.85})
    ax.plot(TRUE_MEANS[:, 0], TRUE_MEANS[:, 1], "o", markersize=10, markerfacecolor="none",
            markeredgecolor="black", markeredgewidth=1.2, linestyle="none",
            label="true centres")
    ax.plot([], [], "-", color="tab:blue", label="in use (weight, 1 and 2 sd)")
    ax.plot([], [], "--", color="0.45", label="switched off (weight, 1 sd)")
    low, high = np.percentile(sample, [0.2, 99.8], axis=0)
    pad = 0.08 * (high - low).max()
    ax.set_xlim(low[0] - pad, high[0] + pad)
    ax.set_ylim(low[1] - pad, high[1] + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")


def _in_use_mask(bayes: Any) -> np.ndarray:
    """``active_components_`` (indices) as a boolean mask of shape (n_components,)."""
    mask = np.zeros(bayes.n_components, dtype=bool)
    mask[bayes.active_components_] = True
    return mask


def draw(sample: np.ndarray, em: Any, bayes: Any, threshold: float, n_rows: int,
         path: Path) -> Path:
    """The EM fit and the Dirichlet-process fit side by side, saved as a small palette PNG."""
    figure = new_figure(12.5, 5.8)
    left, right = figure.subplots(1, 2)
    em_in_use = em.weights_ >= threshold
    _draw_panel(left, sample, em, em_in_use,
                f"EM (GaussianMixture), K={MAX_COMPONENTS}: {int(em_in_use.sum())} components "
                f"with weight >= {threshold:g}")
    in_use = _in_use_mask(bayes)
    _draw_panel(right, sample, bayes, in_use,
                f"Dirichlet process (BayesianGaussianMixture), K <= {MAX_COMPONENTS}: "
                f"{int(in_use.sum())} in use")
    figure.suptitle(f"{n_rows:,} rows from {len(TRUE_WEIGHTS)} Gaussians, fitted with "
                    f"{MAX_COMPONENTS} components ({len(sample):,} rows drawn)", fontsize=11)
    return save_png(figure, path)


def run(size: str = "full", out: Path | None = None, work: Path | None = None) -> TooManyResult:
    """Draw the data, fit both mixtures with 10 components, draw the picture.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``too_many_components.png`` (default ``data/examples``).
    work : Path, optional
        Unused: everything stays in memory (accepted like every example's).
    """
    n_rows = ROWS[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    X = make_data(n_rows)
    started = time.perf_counter()
    em = GaussianMixture(MAX_COMPONENTS, covariance_type="full", max_iter=500,
                         random_state=0).fit(X)
    em_seconds = time.perf_counter() - started
    started = time.perf_counter()
    bayes = BayesianGaussianMixture(
        MAX_COMPONENTS, covariance_type="full", max_iter=1000,
        weight_concentration_prior_type="dirichlet_process", random_state=0,
    ).fit(X)
    bayes_seconds = time.perf_counter() - started
    threshold = float(bayes.weight_threshold)
    sample = X[: min(PLOT_ROWS, n_rows)]  # the rows are drawn in random order
    picture = draw(sample, em, bayes, threshold, n_rows, out / f"{NAME}.png")
    return TooManyResult(
        n_rows=n_rows,
        em_weights=np.asarray(em.weights_),
        bayes_weights=np.asarray(bayes.weights_),
        bayes_in_use=_in_use_mask(bayes),
        bayes_means=np.asarray(bayes.means_),
        weight_threshold=threshold,
        em_seconds=em_seconds,
        bayes_seconds=bayes_seconds,
        picture=picture,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print both fits' weights."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    result = run(args.size, args.out, args.work)
    em = np.sort(result.em_weights)[::-1]
    bayes = np.sort(result.bayes_weights)[::-1]
    print(f"EM, K={MAX_COMPONENTS} ({result.em_seconds:.1f} s): weights "
          + " ".join(f"{w:.3f}" for w in em))
    print(f"Dirichlet process, K<={MAX_COMPONENTS} ({result.bayes_seconds:.1f} s): weights "
          + " ".join(f"{w:.1e}" if w < result.weight_threshold else f"{w:.3f}" for w in bayes))
    print(f"components in use: {result.n_in_use} (expected weight >= "
          f"{result.weight_threshold:g}); true K={len(TRUE_WEIGHTS)}; {result.n_rows:,} rows")
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
