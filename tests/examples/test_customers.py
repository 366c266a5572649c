"""Example 3 at its reduced size, through the real batch_fit flow on Parquet.

Run twice: with the example's overlapping segments, and with the same segments
four times tighter. The membership probabilities must be probabilities, the
uncertain customers must be those of overlapping segments, and the segments
found must be the true ones.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from example_helpers import assert_small_png

from streamgmm.examples import customers
from streamgmm.examples.customer_table import FEATURES, SEGMENTS, write_customer_table

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory):
    root = tmp_path_factory.mktemp("overlapping")
    return customers.run("reduced", out=root / "out", work=root / "work")


@pytest.fixture(scope="module")
def separated(tmp_path_factory):
    root = tmp_path_factory.mktemp("separated")
    return customers.run("reduced", out=root / "out", work=root / "work", spread=0.4)


def test_table_has_ids_behaviour_columns_and_plausible_values(tmp_path):
    table = pq.read_table(write_customer_table(tmp_path / "t", 3_000, rows_per_file=1_000))
    assert table.column_names == ["customer_id", *FEATURES, "true_segment"]
    assert len(list((tmp_path / "t").glob("part-*.parquet"))) == 3
    assert len(set(table["customer_id"].to_pylist())) == 3_000
    values = np.column_stack([table[name].to_numpy() for name in FEATURES])
    assert (values > 0).all()
    shares = np.bincount(table["true_segment"].to_numpy(), minlength=len(SEGMENTS)) / 3_000
    np.testing.assert_allclose(shares, [s.weight for s in SEGMENTS], atol=0.04)


def test_membership_probabilities_sum_to_one(overlapping, separated):
    assert overlapping.largest_sum_error < 1e-9
    assert separated.largest_sum_error < 1e-9


def test_uncertain_customers_come_from_overlapping_segments(overlapping, separated):
    assert 0.0 < overlapping.uncertain_fraction < 1.0
    assert 0.0 <= separated.uncertain_fraction < 1.0
    assert overlapping.uncertain_fraction > 0.03  # the example's point: some are in between
    assert overlapping.uncertain_fraction > 5 * separated.uncertain_fraction


def test_segments_found_are_the_true_ones(overlapping, separated):
    assert overlapping.adjusted_rand_index > 0.8
    assert separated.adjusted_rand_index > 0.98
    assert sorted(separated.component_names) == sorted(s.name for s in SEGMENTS)


def test_uncertain_customers_are_listed_least_certain_first(overlapping):
    listing = pq.read_table(overlapping.uncertain_customers).to_pandas()
    assert len(listing) == round(overlapping.uncertain_fraction * overlapping.n_customers)
    assert (listing["probability"] < customers.UNCERTAIN_BELOW).all()
    assert listing["probability"].is_monotonic_increasing
    assert (listing["runner_up_probability"] <= listing["probability"]).all()
    assert (listing["segment"] != listing["runner_up"]).all()
    assert listing["customer_id"].is_unique
    assert_small_png(overlapping.picture)
