"""Example 3: soft clustering of customers, and the uncertain ones between segments.

A synthetic customer table (Parquet: ``customer_id``, annual spend, visits per month,
basket size, days since the last purchase; four overlapping segments, see
:mod:`.customer_table`) is clustered by the ``batch_fit`` flow
(``configs/examples/customers.yaml``: K = 4, full covariance), which writes every
customer's membership probabilities (``predict_proba``), label and log-likelihood
to Zarr. Customers whose largest membership probability is below 0.8 sit between
segments: a segmentation decision about them deserves a second look. They are
listed, with the two segments they are torn between, in
``uncertain_customers.parquet`` in the work folder.

The picture shows the customers on the first two principal axes of the
standardised columns, coloured by their largest membership probability (uncertain
ones ringed), the distribution of that probability, and which pairs of segments
the uncertain customers fall between. Components are named after the true segment
most of their customers come from.

    python -m streamgmm.examples.customers [--size reduced|full] [--out DIR]

Sizes: ``full`` is 1,000,000 customers in 10 files; ``reduced`` (CI) is 20,000 in 2.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .customer_table import FEATURES, SEGMENTS, write_customer_table
from .figures import new_figure, save_png
from .flow_runner import load_example_config, quiet_orchestration_logs, run_batch_fit

__all__ = ["CustomersResult", "UNCERTAIN_BELOW", "main", "run"]

NAME = "customers"
#: Customers and rows per Parquet file, by size.
TABLE_SIZES = {"reduced": (20_000, 10_000), "full": (1_000_000, 100_000)}
#: A customer whose largest membership probability is below this is "uncertain".
UNCERTAIN_BELOW = 0.8
#: Customers drawn in the scatter plot.
PLOT_SAMPLE = 4_000


@dataclass(frozen=True)
class CustomersResult:
    """What :func:`run` found.

    Attributes
    ----------
    n_customers : int
    uncertain_fraction : float
        Share of customers whose largest membership probability is below 0.8.
    largest_sum_error : float
        Largest ``|sum_k p_k - 1|`` over customers (membership probabilities sum to 1).
    adjusted_rand_index : float
        Agreement of the most likely components with the true segments (1 = the same).
    component_names : tuple of str
        Each component, named after the true segment most of its customers come from.
    uncertain_customers : Path
        Parquet list of the uncertain customers.
    picture : Path
    """

    n_customers: int
    uncertain_fraction: float
    largest_sum_error: float
    adjusted_rand_index: float
    component_names: tuple[str, ...]
    uncertain_customers: Path
    picture: Path


def _component_names(labels: np.ndarray, truth: np.ndarray, n_components: int) -> tuple[str, ...]:
    """Each component named after its most common true segment (numbered if two share one)."""
    names = []
    for k in range(n_components):
        members = truth[labels == k]
        majority = np.bincount(members, minlength=len(SEGMENTS)).argmax() if len(members) else -1
        names.append(SEGMENTS[majority].name if majority >= 0 else f"component {k}")
    repeated = {name for name, count in Counter(names).items() if count > 1}
    return tuple(f"{name} #{k}" if name in repeated else name for k, name in enumerate(names))


def _top_two(responsibilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n, 2) and probabilities (n, 2) of each row's two most likely components."""
    order = np.argsort(-responsibilities, axis=1, kind="stable")[:, :2]
    return order, np.take_along_axis(responsibilities, order, axis=1)


def _principal_plane(values: np.ndarray) -> np.ndarray:
    """Rows of standardised columns projected on their first two principal axes."""
    standardised = (values - values.mean(axis=0)) / values.std(axis=0)
    _, _, axes = np.linalg.svd(standardised, full_matrices=False)
    signs = np.sign(axes[:2, np.argmax(np.abs(axes[:2]), axis=1)].diagonal())  # fixed orientation
    return standardised @ (axes[:2].T * signs)


