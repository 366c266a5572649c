"""The fused E-step: log-densities, responsibilities and statistics in one pass.

Why this shape
--------------
A Gaussian log-density is linear in the features ``[y, vech(y y^T)]`` of a row
``y = x - c`` (Kaldi's natural-parameter form). So the log-densities of all K
components for a tile of rows are ONE matrix product of the tile's feature
matrix with a small ``K x F`` coefficient matrix, and the M-step moments
``sum_i r_ik [y_i, vech(y_i y_i^T)]`` are a second product with the
responsibilities. Per tile of rows that is:

1. ``Phi^T``: the features, ``F x b`` (``F = D + D(D+1)/2`` for full),
2. ``L = W Phi^T + const``: weighted log-densities, ``K x b`` (a GEMM),
3. a log-sum-exp over K giving the row log-likelihoods and responsibilities,
4. ``Phi^T R^T``: the statistics, ``F x K`` (a GEMM).

It halves the flops of per-component solves (``4 N K D^2``) and turns many
skinny products into two well-shaped ones, with no ``N x K x D`` temporaries.
Rows are processed ``block_rows`` at a time so the features stay in cache.

Numerics
--------
Rows are shifted by ``c`` (the mixture's mean, in float64) before the features
are formed. The quadratic terms are then of the order of the squared
Mahalanobis distance ``|x - c|^2 / sigma^2`` and cancel to the true
log-density and covariance with a relative error of about
``eps * |mu_k - c|^2 / sigma_k^2``: independent of where the data sit, but
growing with how far a component lies from the mixture's mean compared with
its own spread. A component for which that ratio exceeds ``FAR_RATIO``
(tight clusters far apart, e.g. 1e5 sigma) is therefore handled *exactly*
instead: its log-density and its statistics are computed about its own
previous mean, ``x - mu_k``, with a few small per-component products. Its
statistics carry that reference (``SufficientStatistics.shift[k]``), so the
M-step never subtracts two large numbers.

The feature matrix carries a last row of ones: its coefficients in the first
product are the components' constants, and its row of the second product is
the responsibility mass. That folds two passes over the ``K x b`` array into
the products. Every tile array lives in a workspace allocated once per chunk.

Precision by ``dtype``: with float64 everything is float64. With float32 the
whole tile (features, both products, exponentials) runs in float32, about
twice as fast; ``x - c`` is rounded once (the reference is then a float32
number, which float32 rows subtract exactly when they sit near it), and each
tile's statistics are added to float64 accumulators, so the error does not
grow with N and the data's offset costs nothing. What float32 does cost is
the shared-reference cancellation above, at float32's ``eps``: the far bound
is therefore tighter in float32 (``FAR_RATIO_BY_DTYPE``), keeping that loss
below ~1e-3 relative in a component's thinnest direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .covariance import COVARIANCE_RULES, log_det_precisions_cholesky
from .params import MixtureParameters
from .statistics import SufficientStatistics

__all__ = [
    "NaturalForm",
    "natural_form",
    "chunk_statistics",
    "chunk_weighted_log_prob",
    "chunk_posteriors",
    "default_block_rows",
    "feature_count",
    "FAR_RATIO",
]

#: Bytes of feature matrix per cache tile: a few MB keeps the tile and its GEMM
#: operands in L2/L3 on current x86 and ARM cores (measured: 2-4 MB is the flat
#: optimum on a 1 MB-L2 / 32 MB-L3 EPYC; smaller tiles pay numpy call overhead).
_TILE_BYTES = 4 * 2**20


def default_block_rows(n_phi_features: int, dtype: np.dtype) -> int:
    """Rows per cache tile, a power of two in [256, 4096].

    It depends on the problem's shape only, never on the machine, so the
    rounding (and hence the fitted model) is the same everywhere.
    """
    rows = _TILE_BYTES / (max(n_phi_features, 1) * np.dtype(dtype).itemsize)
    return int(2 ** np.clip(np.floor(np.log2(rows)), 8, 12))

_LOG_2PI = float(np.log(2.0 * np.pi))


#: A component whose squared distance from the reference point, measured in its
#: own precision (|nu_k|^2 * lambda_max(P_k)), exceeds this is scored and accumulated
#: about its own mean: beyond it the shared-reference form would lose more than
#: ~1e-10 relative precision in float64 in the component's thinnest direction (two
#: orders of magnitude inside the 1e-8 agreement with scikit-learn promised). A
#: tighter bound sent ordinary anisotropic clusters (a thin direction of variance
#: 1e-3 a few units from the mixture mean) down the slower per-component path.
FAR_RATIO = 1e6

#: The same bound per compute dtype; ``eps * ratio`` is the worst relative error left
#: in a component's thinnest variance: ~2e-10 in float64, ~1e-3 in float32 (where sums
#: are rounded to float32 inside each tile; rounding errors of independent tiles mostly
#: cancel, so 1e-4 is typical). A tighter float32 bound would send the components of
#: ordinary overlapping mixtures (ratios of 500-2000 at D=16-32) down the exact path,
#: which is slower than computing in float64.
FAR_RATIO_BY_DTYPE = {np.dtype(np.float64): FAR_RATIO, np.dtype(np.float32): 1e4}


@dataclass(frozen=True, eq=False)
class NaturalForm:
    """Mixture parameters rearranged for the fused E-step.

    Parameters
    ----------
    covariance_type : str
    shift : ndarray of shape (D,)
        Shared reference point ``c``; rows are featurised as ``y = x - c``.
    coefficients : ndarray of shape (K, F + 1)
        Weights of the features in each component's log-density, in the E-step dtype.
        ``F`` is D + D(D+1)/2 (full), 2D (diag), D + 1 (spherical), D (tied); the
        last column is ``constants``, the weight of the features' row of ones.
    constants : ndarray of shape (K,)
        ``log w_k + log det U_k - D/2 log 2 pi - 1/2 nu_k^T P_k nu_k`` (float64).
    tied_factor : ndarray of shape (D, D) or None
        For tied covariance, ``U^T`` (E-step dtype): the row term
        ``-1/2 |U^T y|^2`` is the same for every component.
    far : ndarray of shape (m,), int
        Components scored and accumulated exactly about their own means.
    far_means : ndarray of shape (m, D)
    far_factors : ndarray
        Their precision factors: (m, D, D) for full/tied, (m, D) for diag
        (``1/sigma``), (m,) for spherical.
    far_constants : ndarray of shape (m,)
        ``log w_k + log det U_k - D/2 log 2 pi``.
    dtype : numpy dtype
        Dtype of the first product and of the exponentials.
    """

    covariance_type: str
    shift: np.ndarray
    coefficients: np.ndarray
    constants: np.ndarray
    tied_factor: np.ndarray | None
    far: np.ndarray
    far_means: np.ndarray
    far_factors: np.ndarray
    far_constants: np.ndarray
    dtype: np.dtype

    @property
    def n_components(self) -> int:
        return int(self.constants.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.shift.shape[0])

    @property
    def block_rows(self) -> int:
        """Rows per cache tile for this problem shape and compute dtype."""
        return default_block_rows(self.coefficients.shape[1] - 1, self.dtype)

    @property
    def component_shift(self) -> np.ndarray:
        """Reference point of each component's statistics, shape (K, D)."""
        shift = np.tile(self.shift, (self.n_components, 1))
        shift[self.far] = self.far_means
        return shift


