"""Example 2: choosing the number of clusters, with BIC, on data whose true K is known.

A synthetic two-dimensional mixture of 5 Gaussians (tilted ellipses of different
sizes and weights, distinct but overlapping; seeded) is written to Zarr, and the
``select_k`` flow (``configs/examples/choosing_k.yaml``) fits every candidate,
K = 1 to 10 with full and with diagonal covariances, together, sharing each pass
over the data; it publishes the candidate with the lowest BIC. The picture draws
BIC and AIC against K with the winner starred, and the winner's ellipses over the
data with the true centres.

In memory, one candidate is ``GaussianMixture(5, tol=1e-6).fit(X).bic(X)``; the
flow fits all twenty out of core, sharing each pass over the data between them.

    python -m streamgmm.examples.choosing_k [--size reduced|full] [--out DIR]

Sizes: ``full`` is 1,000,000 rows; ``reduced`` (CI) is 20,000.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.params import MixtureParameters
from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .flow_runner import load_example_select_k_config, quiet_orchestration_logs, run_select_k
from .selection_figure import draw_selection

__all__ = ["CandidateScore", "ChoosingKResult", "TRUE_K", "main", "run", "write_mixture"]

NAME = "choosing_k"
ROWS = {"reduced": 20_000, "full": 1_000_000}
CHUNK_ROWS = 100_000  # Zarr chunks: the tasks each shared pass runs in parallel
TRUE_K = 5
N_FEATURES = 2  # two, so the ellipses are drawn in the data's own coordinates
# Closest pair of means 3 largest standard deviations apart: clusters touch, and
# nearest-mean classification of that pair errs for up to 7% of its rows.
SEPARATION = 3.0
SEED = 5  # a layout with visibly tilted ellipses, so full and diag differ
PLOT_ROWS = 8_000


@dataclass(frozen=True)
class CandidateScore:
    """One candidate mixture and its information criteria (lower is better)."""

    n_components: int
    covariance_type: str
    bic: float
    aic: float


@dataclass(frozen=True)
class ChoosingKResult:
    """What the selection found, what it cost, and where it was published.

    Attributes
    ----------
    candidates : tuple of CandidateScore
        Every candidate, in the flow's order (by covariance type, then K).
    chosen : CandidateScore
        The winner by ``criterion``.
    criterion : str
    truth, winner : MixtureParameters
        The generating mixture and the published winner.
    n_rows : int
    flow_seconds : float
        Wall time of the ``select_k`` flow run (fits, evaluation, publishing, plots).
    n_passes : int
        EM passes over the data all candidates shared.
    registry : Path
    model, version : str, int
        The published winner.
    picture : Path
    """

    candidates: tuple[CandidateScore, ...]
    chosen: CandidateScore
    criterion: str
    truth: MixtureParameters
    winner: MixtureParameters
    n_rows: int
    flow_seconds: float
    n_passes: int
    registry: Path
    model: str
    version: int
    picture: Path

    def curve(self, covariance_type: str, criterion: str = "bic") -> dict[int, float]:
        """K -> criterion of one covariance type's candidates."""
        return {
            c.n_components: getattr(c, criterion)
            for c in self.candidates if c.covariance_type == covariance_type
        }


def write_mixture(path: Path, n_rows: int) -> MixtureParameters:
    """Write the seeded 5-component mixture (``X``, true ``labels``) to Zarr; return the truth."""
    from ..io.datagen import generate_mixture_dataset, true_parameters

    info = generate_mixture_dataset(
        path, n_samples=n_rows, n_features=N_FEATURES, n_components=TRUE_K,
        separation=SEPARATION, seed=SEED, chunk_rows=CHUNK_ROWS, overwrite=True,
    )
    return true_parameters(info.path)


def _scores(record: Mapping[str, object]) -> tuple[CandidateScore, ...]:
    """The candidates of a registry selection record (``metrics.extra["selection"]``)."""
    return tuple(
        CandidateScore(int(c["n_components"]), str(c["covariance_type"]),
                       float(c["bic"]), float(c["aic"]))
        for c in record["candidates"]  # type: ignore[union-attr]
    )


def _plot_sample(path: Path, n_rows: int) -> np.ndarray:
    """A seeded random sample of the rows (all rows, 8 MB at full size, are read once)."""
    import zarr

    rows = np.sort(np.random.default_rng(0).choice(n_rows, min(PLOT_ROWS, n_rows), replace=False))
    return np.asarray(zarr.open_array(str(path), path="X", mode="r")[:], dtype=np.float64)[rows]


def run(size: str = "full", out: Path | None = None, work: Path | None = None) -> ChoosingKResult:
    """Write the mixture, run ``select_k`` on it, and draw the criteria and the winner.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``choosing_k.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the data, the config the flow ran, the registry and the flow's reports.
    """
    from ..estimator import GaussianMixture

    n_rows = ROWS[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)
    data = work / "mixture.zarr"
    truth = write_mixture(data, n_rows)
    config = load_example_select_k_config(
        NAME,
        data={"uri": str(data)},
        registry={"root": str(work / "registry")},
        outputs={"reports": str(work / "reports")},
    )
    started = time.perf_counter()
    selection = run_select_k(config, work / f"{NAME}.yaml")
    flow_seconds = time.perf_counter() - started

    # The picture shows what the registry recorded, not only what the flow returned.
    candidates = _scores(selection.selection)
    chosen_record = selection.selection["chosen"]
    chosen = next(
        c for c in candidates
        if (c.n_components, c.covariance_type)
        == (chosen_record["n_components"], chosen_record["covariance_type"])
    )
    criterion = str(selection.selection["criterion"])
    sample = _plot_sample(data, n_rows)
    labels = GaussianMixture.from_parameters(selection.parameters).predict(sample)
    picture = draw_selection(
        [c.n_components for c in candidates], [c.covariance_type for c in candidates],
        [c.bic for c in candidates], [c.aic for c in candidates],
        chosen=candidates.index(chosen), criterion=criterion, sample=sample, labels=labels,
        params=selection.parameters, true_means=truth.means, n_rows=n_rows,
        path=out / f"{NAME}.png",
    )
    return ChoosingKResult(
        candidates=candidates,
        chosen=chosen,
        criterion=criterion,
        truth=truth,
        winner=selection.parameters,
        n_rows=n_rows,
        flow_seconds=flow_seconds,
        n_passes=selection.result.n_passes,
        registry=Path(config.registry.root),
        model=selection.model,
        version=selection.version,
        picture=picture,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print every candidate, the winner and the timing."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    if not args.verbose:
        quiet_orchestration_logs()
    result = run(args.size, args.out, args.work)
    for c in result.candidates:
        mark = "  <- chosen" if c == result.chosen else ""
        print(f"K={c.n_components:<3d} {c.covariance_type:<5s} BIC {c.bic:15.1f}  "
              f"AIC {c.aic:15.1f}{mark}")
    print(
        f"chosen by {result.criterion.upper()}: K={result.chosen.n_components} "
        f"{result.chosen.covariance_type} (true K={TRUE_K}); {len(result.candidates)} "
        f"candidates on {result.n_rows:,} rows in {result.flow_seconds:.1f} s "
        f"({result.n_passes} shared EM passes); published {result.model} "
        f"v{result.version} in {result.registry}"
    )
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