def draw(
    plane: np.ndarray, sample_top: np.ndarray, top: np.ndarray, order: np.ndarray,
    names: Sequence[str], path: Path,
) -> Path:
    """Scatter by largest probability, its histogram, and the segment pairs of the uncertain."""
    uncertain = top < UNCERTAIN_BELOW
    sample_uncertain = sample_top < UNCERTAIN_BELOW
    figure = new_figure(16.0, 4.8)
    scatter_ax, histogram_ax, pairs_ax = figure.subplots(1, 3, width_ratios=(1.25, 1.0, 1.0))

    # Most certain first, so the uncertain customers are drawn on top, in the dark colours.
    drawn = np.argsort(-sample_top, kind="stable")
    points = scatter_ax.scatter(
        plane[drawn, 0], plane[drawn, 1], c=sample_top[drawn], cmap="inferno_r",
        vmin=1 / len(names), vmax=1.0, s=6, linewidths=0,
    )
    colourbar = figure.colorbar(points, ax=scatter_ax, label="largest membership probability")
    colourbar.ax.axhline(UNCERTAIN_BELOW, color="red", linestyle="--")
    scatter_ax.set_xlabel("principal axis 1 (standardised columns)")
    scatter_ax.set_ylabel("principal axis 2")
    scatter_ax.set_title(
        f"{len(plane):,} of {len(top):,} customers ({int(sample_uncertain.sum())} uncertain)"
    )

    histogram_ax.hist(top, bins=np.linspace(1 / len(names), 1.0, 41), color="0.45")
    histogram_ax.axvline(UNCERTAIN_BELOW, color="red", linestyle="--")
    histogram_ax.set_yscale("log")
    histogram_ax.set_xlabel("largest membership probability")
    histogram_ax.set_ylabel("customers")
    histogram_ax.set_title(
        f"{uncertain.mean():.1%} uncertain ({int(uncertain.sum()):,} below {UNCERTAIN_BELOW})"
    )

    pairs = Counter(
        " / ".join(sorted((names[a], names[b]))) for a, b in order[uncertain]
    ).most_common(6)
    labels = [pair for pair, _ in pairs][::-1]
    pairs_ax.barh(labels, [count for _, count in pairs][::-1], color="tab:red")
    pairs_ax.set_xlabel("uncertain customers")
    pairs_ax.set_title("torn between")
    pairs_ax.tick_params(axis="y", labelsize=8)
    return save_png(figure, path)


def run(
    size: str = "full", out: Path | None = None, work: Path | None = None, *,
    spread: float = 1.0,
) -> CustomersResult:
    """Write the table, cluster it with the flow, and draw the membership probabilities.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``customers.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the table, registry, predictions and the list of uncertain customers.
    spread : float, default 1
        Scales the segments' standard deviations: below 1 they overlap less.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr
    from sklearn.metrics import adjusted_rand_score

    n_customers, rows_per_file = TABLE_SIZES[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)
    table_path = write_customer_table(
        work / "customers", n_customers, spread=spread, rows_per_file=rows_per_file
    )
    fit = run_batch_fit(load_example_config(
        NAME,
        data={"uri": str(table_path)},
        registry={"root": str(work / "registry")},
        outputs={
            "predictions": str(work / "customers-predictions.zarr"),
            "overwrite": True,
            "reports": str(work / "reports"),
        },
    ))
    assert fit.predictions is not None  # the config writes them

    # The predictions are aligned with the table's rows (files in order, rows in order).
    stored = zarr.open_array(str(fit.predictions), path="responsibilities", mode="r")
    responsibilities = np.asarray(stored[:])  # N x 4 floats: small
    largest_sum_error = float(np.abs(responsibilities.sum(axis=1) - 1.0).max())
    order, probabilities = _top_two(responsibilities)
    top = probabilities[:, 0]
    table = pq.read_table(table_path, columns=["customer_id", *FEATURES, "true_segment"])
    truth = table["true_segment"].to_numpy()
    names = _component_names(order[:, 0], truth, responsibilities.shape[1])

    uncertain = np.flatnonzero(top < UNCERTAIN_BELOW)
    uncertain = uncertain[np.argsort(top[uncertain], kind="stable")]  # least certain first
    listing = work / "uncertain_customers.parquet"
    pq.write_table(pa.table({
        "customer_id": table["customer_id"].to_numpy()[uncertain],
        "segment": np.asarray(names)[order[uncertain, 0]],
        "probability": probabilities[uncertain, 0],
        "runner_up": np.asarray(names)[order[uncertain, 1]],
        "runner_up_probability": probabilities[uncertain, 1],
    }), listing)

    sample = np.sort(np.random.default_rng(0).choice(n_customers, PLOT_SAMPLE, replace=False))
    values = np.column_stack([table[name].to_numpy()[sample] for name in FEATURES])
    picture = draw(_principal_plane(values), top[sample], top, order, names, out / f"{NAME}.png")
    return CustomersResult(
        n_customers=n_customers,
        uncertain_fraction=float(len(uncertain) / n_customers),
        largest_sum_error=largest_sum_error,
        adjusted_rand_index=float(adjusted_rand_score(truth, order[:, 0])),
        component_names=names,
        uncertain_customers=listing,
        picture=picture,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print what it found."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    if not args.verbose:
        quiet_orchestration_logs()
    result = run(args.size, args.out, args.work)
    print(f"{result.n_customers:,} customers in segments: {', '.join(result.component_names)}")
    print(
        f"uncertain (largest membership probability < {UNCERTAIN_BELOW}): "
        f"{result.uncertain_fraction:.2%}, listed in {result.uncertain_customers}"
    )
    print(f"adjusted Rand index against the true segments: {result.adjusted_rand_index:.3f}")
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