def _log_weights(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(weights)


def natural_form(
    params: MixtureParameters,
    dtype: np.dtype | type = np.float64,
    shift: np.ndarray | None = None,
    *,
    log_weights: np.ndarray | None = None,
) -> NaturalForm:
    """Precompute the E-step coefficients for ``params``.

    Parameters
    ----------
    params : MixtureParameters
    dtype : {np.float64, np.float32}
        Compute dtype of the per-block products.
    shift : ndarray of shape (D,), optional
        Reference point; defaults to the mixture mean ``sum_k w_k mu_k``.
    log_weights : ndarray of shape (K,), optional
        Per-component additive constants used instead of ``log params.weights``.
        They need not sum to one in probability: the variational E-step scores
        rows with ``E[log pi_k]`` plus its own per-component terms
        (:func:`streamgmm.core.variational.effective_log_weights`), so responsibilities
        are those of scikit-learn's ``BayesianGaussianMixture``.

    Returns
    -------
    NaturalForm
    """
    dtype = np.dtype(dtype)
    ctype = params.covariance_type
    n_features = params.n_features
    shift = params.mixture_mean if shift is None else np.asarray(shift, dtype=np.float64)
    if dtype == np.float32:
        # A float32 number: float32 rows then subtract it in float32 with one
        # rounding of x - c (exactly, for data offset far from zero), as if the
        # subtraction ran in float64 and was rounded, and without a cast pass.
        shift = shift.astype(np.float32).astype(np.float64)
    nu = params.means - shift  # (K, D): means about the reference point
    chol = params.precisions_cholesky
    log_weights = _log_weights(params.weights) if log_weights is None else np.asarray(log_weights, dtype=np.float64)
    constants = (
        log_weights
        + log_det_precisions_cholesky(chol, ctype, n_features)
        - 0.5 * n_features * _LOG_2PI
    )
    coefficients, quadratic = _NATURAL_COEFFICIENTS[ctype](params, nu, chol)
    constants = constants - quadratic
    # U^T, applied as U^T y: for tied covariance the row term -1/2 |U^T y|^2 is shared.
    tied_factor = np.ascontiguousarray(chol.T, dtype=dtype) if ctype == "tied" else None
    far = _far_components(params, nu, FAR_RATIO_BY_DTYPE[dtype])
    if COVARIANCE_RULES[ctype].shared:
        far_factors = np.broadcast_to(chol, (len(far),) + chol.shape).copy()
    else:
        far_factors = chol[far]
    far_constants = (
        log_weights[far]
        + np.broadcast_to(log_det_precisions_cholesky(chol, ctype, n_features), params.weights.shape)[far]
        - 0.5 * n_features * _LOG_2PI
    )
    return NaturalForm(
        covariance_type=ctype,
        shift=np.array(shift, dtype=np.float64),
        # (K, F + 1): the last column multiplies the features' row of ones.
        coefficients=np.ascontiguousarray(np.hstack([coefficients.T, constants[:, None]]), dtype=dtype),
        constants=np.asarray(constants, dtype=np.float64),
        tied_factor=tied_factor,
        far=far,
        far_means=params.means[far].copy(),
        far_factors=np.asarray(far_factors, dtype=np.float64),
        far_constants=np.asarray(far_constants, dtype=np.float64),
        dtype=dtype,
    )


@lru_cache(maxsize=64)
def _upper_triangle(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n_features)``, computed once per D (read-only arrays of shape (T,)).

    Every batch of a stream needs them twice; rebuilding them cost about 8% of a
    ``partial_fit`` of 1,000 rows (D=13, K=16, full).
    """
    rows, cols = np.triu_indices(n_features)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


def _coefficients_full(
    params: MixtureParameters, nu: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    precisions = params.precisions  # (K, D, D)
    linear = np.einsum("kab,kb->ak", precisions, nu)  # (D, K)
    rows, cols = _upper_triangle(params.n_features)
    quadratic = -precisions[:, rows, cols].T  # (T, K): -P_ab off the diagonal
    quadratic[rows == cols] *= 0.5  # -1/2 P_aa on the diagonal
    projected = np.einsum("kab,ka->kb", chol, nu)  # U_k^T nu_k
    return np.vstack([linear, quadratic]), 0.5 * np.einsum("kb,kb->k", projected, projected)


def _coefficients_tied(
    params: MixtureParameters, nu: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    precision = params.precisions
    projected = nu @ chol
    return precision @ nu.T, 0.5 * np.einsum("kb,kb->k", projected, projected)  # (D, K), (K,)


def _coefficients_diag(
    params: MixtureParameters, nu: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    precisions = chol**2  # (K, D)
    coefficients = np.vstack([(precisions * nu).T, -0.5 * precisions.T])
    return coefficients, 0.5 * np.einsum("kd,kd->k", precisions, nu**2)


def _coefficients_spherical(
    params: MixtureParameters, nu: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    precisions = chol**2  # (K,)
    coefficients = np.vstack([(precisions[:, None] * nu).T, -0.5 * precisions[None, :]])
    return coefficients, 0.5 * precisions * np.einsum("kd,kd->k", nu, nu)


#: Weights of the features (F, K) and ``1/2 nu_k^T P_k nu_k`` (K,), by covariance
#: type: ``(params, nu, precisions_cholesky) -> (coefficients, quadratic)``.
_NATURAL_COEFFICIENTS = {
    "full": _coefficients_full,
    "tied": _coefficients_tied,
    "diag": _coefficients_diag,
    "spherical": _coefficients_spherical,
}


def _largest_precision_bound_matrix(chol: np.ndarray, n_components: int) -> np.ndarray:
    # Gershgorin's bound on lambda_max(P) = ||U||_2^2: the largest absolute row
    # sum of P. At most sqrt(D) times too large (so a component is declared far
    # a little early, which is exact, only slower) and far cheaper than the SVD
    # of every factor, which dominated small online batches.
    precisions = np.einsum("...ab,...cb->...ac", chol, chol)
    bound = np.abs(precisions).sum(axis=-1).max(axis=-1)
    return bound if bound.ndim else np.full(n_components, bound)  # tied: one bound for all


def _largest_precision_diag(chol: np.ndarray, n_components: int) -> np.ndarray:
    return (chol**2).max(axis=1)


def _largest_precision_spherical(chol: np.ndarray, n_components: int) -> np.ndarray:
    return chol**2


#: An upper bound on each component's largest precision eigenvalue (K,), by
#: covariance type: ``(precisions_cholesky, K) -> bound``.
_LARGEST_PRECISION = {
    "full": _largest_precision_bound_matrix,
    "tied": _largest_precision_bound_matrix,
    "diag": _largest_precision_diag,
    "spherical": _largest_precision_spherical,
}


def _far_components(params: MixtureParameters, nu: np.ndarray, far_ratio: float) -> np.ndarray:
    """Indices of components too far from the reference for the shared form.

    The M-step's relative error in the worst direction is about
    ``eps * |nu_k|^2 * lambda_max(P_k)``; that ratio is what ``far_ratio`` bounds.
    """
    chol = params.precisions_cholesky
    rules = COVARIANCE_RULES[params.covariance_type]
    largest = _LARGEST_PRECISION[rules.name](chol, params.n_components)
    squared_norm = np.einsum("kd,kd->k", nu, nu)
    far = np.flatnonzero(squared_norm * largest > far_ratio)
    if len(far) and rules.matrix:
        # Gershgorin flagged these: confirm with the exact largest eigenvalue, so a
        # tight bound (float32's) does not send ordinary components the slow way.
        factors = chol[None] if rules.shared else chol[far]
        exact = np.linalg.norm(factors, ord=2, axis=(-2, -1)) ** 2
        far = far[squared_norm[far] * exact > far_ratio]
    return far


# --------------------------------------------------------------------- per block
def feature_count(covariance_type: str, n_features: int) -> int:
    """Rows F of the feature matrix ``Phi^T`` for a covariance type and D features."""
    return COVARIANCE_RULES[covariance_type].feature_count(n_features)


def _square_features_full(yt: np.ndarray, squares: np.ndarray) -> None:
    n_features = yt.shape[0]
    offset = 0
    for a in range(n_features):
        width = n_features - a
        np.multiply(yt[a], yt[a:], out=squares[offset : offset + width])
        offset += width


def _square_features_tied(yt: np.ndarray, squares: np.ndarray) -> None:
    return None  # tied needs the shifted rows only


def _square_features_diag(yt: np.ndarray, squares: np.ndarray) -> None:
    np.multiply(yt, yt, out=squares)


def _square_features_spherical(yt: np.ndarray, squares: np.ndarray) -> None:
    np.einsum("db,db->b", yt, yt, out=squares[0])


#: Fill the second-order features (F - D, b) of shifted rows ``yt`` (D, b), in
#: place, by covariance type: ``(yt, squares) -> None``. Chosen once per chunk.
_SQUARE_FEATURES = {
    "full": _square_features_full,
    "tied": _square_features_tied,
    "diag": _square_features_diag,
    "spherical": _square_features_spherical,
}


class _TileWorkspace:
    """Scratch arrays for one tile, reused for every tile of a chunk.

    Reusing them matters: a fresh multi-MB array per tile is served by fresh
    pages from the OS, and faulting them in cost more than filling them. All are
    in the compute dtype.

    Attributes
    ----------
    phi : ndarray of shape (F + 1, block_rows)
        Feature matrix; its last row is ones, written once.
    log_prob : ndarray of shape (K * block_rows,)
        Flat, so that a short last tile still gets a contiguous (K, b) view.
    row_max, total : ndarray of shape (block_rows,)
    moments : ndarray of shape (F + 1, K)
        One tile's second product, before it is added in float64.
    square_features : callable
        The covariance type's entry of ``_SQUARE_FEATURES``.
    """

    def __init__(self, form: NaturalForm, block_rows: int) -> None:
        n_phi = feature_count(form.covariance_type, form.n_features) + 1
        self.phi = np.empty((n_phi, block_rows), dtype=form.dtype)
        self.phi[-1] = 1.0
        self.log_prob = np.empty(form.n_components * block_rows, dtype=form.dtype)
        self.row_max = np.empty(block_rows, dtype=form.dtype)
        self.total = np.empty(block_rows, dtype=form.dtype)
        self.moments = np.empty((n_phi, form.n_components), dtype=form.dtype)
        self.square_features = _SQUARE_FEATURES[form.covariance_type]


def _features(block: np.ndarray, form: NaturalForm, work: _TileWorkspace) -> np.ndarray:
    """Feature matrix ``Phi^T`` (F + 1, b) of a tile of rows (b, D), compute dtype.

    The first D rows are the shifted rows ``y^T = (x - c)^T``, rounded once to
    the compute dtype (so an offset costs no precision);
    the next are the squares (diag), the squared norm (spherical) or the upper
    triangle of ``y y^T`` in ``np.triu_indices`` order (full); the last is ones.
    """
    n_rows, n_features = block.shape
    phi = work.phi[:, :n_rows]
    yt = phi[:n_features]
    if block.dtype == form.dtype:
        np.subtract(block.T, form.shift.astype(form.dtype)[:, None], out=yt)
    else:
        np.subtract(block.T, form.shift[:, None], out=yt, casting="same_kind")
    work.square_features(yt, phi[n_features:-1])
    return phi


def _far_offsets(block: np.ndarray, form: NaturalForm) -> list[np.ndarray]:
    """``x - mu_k`` (b, D) in float64 for every far component."""
    return [np.subtract(block, mean, dtype=np.float64) for mean in form.far_means]


def _far_distance_matrix(z: np.ndarray, factor: np.ndarray) -> np.ndarray:
    projected = z @ factor
    return np.einsum("bd,bd->b", projected, projected)


def _far_distance_diag(z: np.ndarray, factor: np.ndarray) -> np.ndarray:
    scaled = z * factor
    return np.einsum("bd,bd->b", scaled, scaled)


def _far_distance_spherical(z: np.ndarray, factor: np.ndarray) -> np.ndarray:
    return factor**2 * np.einsum("bd,bd->b", z, z)


#: Squared Mahalanobis distance (b,) of offsets ``z`` (b, D) from a far component
#: with precision factor ``factor``, by covariance type: ``(z, factor) -> distance``.
_FAR_SQUARED_DISTANCE = {
    "full": _far_distance_matrix,
    "tied": _far_distance_matrix,
    "diag": _far_distance_diag,
    "spherical": _far_distance_spherical,
}


def _far_second_moment_matrix(z: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (z * r[:, None]).T @ z


def _far_second_moment_diag(z: np.ndarray, r: np.ndarray) -> np.ndarray:
    return r @ (z * z)


def _far_second_moment_spherical(z: np.ndarray, r: np.ndarray) -> np.ndarray:
    return r @ np.einsum("bd,bd->b", z, z)


#: One tile's second moment of a far component about its mean, from offsets ``z``
#: (b, D) and responsibilities ``r`` (b,), by covariance type: ``(z, r) -> s2``.
_FAR_SECOND_MOMENT = {
    "full": _far_second_moment_matrix,
    "tied": _far_second_moment_matrix,
    "diag": _far_second_moment_diag,
    "spherical": _far_second_moment_spherical,
}


def _block_log_prob(
    phi: np.ndarray, form: NaturalForm, work: _TileWorkspace, far_offsets: list[np.ndarray]
) -> np.ndarray:
    """Weighted log-densities ``log w_k + log N(x | k)`` of shape (K, b), compute dtype.

    Written into the workspace (a contiguous view): valid until the next tile.
    """
    n_rows = phi.shape[1]
    log_prob = work.log_prob[: form.n_components * n_rows].reshape(form.n_components, n_rows)
    np.matmul(form.coefficients, phi, out=log_prob)  # constants come with the row of ones
    if form.tied_factor is not None:
        projected = form.tied_factor @ phi[: form.n_features]
        log_prob -= 0.5 * np.einsum("db,db->b", projected, projected, dtype=np.float64)
    if len(form.far):
        distance = _FAR_SQUARED_DISTANCE[form.covariance_type]
        for j, k in enumerate(form.far):
            log_prob[k] = form.far_constants[j] - 0.5 * distance(far_offsets[j], form.far_factors[j])
    return log_prob


#: Exponents (log-densities minus the row maximum) are floored here before exp():
#: K * exp(-60) ~ 1e-25 is far below what a float64 row total (>= 1) can resolve, and
#: numpy's exp is up to twice as slow on very negative inputs and much slower on
#: subnormal results. A responsibility below ~1e-26 thus reads as ~1e-26 instead of
#: less: a component whose every responsibility is that small is empty either way.
_EXP_FLOOR = -60.0


_EXP_FLOOR_VALUE = float(np.exp(_EXP_FLOOR))
#: Below this fraction of exponents above the floor, only those are computed.
_SPARSE_EXP_FRACTION = 0.5


def _floored_exp(values: np.ndarray) -> np.ndarray:
    """``exp(max(values, _EXP_FLOOR))`` in place (float64), bitwise.

    Where the clusters are apart, most (row, component) exponents lie below the
    floor: each row is near a few components only. float64 ``exp`` has no SIMD
    path on CPUs without AVX-512 and was half the E-step; computing it only for
    the exponents above the floor (and writing the floor's value elsewhere) gives
    the same bits at a fraction of the cost.
    """
    flat = values.reshape(-1)
    above = flat > _EXP_FLOOR
    if np.count_nonzero(above) < _SPARSE_EXP_FRACTION * flat.size:
        keep = np.flatnonzero(above)
        kept = np.exp(flat[keep])
        flat.fill(_EXP_FLOOR_VALUE)
        flat[keep] = kept
    else:
        np.maximum(values, _EXP_FLOOR, out=values)
        np.exp(values, out=values)
    return values


def _responsibilities(log_prob: np.ndarray, work: _TileWorkspace) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities (K, b) and row log-likelihoods (b,), in place.

    ``log_prob`` (K, b), contiguous, in the compute dtype, is overwritten with
    the responsibilities, which are returned; the row log-likelihoods are
    float64. One exp per entry (scipy's logsumexp followed by exp(log_resp), as
    scikit-learn does, needs two); float32 exponentials are SIMD and dense.
    """
    n_rows = log_prob.shape[1]
    row_max = np.max(log_prob, axis=0, out=work.row_max[:n_rows])
    np.subtract(log_prob, row_max, out=log_prob)
    if log_prob.dtype == np.float64:
        _floored_exp(log_prob)
    else:
        np.clip(log_prob, _EXP_FLOOR, None, out=log_prob)  # faster than np.maximum here
        np.exp(log_prob, out=log_prob)
    total = np.sum(log_prob, axis=0, out=work.total[:n_rows])
    np.divide(log_prob, total, out=log_prob)
    # total is in [1, K]: its log in the compute dtype is as precise as row_max.
    row_log_likelihood = np.log(total).astype(np.float64)
    row_log_likelihood += row_max
    return log_prob, row_log_likelihood


# ------------------------------------------------------------------ public kernels
def chunk_statistics(
    X: np.ndarray,
    form: NaturalForm,
    sample_weight: np.ndarray | None = None,
    block_rows: int | None = None,
    *,
    out_log_likelihood: np.ndarray | None = None,
    out_responsibilities: np.ndarray | None = None,
) -> SufficientStatistics:
    """E-step and sufficient statistics of one chunk of rows, in one pass.

    Parameters
    ----------
    X : ndarray of shape (n, D)
        Rows of the chunk (float32 or float64; any layout).
    form : NaturalForm
        The current parameters, from :func:`natural_form`.
    sample_weight : ndarray of shape (n,), optional
        Non-negative row weights; default all ones.
    block_rows : int, optional
        Rows per cache tile; default :func:`default_block_rows`.
    out_log_likelihood : ndarray of shape (n,), optional
        Filled with each row's ``log p(x_i)``, as :func:`chunk_posteriors` gives
        it, from the same E-step (for callers that score rows and update on them).
    out_responsibilities : ndarray of shape (n, K), optional
        Filled with each row's responsibilities, before any sample weight.

    Returns
    -------
    SufficientStatistics
        About ``form.component_shift``; ``log_likelihood`` is under the parameters of ``form``.
    """
    n_rows, n_features = X.shape
    n_components = form.n_components
    rules = COVARIANCE_RULES[form.covariance_type]
    far = form.far
    near = np.setdiff1d(np.arange(n_components), far) if len(far) and rules.shared else None
    moments = np.zeros((rules.feature_count(n_features) + 1, n_components))  # (F + 1, K), float64
    tied_scatter = np.zeros((n_features, n_features)) if rules.shared else None
    far_s1 = np.zeros((len(far), n_features))
    far_s2 = np.zeros((len(far),) + rules.component_shape(n_features))
    far_second_moment = _FAR_SECOND_MOMENT[rules.name]
    log_likelihood = 0.0
    weight_sum = 0.0
    block_rows = min(block_rows or form.block_rows, max(n_rows, 1))
    work = _TileWorkspace(form, block_rows)
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        block = X[start:stop]
        phi = _features(block, form, work)
        offsets = _far_offsets(block, form)
        resp, row_log_likelihood = _responsibilities(_block_log_prob(phi, form, work, offsets), work)
        if out_log_likelihood is not None:
            out_log_likelihood[start:stop] = row_log_likelihood
        if out_responsibilities is not None:
            out_responsibilities[start:stop] = resp.T
        if sample_weight is None:
            log_likelihood += float(row_log_likelihood.sum())
            weight_sum += stop - start
        else:
            weights = np.asarray(sample_weight[start:stop], dtype=np.float64)
            resp *= weights.astype(resp.dtype, copy=False)
            log_likelihood += float(weights @ row_log_likelihood)
            weight_sum += float(weights.sum())
        # The row of ones makes the last row of this product the responsibility mass.
        moments += np.matmul(phi, resp.T, out=work.moments[:, :n_components])
        if tied_scatter is not None:
            yt = phi[:n_features]
            row_mass = resp.sum(axis=0) if near is None else resp[near].sum(axis=0)
            tied_scatter += (yt * row_mass) @ yt.T
        for j, k in enumerate(far):
            z, r = offsets[j], resp[k]
            far_s1[j] += r @ z
            far_s2[j] += far_second_moment(z, r)
    return _statistics_from_moments(
        form, moments[-1], moments[:-1], tied_scatter, far_s1, far_s2, log_likelihood, weight_sum, n_rows
    )


def _second_moments_full(
    moments: np.ndarray, n_features: int, tied_scatter: np.ndarray | None, far_s2: np.ndarray
) -> np.ndarray:
    rows, cols = _upper_triangle(n_features)
    s2 = np.empty((moments.shape[1], n_features, n_features))
    s2[:, rows, cols] = moments[n_features:].T
    s2[:, cols, rows] = moments[n_features:].T
    return s2


def _second_moments_tied(
    moments: np.ndarray, n_features: int, tied_scatter: np.ndarray | None, far_s2: np.ndarray
) -> np.ndarray:
    s2 = tied_scatter + far_s2.sum(axis=0)
    return 0.5 * (s2 + s2.T)


def _second_moments_diag(
    moments: np.ndarray, n_features: int, tied_scatter: np.ndarray | None, far_s2: np.ndarray
) -> np.ndarray:
    return np.ascontiguousarray(moments[n_features:].T)


def _second_moments_spherical(
    moments: np.ndarray, n_features: int, tied_scatter: np.ndarray | None, far_s2: np.ndarray
) -> np.ndarray:
    return np.array(moments[n_features])


#: ``s2`` from the (F, K) moments (tied: from the scatter and the far components'
#: sums), by covariance type: ``(moments, D, tied_scatter, far_s2) -> s2``.
_SECOND_MOMENTS = {
    "full": _second_moments_full,
    "tied": _second_moments_tied,
    "diag": _second_moments_diag,
    "spherical": _second_moments_spherical,
}


def _statistics_from_moments(
    form: NaturalForm,
    n_total: np.ndarray,
    moments: np.ndarray,
    tied_scatter: np.ndarray | None,
    far_s1: np.ndarray,
    far_s2: np.ndarray,
    log_likelihood: float,
    weight_sum: float,
    n_rows: int,
) -> SufficientStatistics:
    """Unpack the (F, K) moments, overlay the far components' exact sums."""
    n_features = form.n_features
    ctype = form.covariance_type
    far = form.far
    s1 = np.ascontiguousarray(moments[:n_features].T)
    s2 = _SECOND_MOMENTS[ctype](moments, n_features, tied_scatter, far_s2)
    if len(far):
        s1[far] = far_s1
        if not COVARIANCE_RULES[ctype].shared:
            s2[far] = far_s2
    return SufficientStatistics(
        covariance_type=ctype,
        shift=form.component_shift,
        n=n_total,
        s1=s1,
        s2=s2,
        log_likelihood=log_likelihood,
        weight_sum=weight_sum,
        n_samples=n_rows,
    )


def chunk_weighted_log_prob(
    X: np.ndarray, form: NaturalForm, block_rows: int | None = None
) -> np.ndarray:
    """``log w_k + log N(x_i | k)`` for every row and component, shape (n, K), float64."""
    out = np.empty((X.shape[0], form.n_components))
    block_rows = min(block_rows or form.block_rows, max(X.shape[0], 1))
    work = _TileWorkspace(form, block_rows)
    for start in range(0, X.shape[0], block_rows):
        stop = min(start + block_rows, X.shape[0])
        block = X[start:stop]
        phi = _features(block, form, work)
        out[start:stop] = _block_log_prob(phi, form, work, _far_offsets(block, form)).T
    return out


def chunk_posteriors(
    X: np.ndarray, form: NaturalForm, block_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row log-likelihoods and responsibilities of one chunk.

    Returns
    -------
    log_likelihood : ndarray of shape (n,)
        ``log p(x_i)`` under the mixture.
    responsibilities : ndarray of shape (n, K)
        Posterior probabilities of the components, rows summing to one.
    """
    n_rows = X.shape[0]
    log_likelihood = np.empty(n_rows)
    responsibilities = np.empty((n_rows, form.n_components))
    block_rows = min(block_rows or form.block_rows, max(n_rows, 1))
    work = _TileWorkspace(form, block_rows)
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        block = X[start:stop]
        phi = _features(block, form, work)
        resp, log_likelihood[start:stop] = _responsibilities(
            _block_log_prob(phi, form, work, _far_offsets(block, form)), work
        )
        responsibilities[start:stop] = resp.T
    return log_likelihood, responsibilities
