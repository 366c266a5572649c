"""The initialisation sample: the same rows whatever the chunking, of bounded size, in one pass.

Tested at three levels: the pure functions of :mod:`streamgmm.core.sampling`, the Dask driver's
``init_sample`` (versus the in-memory driver's), and a whole fit whose sampled start must not
depend on the chunking.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from ooc_helpers import estimator

from streamgmm.core.sampling import merge_samples, row_keys, sample_chunk
from streamgmm.drivers.dask_rows import DaskRows
from streamgmm.drivers.in_memory import ChunkedArray

N = 5003
SIZE = 257
SEED = 2**40 + 12345  # a large seed: the key arithmetic must wrap silently


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 3)), rng.uniform(0.5, 2.0, size=N)


def _bounds(chunks: list[int]) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(chunks)])
    assert edges[-1] == N
    return list(zip(edges[:-1], edges[1:]))


CHUNKINGS = {
    "one-chunk": [N],
    "even": [1000] * 5 + [3],
    "tiny-and-large": [1, 2, 3, 997, 4000],
    "smaller-than-sample": [100] * 50 + [3],
}


def _sample(values, weights, chunks, seed=SEED, size=SIZE, tree=False):
    parts = [
        sample_chunk(values[a:b], np.arange(a, b), seed, size, None if weights is None else weights[a:b])
        for a, b in _bounds(chunks)
    ]
    for part in parts:
        assert len(part.rows) <= size, "a chunk kept more rows than the sample size"
    if not tree:
        return merge_samples(parts, size)
    while len(parts) > 1:  # a pairwise tree, as the drivers reduce
        parts = [merge_samples(parts[i:i + 2], size) for i in range(0, len(parts), 2)]
    return parts[0]


def test_row_keys_do_not_depend_on_the_range_they_are_computed_in():
    whole = row_keys(SEED, 0, 1000)
    assert whole.dtype == np.uint64
    assert np.array_equal(np.concatenate([row_keys(SEED, 0, 400), row_keys(SEED, 400, 1000)]), whole)
    assert not np.array_equal(row_keys(SEED + 1, 0, 1000), whole)
    assert len(np.unique(whole)) == 1000


def test_row_keys_emit_no_warning():
    """uint64 wrap-around is intended; the project's pytest config turns RuntimeWarnings into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in (0, 1, 2**31 - 1, SEED, 2**63 - 1):
            row_keys(seed, 0, 10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_same_rows_for_every_chunking_and_merge_order(data, weighted):
    values, weights = data[0], (data[1] if weighted else None)
    reference = _sample(values, weights, CHUNKINGS["one-chunk"])
    assert len(reference.rows) == SIZE
    assert np.all(np.diff(reference.rows) > 0), "the sample is sorted by row"
    assert np.array_equal(reference.values, values[reference.rows])
    if weighted:
        assert np.array_equal(reference.weights, weights[reference.rows])
    for name, chunks in CHUNKINGS.items():
        for tree in (False, True):
            got = _sample(values, weights, chunks, tree=tree)
            assert np.array_equal(got.rows, reference.rows), f"{name} (tree={tree}) picked other rows"
            assert np.array_equal(got.values, reference.values)
            assert np.array_equal(got.keys, reference.keys)


def test_sample_is_bounded_and_seeded(data):
    values = data[0]
    small = _sample(values, None, CHUNKINGS["even"], size=10)
    assert len(small.rows) == 10
    everything = _sample(values, None, CHUNKINGS["even"], size=10 * N)
    assert np.array_equal(everything.rows, np.arange(N)), "asking for more than N gives every row once"
    other_seed = _sample(values, None, CHUNKINGS["even"], seed=SEED + 1)
    assert not np.array_equal(other_seed.rows, _sample(values, None, CHUNKINGS["even"]).rows)
    # nested: the 10 smallest keys are among the SIZE smallest
    assert set(small.rows) <= set(_sample(values, None, CHUNKINGS["even"]).rows)


def test_sample_is_roughly_uniform_over_rows(data):
    rows = _sample(data[0], None, CHUNKINGS["even"], size=2000).rows
    counts = np.histogram(rows, bins=5, range=(0, N))[0]
    assert counts.min() > 300, f"rows are not spread over the data: {counts}"


# ------------------------------------------------------------------------ the drivers
@pytest.mark.parametrize("chunks", ["even", "tiny-and-large", "smaller-than-sample"])
def test_dask_driver_sample_equals_in_memory_sample(data, chunks):
    values, weights = data
    expected_values, expected_weights, n_valid = ChunkedArray(values, weights, 700, 2).init_sample(SIZE, SEED)
    array = da.from_array(values, chunks=(tuple(CHUNKINGS[chunks]), (3,)))
    driver = DaskRows(array, weights, scheduler="threads")
    got_values, got_weights, got_valid = driver.init_sample(SIZE, SEED)
    assert got_values.shape == (SIZE, 3)
    assert np.array_equal(got_values, expected_values)
    assert np.array_equal(got_weights, expected_weights)
    assert got_valid == n_valid == N


def test_dask_driver_sample_skips_invalid_rows_the_same_way_for_any_chunking(data):
    values = data[0].copy()
    bad = [0, 17, 999, 1000, 4321, N - 1]
    values[bad, 1] = np.nan
    samples = []
    for chunks in CHUNKINGS.values():
        driver = DaskRows(da.from_array(values, chunks=(tuple(chunks), (3,))), nan_policy="drop",
                          scheduler="synchronous")
        sample, _, n_valid = driver.init_sample(SIZE, SEED)
        assert n_valid == N - len(bad)
        assert driver.invalid_rows.count == len(bad) and driver.invalid_rows.first_row == 0
        assert np.isfinite(sample).all()
        samples.append(sample)
    for sample in samples[1:]:
        assert np.array_equal(sample, samples[0])


def test_out_of_core_fit_emits_no_runtime_warning(X):
    """Regression: the sampling pass overflowed a numpy uint64 scalar and warned on every fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator(max_iter=1, init_sample_size=500).fit(da.from_array(X, chunks=(400, 3)))
    runtime = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert runtime == [], f"RuntimeWarning(s) from an out-of-core fit: {runtime}"


def test_sampled_start_does_not_depend_on_the_chunking(X):
    """The first lower bound is the E-step of the sampled start: equal to rounding for any chunking."""
    firsts = []
    for chunks in [(400, 3), (1000, 3), (2300, 3), ((7, 993, 1300), (3,))]:
        model = estimator(max_iter=1, init_sample_size=300).fit(da.from_array(X, chunks=chunks))
        firsts.append(model.lower_bounds_[0])
    np.testing.assert_allclose(firsts, firsts[0], rtol=1e-12, atol=0)
