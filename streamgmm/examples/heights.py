"""Example 6: the one-dimensional classic, heights of a mixed population.

Heights of women, N(162, 6.5²) cm, and men, N(176, 7²) cm, half and half
(synthetic and seeded), are written to Parquet and fitted with two components by
the ``batch_fit`` flow (``configs/examples/heights.yaml``). The picture draws the
fitted density and its two weighted components over the histogram, beside the
true density. The two groups overlap so much that the histogram shows hardly two
bumps: the mixture still recovers both.

In memory, the same fit is ``GaussianMixture(2, tol=1e-8).fit(heights[:, None])``.

    python -m streamgmm.examples.heights [--size reduced|full] [--out DIR]

Sizes: ``full`` is 1,000,000 people; ``reduced`` (CI) is 20,000.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .figures import new_figure, save_png
from .flow_runner import load_example_config, quiet_orchestration_logs, run_batch_fit

__all__ = ["GROUPS", "Group", "HeightsResult", "main", "run", "write_heights"]

NAME = "heights"
PEOPLE = {"reduced": 20_000, "full": 1_000_000}
ROWS_PER_GROUP = 100_000  # Parquet row groups: the chunks the fit runs in parallel
SEED = 6


@dataclass(frozen=True)
class Group:
    """One group of the population: its share and its normal distribution of heights (cm)."""

    name: str
    weight: float
    mean: float
    sd: float


GROUPS = (Group("women", 0.5, 162.0, 6.5), Group("men", 0.5, 176.0, 7.0))


@dataclass(frozen=True)
class HeightsResult:
    """The fitted groups (sorted by mean: women first) and the picture."""

    fitted: tuple[Group, ...]
    n_people: int
    picture: Path


def write_heights(path: Path, n_people: int, seed: int = SEED) -> Path:
    """Heights (``height_cm``) and the truth (``sex``) as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    weights = np.array([g.weight for g in GROUPS])
    member = rng.choice(len(GROUPS), size=n_people, p=weights / weights.sum())
    means = np.array([g.mean for g in GROUPS])[member]
    sds = np.array([g.sd for g in GROUPS])[member]
    heights = means + sds * rng.standard_normal(n_people)
    table = pa.table({
        "height_cm": heights,
        "sex": np.array([g.name for g in GROUPS])[member],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=ROWS_PER_GROUP)
    return path


def _normal_density(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def draw(heights: np.ndarray, fitted: Sequence[Group], path: Path) -> Path:
    """The histogram, the fitted density and its weighted components, the true density."""
    x = np.linspace(heights.min(), heights.max(), 600)
    figure = new_figure(8.0, 4.8)
    ax = figure.subplots()
    ax.hist(heights, bins=80, density=True, color="0.82", label=f"{len(heights):,} people")
    colours = ("tab:red", "tab:blue")
    total = np.zeros_like(x)
    for group, colour in zip(fitted, colours, strict=True):
        component = group.weight * _normal_density(x, group.mean, group.sd)
        total += component
        ax.plot(x, component, "--", color=colour, linewidth=1.5,
                label=f"{group.name}: {group.weight:.2f} x N({group.mean:.1f}, {group.sd:.2f}²)")
    ax.plot(x, total, color="black", linewidth=2, label="fitted mixture")
    truth = sum(g.weight * _normal_density(x, g.mean, g.sd) for g in GROUPS)
    ax.plot(x, truth, ":", color="tab:green", linewidth=1.5,
            label="true: 0.5 x N(162, 6.5²) + 0.5 x N(176, 7²)")
    ax.set_xlabel("height (cm)")
    ax.set_ylabel("density")
    ax.set_title("Heights of a mixed population: two Gaussians, fitted", fontsize=11)
    ax.legend(fontsize=8, loc="upper right")
    return save_png(figure, path)


def run(size: str = "full", out: Path | None = None, work: Path | None = None) -> HeightsResult:
    """Write the heights, fit two components with the flow and draw the densities.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``heights.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the data and registry.
    """
    import pyarrow.parquet as pq

    n_people = PEOPLE[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)
    data = write_heights(work / "heights.parquet", n_people)
    fit = run_batch_fit(load_example_config(
        NAME,
        data={"uri": str(data)},
        registry={"root": str(work / "registry")},
        outputs={"reports": str(work / "reports")},
    ))
    params = fit.parameters
    order = np.argsort(params.means[:, 0])
    fitted = tuple(
        Group(g.name, float(params.weights[k]), float(params.means[k, 0]),
              float(np.sqrt(params.covariances[k, 0, 0])))
        for g, k in zip(GROUPS, order, strict=True)
    )
    heights = pq.read_table(data, columns=["height_cm"])["height_cm"].to_numpy()
    return HeightsResult(fitted, n_people, draw(heights, fitted, out / f"{NAME}.png"))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print the fitted groups beside the truth."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    if not args.verbose:
        quiet_orchestration_logs()
    result = run(args.size, args.out, args.work)
    for fitted, true in zip(result.fitted, GROUPS, strict=True):
        print(
            f"{true.name:6s} weight {fitted.weight:.3f} (true {true.weight}), mean "
            f"{fitted.mean:.2f} cm (true {true.mean}), sd {fitted.sd:.2f} cm (true {true.sd})"
        )
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
