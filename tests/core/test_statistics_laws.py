"""SufficientStatistics: what the fused E-step computes, and the monoid laws.

The statistics of one chunk are checked against their definition (computed
directly from scikit-learn's responsibilities), then the laws every driver
relies on: a zero that is an identity on both sides, an associative and
commutative merge, merging two halves equals the whole, ``scale`` composes,
and merging statistics taken about different shifts equals re-shifting first.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm import MixtureParameters, SufficientStatistics
from streamgmm.core.errors import IncompatibleStatisticsError
from streamgmm.core.estep import chunk_posteriors, chunk_statistics, natural_form
from streamgmm.core.mstep import maximise

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
N_COMPONENTS, N_FEATURES = 3, 4


def _params(covariance_type: str, seed: int = 0, offset: float = 0.0) -> MixtureParameters:
    rng = np.random.RandomState(seed)
    means = rng.normal(size=(N_COMPONENTS, N_FEATURES)) * 3 + offset
    weights = rng.dirichlet(np.full(N_COMPONENTS, 5.0))
    if covariance_type == "full":
        a = rng.normal(size=(N_COMPONENTS, N_FEATURES, N_FEATURES))
        covariances = a @ a.transpose(0, 2, 1) / N_FEATURES + np.eye(N_FEATURES)
    elif covariance_type == "tied":
        a = rng.normal(size=(N_FEATURES, N_FEATURES))
        covariances = a @ a.T / N_FEATURES + np.eye(N_FEATURES)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(N_COMPONENTS, N_FEATURES))
    else:
        covariances = rng.uniform(0.5, 2.0, size=N_COMPONENTS)
    return MixtureParameters.from_covariances(weights, means, covariances, covariance_type)


def _data(n_rows: int, seed: int, offset: float = 0.0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    centres = rng.normal(size=(N_COMPONENTS, N_FEATURES)) * 3
    labels = rng.randint(N_COMPONENTS, size=n_rows)
    return centres[labels] + rng.normal(size=(n_rows, N_FEATURES)) * 1.3 + offset


def _assert_equal_stats(a: SufficientStatistics, b: SufficientStatistics) -> None:
    """Bitwise equality, shift included."""
    assert a.covariance_type == b.covariance_type
    for name in ("shift", "n", "s1", "s2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.log_likelihood == b.log_likelihood
    assert a.weight_sum == b.weight_sum
    assert a.n_samples == b.n_samples


def _assert_close_stats(a: SufficientStatistics, b: SufficientStatistics, rtol: float = 1e-12) -> None:
    """Agreement to rounding after expressing ``b`` about ``a.shift`` (reshift is exact algebra)."""
    b = b.reshift(a.shift)
    assert a.covariance_type == b.covariance_type
    for name in ("n", "s1", "s2"):
        x, y = getattr(a, name), getattr(b, name)
        scale = max(float(np.max(np.abs(y))), 1e-300)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=name)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=rtol)
    assert a.weight_sum == pytest.approx(b.weight_sum, rel=rtol)
    assert a.n_samples == b.n_samples


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request) -> str:
    return request.param


# --------------------------------------------------------------------- definition
def _far_params(covariance_type: str) -> MixtureParameters:
    """Like ``_params`` but component 2 is a tight cluster 1e4 away from the others."""
    params = _params(covariance_type)
    means = np.array(params.means)
    means[2] += 1e4
    return MixtureParameters.from_covariances(params.weights, means, params.covariances, covariance_type)


def _far_data(n_rows: int, seed: int) -> np.ndarray:
    X = _data(n_rows, seed)
    X[::3] += 1e4  # a third of the rows sit around the far component
    return X


@pytest.mark.parametrize("layout", ["near", "far-component"])
def test_chunk_statistics_match_their_definition(covariance_type, layout):
    """n, s1, s2, log-likelihood and counts from one pass equal the sums written out.

    Each component's sums are about its reference point ``c_k`` (a row of
    ``shift``; one shared point broadcasts): s1_k = sum_i r_ik (x_i - c_k) and
    s2 per covariance type, with the tied scatter summed over components.
    """
    if layout == "near":
        params, X = _params(covariance_type), _data(1500, seed=1)
    else:
        params, X = _far_params(covariance_type), _far_data(1500, seed=1)
    weights = np.random.RandomState(2).uniform(0.0, 3.0, size=len(X))
    form = natural_form(params)
    stats = chunk_statistics(X, form, weights, block_rows=128)

    log_likelihood, resp = chunk_posteriors(X, form)
    r = resp * weights[:, None]
    shift = np.broadcast_to(stats.shift, stats.s1.shape)
    assert np.isfinite(shift).all()
    y = X[:, None, :] - shift[None, :, :]  # (n, K, D): rows about each component's reference
    expected_s1 = np.einsum("nk,nkd->kd", r, y)
    expected_s2 = {
        "full": np.einsum("nk,nka,nkb->kab", r, y, y),
        "tied": np.einsum("nk,nka,nkb->ab", r, y, y),
        "diag": np.einsum("nk,nkd->kd", r, y * y),
        "spherical": np.einsum("nk,nkd->k", r, y * y),
    }[covariance_type]
    np.testing.assert_allclose(stats.n, r.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.s1, expected_s1, rtol=1e-11, atol=1e-11 * np.abs(expected_s1).max())
    np.testing.assert_allclose(stats.s2, expected_s2, rtol=1e-11, atol=1e-11 * np.abs(expected_s2).max())
    assert stats.log_likelihood == pytest.approx(float(weights @ log_likelihood), rel=1e-12)
    assert stats.weight_sum == pytest.approx(float(weights.sum()), rel=1e-13)
    assert stats.n_samples == len(X)
    expected_mean = float(weights @ log_likelihood / weights.sum())
    assert stats.mean_log_likelihood == pytest.approx(expected_mean, rel=1e-12)
    # Unweighted: weight_sum counts rows.
    unweighted = chunk_statistics(X, form)
    assert unweighted.weight_sum == len(X)
    np.testing.assert_allclose(unweighted.n.sum(), len(X), rtol=1e-12)


def test_statistics_are_float64_for_float32_compute(covariance_type):
    params = _params(covariance_type)
    X32 = _data(3000, seed=3).astype(np.float32)
    form32 = natural_form(params, dtype=np.float32)
    assert form32.coefficients.dtype == np.float32
    stats32 = chunk_statistics(X32, form32, block_rows=256)
    for name in ("shift", "n", "s1", "s2"):
        assert getattr(stats32, name).dtype == np.float64, name
    assert isinstance(stats32.log_likelihood, float)
    # And the float32 statistics are the float64 ones to float32 rounding.
    stats64 = chunk_statistics(X32.astype(np.float64), natural_form(params), block_rows=256)
    _assert_close_stats(stats32, stats64, rtol=1e-4)


# ------------------------------------------------------------------------- laws
def test_zero_is_a_two_sided_identity(covariance_type):
    params = _params(covariance_type)
    stats = chunk_statistics(_data(500, seed=4), natural_form(params))
    zero_at_shift = SufficientStatistics.zero(covariance_type, N_COMPONENTS, N_FEATURES, shift=stats.shift)
    zero_at_origin = SufficientStatistics.zero(covariance_type, N_COMPONENTS, N_FEATURES)

    # About the same shift both sides are exact.
    _assert_equal_stats(stats.merge(zero_at_shift), stats)
    _assert_equal_stats(zero_at_shift.merge(stats), stats)
    # A zero about another point is still an identity (the result keeps the left shift).
    _assert_equal_stats(stats.merge(zero_at_origin), stats)
    left = zero_at_origin.merge(stats)
    assert not np.any(left.shift)  # the left operand's reference point (the origin)
    _assert_close_stats(left, stats)
    # zero + zero is zero, and the mean log-likelihood of nothing is -inf.
    nothing = zero_at_origin + zero_at_origin
    assert nothing.weight_sum == 0 and nothing.n_samples == 0 and not nothing.n.any()
    assert nothing.mean_log_likelihood == float("-inf")


def test_merge_is_associative_and_commutative(covariance_type):
    params = _params(covariance_type)
    form = natural_form(params)
    a = chunk_statistics(_data(300, seed=5), form)
    b = chunk_statistics(_data(700, seed=6) + 2.0, form)
    c = chunk_statistics(_data(200, seed=7) - 1.0, form)
    left = (a + b) + c
    right = a + (b + c)
    _assert_close_stats(left, right, rtol=1e-13)
    _assert_close_stats(a + b, b + a, rtol=1e-13)
    assert left.n_samples == 1200


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("split", [1, 333, 1024, 1999])
def test_two_halves_merge_to_the_whole(covariance_type, split, weighted):
    params = _params(covariance_type)
    form = natural_form(params)
    X = _data(2000, seed=8)
    weights = np.random.RandomState(9).uniform(0, 2, size=len(X)) if weighted else None
    whole = chunk_statistics(X, form, weights)
    first = chunk_statistics(X[:split], form, None if weights is None else weights[:split])
    second = chunk_statistics(X[split:], form, None if weights is None else weights[split:])
    merged = first.merge(second)
    _assert_close_stats(merged, whole, rtol=1e-12)
    # ... and so the M-step cannot tell them apart.
    assert maximise(merged, 1e-6, previous=params).params.allclose(
        maximise(whole, 1e-6, previous=params).params, rtol=1e-10
    )


def test_scale_composes_and_keeps_rows(covariance_type):
    stats = chunk_statistics(_data(800, seed=10), natural_form(_params(covariance_type)))
    a, b = 0.37, 5.5
    _assert_close_stats(stats.scale(a).scale(b), stats.scale(a * b), rtol=1e-14)
    _assert_equal_stats(stats.scale(1.0), stats)
    scaled = stats.scale(a)
    np.testing.assert_allclose(scaled.n, a * stats.n, rtol=1e-15)
    np.testing.assert_allclose(scaled.s2, a * stats.s2, rtol=1e-15)
    assert scaled.log_likelihood == pytest.approx(a * stats.log_likelihood, rel=1e-15)
    assert scaled.weight_sum == pytest.approx(a * stats.weight_sum, rel=1e-15)
    assert scaled.n_samples == stats.n_samples  # rows actually read
    # Scale distributes over merge (what stepwise EM relies on).
    other = chunk_statistics(_data(400, seed=11), natural_form(_params(covariance_type)))
    _assert_close_stats((stats + other).scale(a), stats.scale(a) + other.scale(a), rtol=1e-13)
    # The mean log-likelihood is invariant under scaling.
    assert scaled.mean_log_likelihood == pytest.approx(stats.mean_log_likelihood, rel=1e-14)


def test_merge_across_shifts_equals_reshift_then_merge(covariance_type):
    """Statistics about two reference points merge exactly as if computed about one."""
    params = _params(covariance_type, offset=50.0)
    shift_a = params.weights @ params.means
    shift_b = shift_a + np.array([3.0, -7.0, 0.5, 11.0])
    X1 = _data(600, seed=12, offset=50.0)
    X2 = _data(900, seed=13, offset=50.0)
    a = chunk_statistics(X1, natural_form(params, shift=shift_a))
    b = chunk_statistics(X2, natural_form(params, shift=shift_b))
    assert not np.allclose(a.shift, b.shift)
    merged = a.merge(b)
    np.testing.assert_array_equal(merged.shift, a.shift)  # about the left operand's reference
    _assert_equal_stats(merged, a.merge(b.reshift(a.shift)))
    # And equals the statistics of all rows computed directly about shift_a.
    direct = chunk_statistics(np.vstack([X1, X2]), natural_form(params, shift=shift_a))
    _assert_close_stats(merged, direct, rtol=1e-11)
    # reshift there and back is the identity to rounding, and exact algebra otherwise.
    _assert_close_stats(b.reshift(a.shift).reshift(b.shift), b, rtol=1e-12)
    moved = b.reshift(a.shift)
    np.testing.assert_allclose(moved.n, b.n, rtol=0)
    assert moved.log_likelihood == b.log_likelihood and moved.n_samples == b.n_samples


def test_reshift_between_component_references_matches_definition(covariance_type):
    """Statistics about one set of references re-expressed about another, per component.

    With a far component, each component may carry its own reference point; two
    chunks scored under slightly different parameters then have different
    references for every component. Merging must re-express one about the
    other exactly: the result equals the sums written out about the new points.
    """
    params_a = _far_params(covariance_type)
    means_b = np.array(params_a.means)
    means_b += np.array([0.3, -0.2, 0.1, 0.05])  # moves the mixture mean and the far mean
    params_b = params_a.replace(means=means_b)
    X1, X2 = _far_data(400, seed=15), _far_data(500, seed=16)
    a = chunk_statistics(X1, natural_form(params_a))
    form_b = natural_form(params_b)
    b = chunk_statistics(X2, form_b)
    assert not np.allclose(np.broadcast_to(a.shift, a.s1.shape), np.broadcast_to(b.shift, b.s1.shape))

    moved = b.reshift(a.shift)
    _, resp = chunk_posteriors(X2, form_b)
    shift = np.broadcast_to(a.shift, a.s1.shape)
    y = X2[:, None, :] - shift[None, :, :]
    expected_s1 = np.einsum("nk,nkd->kd", resp, y)
    expected_s2 = {
        "full": np.einsum("nk,nka,nkb->kab", resp, y, y),
        "tied": np.einsum("nk,nka,nkb->ab", resp, y, y),
        "diag": np.einsum("nk,nkd->kd", resp, y * y),
        "spherical": np.einsum("nk,nkd->k", resp, y * y),
    }[covariance_type]
    np.testing.assert_allclose(moved.s1, expected_s1, rtol=1e-10, atol=1e-10 * np.abs(expected_s1).max())
    np.testing.assert_allclose(moved.s2, expected_s2, rtol=1e-10, atol=1e-10 * np.abs(expected_s2).max())
    _assert_equal_stats(a.merge(b), a.merge(moved))
    # The merged statistics give the parameters of all rows (the M-step of the union).
    merged = a.merge(b)
    assert merged.n_samples == 900
    np.testing.assert_allclose(merged.n, a.n + b.n, rtol=1e-15)


def test_shift_does_not_change_the_mstep(covariance_type):
    """The same rows summarised about different points give the same parameters."""
    params = _params(covariance_type)
    X = _data(1000, seed=14)
    about_mean = chunk_statistics(X, natural_form(params))
    about_far = chunk_statistics(X, natural_form(params, shift=np.array([4.0, -3.0, 2.0, 1.0])))
    a = maximise(about_mean, 1e-6, previous=params).params
    b = maximise(about_far, 1e-6, previous=params).params
    assert a.allclose(b, rtol=1e-10, atol=1e-12)


def test_incompatible_statistics_do_not_merge():
    full = SufficientStatistics.zero("full", 3, 4)
    with pytest.raises(IncompatibleStatisticsError, match="cannot merge"):
        full.merge(SufficientStatistics.zero("diag", 3, 4))
    with pytest.raises(IncompatibleStatisticsError, match="cannot merge"):
        full.merge(SufficientStatistics.zero("full", 2, 4))
    with pytest.raises(ValueError, match="s2 has shape"):
        SufficientStatistics("diag", np.zeros(4), np.zeros(3), np.zeros((3, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="covariance_type"):
        SufficientStatistics.zero("banana", 3, 4)
