"""Numerics users will hit: offsets, mixed scales, float32, degenerate data, empty components."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from streamgmm import EmptyComponentWarning, GaussianMixture, SufficientStatistics
from streamgmm.core.estep import natural_form
from streamgmm.core.init import statistics_from_responsibilities
from streamgmm.core.mstep import maximise
from streamgmm.drivers.in_memory import ChunkedArray

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def assert_close(actual, desired, rtol, what=""):
    desired = np.asarray(desired, dtype=np.float64)
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        desired,
        rtol=rtol,
        atol=rtol * np.abs(desired).max(),
        err_msg=what,
    )


# ------------------------------------------------------------------------ offsets
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_data_cluster_like_centred_data(covariance_type, make_blobs):
    """Adding 1e6 (or -2e6, 5e5 per feature) changes nothing but the means, with default init."""
    X, _ = make_blobs(2000, 3, 3, 6.0, seed=41)
    offset = np.array([1e6, -2e6, 5e5])
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-9, max_iter=200, random_state=0)
    centred = GaussianMixture(**kwargs).fit(X)
    shifted = GaussianMixture(**kwargs).fit(X + offset)

    np.testing.assert_array_equal(shifted.predict(X + offset), centred.predict(X))
    spread = X.std(axis=0).max()
    np.testing.assert_allclose(shifted.means_ - offset, centred.means_, rtol=0, atol=1e-6 * spread)
    assert_close(shifted.covariances_, centred.covariances_, rtol=1e-6, what="covariances_")
    assert_close(shifted.weights_, centred.weights_, rtol=1e-6, what="weights_")
    assert shifted.lower_bound_ == pytest.approx(centred.lower_bound_, rel=1e-6)
    assert shifted.n_iter_ == pytest.approx(centred.n_iter_, abs=1)
    assert np.isfinite(shifted.score_samples(X + offset)).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_data_with_given_start_track_centred_fit(covariance_type, make_blobs, init_for):
    """Fixed iterations from the same (offset) start: parameters follow the centred fit to ~1e-8."""
    X, _ = make_blobs(1500, 4, 3, 2.0, seed=42)  # overlapping: responsibilities are soft
    offset = 1e6
    init = init_for(X, 3, covariance_type, seed=1)
    common = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=20)
    centred = GaussianMixture(**common, **init).fit(X)
    shifted_init = dict(init, means_init=init["means_init"] + offset)
    shifted = GaussianMixture(**common, **shifted_init).fit(X + offset)
    spread = X.std(axis=0).max()
    np.testing.assert_allclose(shifted.means_ - offset, centred.means_, rtol=0, atol=1e-8 * spread)
    assert_close(shifted.covariances_, centred.covariances_, rtol=1e-7, what="covariances_")
    assert_close(shifted.weights_, centred.weights_, rtol=1e-7, what="weights_")
    assert_close(shifted.lower_bounds_, centred.lower_bounds_, rtol=1e-9, what="lower_bounds_")


# ------------------------------------------------------------------- mixed scales
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_features_on_scales_milli_and_kilo_cluster_like_standardised(covariance_type, make_blobs, init_for):
    """A diagonal rescaling of the features is an exact symmetry of EM (with reg_covar=0).

    Spherical covariance is excluded: one variance shared by all features is not
    scale-equivariant by definition.
    """
    X, _ = make_blobs(2000, 3, 3, 5.0, seed=43)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    scale = np.array([1e-3, 1e3, 1.0])
    init = init_for(X, 3, covariance_type, seed=2)
    precisions = init["precisions_init"]
    scaled_precisions = {
        "full": precisions / np.outer(scale, scale)[None],
        "tied": precisions / np.outer(scale, scale),
        "diag": precisions / scale**2,
    }[covariance_type]
    scaled_init = dict(init, means_init=init["means_init"] * scale, precisions_init=scaled_precisions)
    common = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=30, reg_covar=0.0)
    standard = GaussianMixture(**common, **init).fit(X)
    scaled = GaussianMixture(**common, **scaled_init).fit(X * scale)

    np.testing.assert_array_equal(scaled.predict(X * scale), standard.predict(X))
    assert_close(scaled.means_ / scale, standard.means_, rtol=1e-8, what="means_")
    assert_close(scaled.weights_, standard.weights_, rtol=1e-8, what="weights_")
    if covariance_type == "diag":
        unscaled = scaled.covariances_ / scale**2
    else:
        unscaled = scaled.covariances_ / np.outer(scale, scale)
    assert_close(unscaled, standard.covariances_, rtol=1e-8, what="covariances_")
    # The log-likelihood changes by exactly -sum(log(scale)) per row.
    assert scaled.lower_bound_ == pytest.approx(standard.lower_bound_ - np.log(scale).sum(), rel=1e-9)


# -------------------------------------------------------------------------- float32
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_input_agrees_with_float64(covariance_type, make_blobs, init_for):
    X, _ = make_blobs(3000, 5, 4, 4.0, seed=44)
    X32 = X.astype(np.float32)
    init = init_for(X32.astype(np.float64), 4, covariance_type, seed=3)
    common = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=20, chunk_size=500)
    model64 = GaussianMixture(**common, **init).fit(X32.astype(np.float64))
    model32 = GaussianMixture(**common, **init).fit(X32)  # dtype=None: float32 compute
    for name in FITTED:
        assert getattr(model32, name).dtype == np.float32, name  # as scikit-learn keeps float32
        assert_close(getattr(model32, name), getattr(model64, name), rtol=1e-4, what=name)
    assert model32.lower_bound_ == pytest.approx(model64.lower_bound_, rel=1e-5)
    agreement = np.mean(model32.predict(X32) == model64.predict(X32))
    assert agreement > 0.999
    assert model32.score_samples(X32).dtype == np.float64
    # float32 data computed in float64 is the float64 fit ...
    forced = GaussianMixture(dtype="float64", **common, **init).fit(X32)
    for name in FITTED:
        assert_close(getattr(forced, name), getattr(model64, name), rtol=1e-12, what=name)
    # ... and dtype=None really did compute in float32 (its rounding is visible).
    assert not np.array_equal(model32.means_, forced.means_)
    explicit = GaussianMixture(dtype="float32", **common, **init).fit(X32)
    np.testing.assert_array_equal(explicit.means_, model32.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_chunks_accumulate_in_float64(covariance_type, make_blobs):
    """1500 float32 chunks merge without loss.

    Against the same chunking computed in float64, the float32 statistics differ
    only by the float32 rounding inside each chunk (<3e-8 relative here);
    accumulating the chunk results in float32 would add 2e-7 to 1.5e-6.
    """
    X32 = make_blobs(12_000, 3, 3, 4.0, seed=45)[0].astype(np.float32)
    params = GaussianMixture(n_components=3, covariance_type=covariance_type, max_iter=2, random_state=0).fit(
        X32[:3000]
    ).parameters_
    with threadpool_limits(limits=1, user_api="blas"):
        chunks = ChunkedArray(X32, None, chunk_size=8, n_jobs=1)
        stats32 = chunks.statistics(natural_form(params, np.float32))
        stats64 = chunks.statistics(natural_form(params, np.float64))
    assert stats32.n.dtype == stats32.s1.dtype == stats32.s2.dtype == np.float64
    assert stats32.weight_sum == len(X32)
    assert stats32.n_samples == len(X32)
    for name, rtol in (("n", 2e-8), ("s1", 1.5e-7), ("s2", 1.5e-7)):
        expected = getattr(stats64, name)
        np.testing.assert_allclose(
            getattr(stats32, name), expected, rtol=rtol, atol=rtol * np.abs(expected).max(), err_msg=name
        )
    # Row log-likelihoods carry the float32 GEMM's rounding (~1e-7 of each term).
    assert stats32.log_likelihood == pytest.approx(stats64.log_likelihood, rel=1e-6)
    # Float32 responsibilities still sum to one per row to float32 rounding.
    assert stats32.n.sum() == pytest.approx(len(X32), rel=1e-7)


def _per_cluster_moments(X: np.ndarray, labels: np.ndarray, covariance_type: str, reg_covar: float):
    """Exact M-step for 0/1 responsibilities: per-cluster moments, each centred on its own mean."""
    means, covariances = [], []
    for k in np.unique(labels):
        rows = X[labels == k]
        mean = rows.mean(axis=0)
        centred = rows - mean
        means.append(mean)
        covariances.append(centred.T @ centred / len(rows))
    means, full = np.array(means), np.array(covariances)
    counts = np.bincount(labels)
    n_features = X.shape[1]
    if covariance_type == "full":
        return means, full + reg_covar * np.eye(n_features)
    if covariance_type == "tied":
        return means, np.einsum("k,kab->ab", counts / counts.sum(), full) + reg_covar * np.eye(n_features)
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    if covariance_type == "diag":
        return means, diagonal + reg_covar
    return means, diagonal.mean(axis=1) + reg_covar


@pytest.mark.parametrize(
    ("dtype", "separation", "rtol"),
    [("float64", 1e3, 1e-8), ("float32", 100.0, 3e-3), ("float32", 200.0, 1e-4), ("float64", 1e5, 1e-8)],
    ids=["float64-1e3-sigma-apart", "float32-100-sigma-apart", "float32-200-sigma-apart", "float64-1e5-sigma-apart"],
)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_apart_tight_clusters_keep_their_precision(covariance_type, dtype, separation, rtol):
    """Well separated clusters must not lose covariance precision.

    Two clusters of unit spread, ``separation`` per feature apart, started at
    their true centres: responsibilities are exactly 0/1, so EM's answer is each
    cluster's own moments about its own mean, computed here directly in float64
    (accurate to ~1e-15). Sums accumulated about one global reference point (the
    mixture mean) lose ``eps * (distance / sigma)^2`` relative precision: ~1e-3 for
    float32 at 100 sigma (ratio 7,500: still below float32's far bound of 1e4, so
    that is the promised worst case), ~1e-6 for float64 at 1e5 sigma. Beyond the
    bound a component is accumulated about its own mean: a float64 fit matches to
    ~1e-8, a float32 one (200 sigma, ratio 30,000) to ~1e-4.
    """
    rng = np.random.RandomState(46)
    n_features = 3
    labels = np.repeat([0, 1], 1000)
    X = rng.normal(size=(2000, n_features))
    X[labels == 0] += separation
    X = X.astype(dtype)
    means = np.array([np.full(n_features, separation), np.zeros(n_features)])
    precisions = {
        "full": np.stack([np.eye(n_features)] * 2),
        "tied": np.eye(n_features),
        "diag": np.ones((2, n_features)),
        "spherical": np.ones(2),
    }[covariance_type]
    model = GaussianMixture(
        n_components=2,
        covariance_type=covariance_type,
        weights_init=[0.5, 0.5],
        means_init=means,
        precisions_init=precisions,
        tol=0.0,
        max_iter=3,
        dtype=dtype,
    ).fit(X)
    np.testing.assert_array_equal(model.predict(X), labels)
    expected_means, expected_covariances = _per_cluster_moments(
        X.astype(np.float64), labels, covariance_type, reg_covar=1e-6
    )
    np.testing.assert_allclose(model.means_, expected_means, rtol=0, atol=rtol)  # unit spread
    assert_close(model.covariances_, expected_covariances, rtol=rtol, what="covariances_")


def _two_component_params(precision: np.ndarray, distance: float) -> "MixtureParameters":
    """Component 0 at ``distance`` along feature 0 from component 1, equal weights,
    the same full precision; the mixture mean (the shared reference) sits halfway."""
    from streamgmm import MixtureParameters
    from streamgmm.core.covariance import precisions_cholesky_from_covariances

    n_features = precision.shape[0]
    means = np.zeros((2, n_features))
    means[0, 0] = distance
    covariances = np.stack([np.linalg.inv(precision)] * 2)
    chol = precisions_cholesky_from_covariances(covariances, "full")
    return MixtureParameters.from_precisions_cholesky(np.array([0.5, 0.5]), means, chol, "full")


@pytest.mark.parametrize(
    ("dtype", "far_ratio"), [(np.float64, 1e6), (np.float32, 1e4)], ids=["float64", "float32"]
)
def test_far_bound_is_the_exact_largest_eigenvalue_per_dtype(dtype, far_ratio):
    """Which components are scored about their own mean: ``|nu|^2 lambda_max(P)`` above the
    dtype's bound. For this precision Gershgorin's cheap bound (the largest absolute row sum)
    is 1.35 times the largest eigenvalue: used alone it would send components nearer than
    the bound down the slower exact path."""
    from streamgmm.core.estep import FAR_RATIO_BY_DTYPE

    assert FAR_RATIO_BY_DTYPE[np.dtype(dtype)] == far_ratio
    factor = np.random.default_rng(0).normal(size=(6, 6))
    precision = factor @ factor.T / 6 + 0.1 * np.eye(6)
    largest = np.linalg.eigvalsh(precision).max()
    assert np.abs(precision).sum(axis=1).max() > 1.3 * largest
    half_distance = np.sqrt(far_ratio / largest)  # each mean is half the distance from the reference
    near = natural_form(_two_component_params(precision, 2 * 0.9 * half_distance), dtype)
    far = natural_form(_two_component_params(precision, 2 * 1.1 * half_distance), dtype)
    assert near.far.tolist() == []
    assert far.far.tolist() == [0, 1]


# -------------------------------------------------------------- degenerate data
def _degenerate_data(seed: int = 47) -> tuple[np.ndarray, np.ndarray]:
    """Three clusters; feature 0 is exactly constant within each cluster and the
    clusters sit 1e4 apart on it; feature 1 is 5 + 1e-9 noise everywhere.
    Variances about shifted sums cancel to rounding noise of either sign."""
    rng = np.random.RandomState(seed)
    labels = np.repeat(np.arange(3), 700)
    X = np.empty((len(labels), 2))
    X[:, 0] = np.array([1e4, 2e4 + 1e-3, 3e4])[labels]
    X[:, 1] = 5.0 + 1e-9 * rng.normal(size=len(labels))
    return X, labels


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_no_negative_variances_on_near_degenerate_data(covariance_type, dtype):
    X, labels = _degenerate_data()
    reg_covar = 1e-12
    centres = np.array([[1e4, 5.0], [2e4, 5.0], [3e4, 5.0]])
    model = GaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        means_init=centres,
        tol=0.0,
        max_iter=10,
        dtype=dtype,
    ).fit(X)
    assert np.isfinite(model.covariances_).all()
    assert np.isfinite(model.precisions_cholesky_).all()
    # The estimated variance is clipped at zero before reg_covar is added.
    assert (model.covariances_ >= reg_covar).all(), model.covariances_
    np.testing.assert_array_equal(model.predict(X), labels)
    assert np.isfinite(model.score_samples(X)).all()


def test_mstep_never_returns_negative_variances_from_cancelling_sums():
    """Sums whose second moment is smaller than the squared mean by rounding give variance reg_covar."""
    second_moment = 1e8 * (1 - 1e-15)  # just below s1**2 / n = 1e8
    for covariance_type, s2 in (("diag", np.array([[second_moment]])), ("spherical", np.array([second_moment]))):
        stats = SufficientStatistics(
            covariance_type, shift=np.zeros(1), n=np.array([1.0]), s1=np.array([[1e4]]), s2=s2,
            log_likelihood=0.0, weight_sum=1.0, n_samples=1,
        )
        params = maximise(stats, reg_covar=1e-9).params
        assert params.covariances.min() >= 1e-9
        assert np.isfinite(params.precisions_cholesky).all()


# ------------------------------------------------------------- empty components
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_emptied_component_is_kept_with_a_warning(covariance_type, precisions_from_covariance):
    """A component started far from all data keeps its parameters; the others fit as without it."""
    rng = np.random.RandomState(48)
    X = rng.normal(size=(1500, 2))
    X[:750] += 10.0
    near = np.array([[0.0, 0.0], [10.0, 10.0]])
    far = np.array([[1e3, -1e3]])
    cov = np.array([[1.5, 0.3], [0.3, 0.8]])
    common = dict(covariance_type=covariance_type, tol=0.0, max_iter=15)
    with_far = dict(
        n_components=3,
        weights_init=np.full(3, 1 / 3),
        means_init=np.vstack([near, far]),
        precisions_init=precisions_from_covariance(cov, covariance_type, 3),
    )
    without = dict(
        n_components=2,
        weights_init=np.full(2, 1 / 2),
        means_init=near,
        precisions_init=precisions_from_covariance(cov, covariance_type, 2),
    )
    with pytest.warns(EmptyComponentWarning, match=r"Component\(s\) \[2\]"):
        model = GaussianMixture(**common, **with_far).fit(X)
    reference = GaussianMixture(**common, **without).fit(X)

    for name in FITTED + ("precisions_",):
        assert np.isfinite(getattr(model, name)).all(), name
    assert model.weights_[2] < 1e-12
    assert model.weights_.sum() == pytest.approx(1.0, rel=1e-14)
    # The emptied component keeps the mean (and, unless tied, the covariance) it started with.
    np.testing.assert_array_equal(model.means_[2], far[0])
    if covariance_type != "tied":
        initial_precision = precisions_from_covariance(cov, covariance_type, 3)[2]
        initial_cov = np.linalg.inv(initial_precision) if covariance_type == "full" else 1.0 / initial_precision
        np.testing.assert_allclose(model.covariances_[2], initial_cov, rtol=1e-12)
    # The live components are exactly what a fit without the far component gives
    # (the far one never receives responsibility, and uniform weights cancel).
    assert_close(model.means_[:2], reference.means_, rtol=1e-10, what="means_")
    assert_close(model.weights_[:2], reference.weights_, rtol=1e-10, what="weights_")
    live_cov = model.covariances_ if covariance_type == "tied" else model.covariances_[:2]
    assert_close(live_cov, reference.covariances_, rtol=1e-10, what="covariances_")
    # Predictions never pick it and contain no NaN.
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all() and proba[:, 2].max() < 1e-12
    assert (model.predict(X) != 2).all()
    assert np.isfinite(model.score_samples(X)).all()
    assert model.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mstep_places_or_keeps_components_without_mass(covariance_type, init_for):
    """Core rule: without previous parameters an empty component sits at the shift with
    covariance reg_covar * I; with previous parameters it keeps them. Never NaN."""
    rng = np.random.RandomState(49)
    X = rng.normal(size=(400, 3))
    resp = np.zeros((400, 3))
    resp[:200, 0] = 1.0
    resp[200:, 1] = 1.0  # component 2 gets nothing
    shift = X.mean(axis=0)
    stats = statistics_from_responsibilities(X, resp, covariance_type, shift)
    placed = maximise(stats, reg_covar=1e-3)
    assert placed.empty_components == (2,)
    np.testing.assert_allclose(placed.params.means[2], shift, rtol=1e-15)
    if covariance_type != "tied":
        expected = {"full": 1e-3 * np.eye(3), "diag": np.full(3, 1e-3), "spherical": 1e-3}[covariance_type]
        np.testing.assert_allclose(placed.params.covariances[2], expected, rtol=1e-12)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.isfinite(getattr(placed.params, name)).all(), name

    kept = maximise(stats, reg_covar=1e-3, previous=placed.params.replace(
        means=np.vstack([placed.params.means[:2], [[7.0, 8.0, 9.0]]])
    ))
    assert kept.empty_components == (2,)
    np.testing.assert_array_equal(kept.params.means[2], [7.0, 8.0, 9.0])
    assert kept.params.weights[2] < 1e-15
