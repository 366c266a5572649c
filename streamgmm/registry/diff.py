"""How two mixtures differ, component by component.

Mixture components have no inherent order: two fits of the same data may
number them differently. Components are therefore matched first, by a minimum
total-cost assignment (``scipy.optimize.linear_sum_assignment``) on the
Bhattacharyya distance between the Gaussians::

    D_B = 1/8 (mu_a - mu_b)^T S^-1 (mu_a - mu_b) + 1/2 ln det S - 1/4 (ln det S_a + ln det S_b),
    S = (S_a + S_b) / 2

It is symmetric, zero only for identical Gaussians, and unchanged by a change of
units of the features, so the matching does not depend on feature scales (a
plain distance between means would). Then, per matched pair: the difference of
weights, the Euclidean distance of the means and the Frobenius distance of the
covariance matrices (diag/spherical/tied read as the matrices they stand for).

Metadata are compared key by key (:func:`metadata_differences`): only the keys that
changed, appeared or disappeared, each with its dotted path; numeric arrays (the
per-iteration lower bounds, say) are summarised by shape, dtype and the largest
absolute difference instead of being printed whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from streamgmm.core.errors import InvalidParameterError
from streamgmm.core.params import MixtureParameters

from .jsonvalues import thaw_json
from .metadata import ModelMetadata

__all__ = [
    "ComponentMatch",
    "ParameterDiff",
    "ValueChange",
    "bhattacharyya_distances",
    "diff_parameters",
    "match_components",
    "metadata_changes",
    "metadata_differences",
]

_DIAGONAL_TYPES = ("diag", "spherical")


@dataclass(frozen=True, kw_only=True)
class ComponentMatch:
    """One matched pair of components, ``a[index_a]`` with ``b[index_b]``."""

    index_a: int
    index_b: int
    weight_a: float
    weight_b: float
    mean_distance: float
    covariance_distance: float
    bhattacharyya: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(vars(self))


@dataclass(frozen=True, kw_only=True)
class ParameterDiff:
    """The difference between mixtures ``a`` and ``b``.

    Parameters
    ----------
    covariance_types : (str, str)
    n_components : (int, int)
    n_features : int
    matches : tuple of ComponentMatch
        One per matched pair, ordered by ``index_a``; ``min(K_a, K_b)`` of them.
    unmatched_a, unmatched_b : tuple of int
        Components left over when the two sides have different K.
    identical : bool
        Same covariance type and bitwise-equal arrays.
    weights_total_variation : float
        Half the L1 distance between the matched weights, with the weights of
        unmatched components counted against zero.
    """

    covariance_types: tuple[str, str]
    n_components: tuple[int, int]
    n_features: int
    matches: tuple[ComponentMatch, ...]
    unmatched_a: tuple[int, ...]
    unmatched_b: tuple[int, ...]
    identical: bool
    weights_total_variation: float

    @property
    def permutation(self) -> tuple[int, ...]:
        """``index_b`` for each matched ``index_a``, in order of ``index_a``."""
        return tuple(match.index_b for match in self.matches)

    @property
    def is_identity_matching(self) -> bool:
        """Whether every component matched the one with the same index."""
        return (
            not self.unmatched_a
            and not self.unmatched_b
            and all(m.index_a == m.index_b for m in self.matches)
        )

    @property
    def max_mean_distance(self) -> float:
        """Largest Euclidean distance between matched means."""
        return max((m.mean_distance for m in self.matches), default=0.0)

    @property
    def max_covariance_distance(self) -> float:
        """Largest Frobenius distance between matched covariances."""
        return max((m.covariance_distance for m in self.matches), default=0.0)

    @property
    def max_bhattacharyya(self) -> float:
        """Largest Bhattacharyya distance between matched components."""
        return max((m.bhattacharyya for m in self.matches), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary and matches."""
        return {
            "identical": self.identical,
            "covariance_types": list(self.covariance_types),
            "n_components": list(self.n_components),
            "n_features": self.n_features,
            "is_identity_matching": self.is_identity_matching,
            "permutation": list(self.permutation),
            "unmatched_a": list(self.unmatched_a),
            "unmatched_b": list(self.unmatched_b),
            "weights_total_variation": self.weights_total_variation,
            "max_mean_distance": self.max_mean_distance,
            "max_covariance_distance": self.max_covariance_distance,
            "max_bhattacharyya": self.max_bhattacharyya,
            "matches": [m.to_dict() for m in self.matches],
        }


def _full_covariances(parameters: MixtureParameters) -> np.ndarray:
    """Covariance matrices, shape (K, D, D), whatever the parameterisation."""
    return parameters.full_covariances


def _variances(parameters: MixtureParameters) -> np.ndarray:
    """Per-feature variances, shape (K, D), of a diag or spherical mixture."""
    if parameters.covariance_type == "diag":
        return parameters.covariances
    return np.repeat(parameters.covariances[:, None], parameters.n_features, axis=1)


def _check_comparable(a: MixtureParameters, b: MixtureParameters) -> None:
    if a.n_features != b.n_features:
        raise InvalidParameterError(
            f"Cannot compare mixtures over different features: a has {a.n_features}, "
            f"b has {b.n_features}."
        )


def bhattacharyya_distances(a: MixtureParameters, b: MixtureParameters) -> np.ndarray:
    """Bhattacharyya distance between every component of ``a`` and of ``b``.

    Returns
    -------
    ndarray of shape (K_a, K_b)
        Non-negative; zero on identical components.

    Notes
    -----
    Computed one row at a time, so memory is ``K_b x D x D`` (``K_b x D`` when
    both mixtures are diagonal), not ``K_a x K_b x D x D``.
    """
    _check_comparable(a, b)
    costs = np.empty((a.n_components, b.n_components))
    if a.covariance_type in _DIAGONAL_TYPES and b.covariance_type in _DIAGONAL_TYPES:
        var_a, var_b = _variances(a), _variances(b)
        logdet_a, logdet_b = np.log(var_a).sum(axis=1), np.log(var_b).sum(axis=1)
        for i in range(a.n_components):
            average = 0.5 * (var_a[i] + var_b)
            delta = b.means - a.means[i]
            mahalanobis = np.sum(delta * delta / average, axis=1)
            costs[i] = (
                mahalanobis / 8
                + 0.5 * np.log(average).sum(axis=1)
                - 0.25 * (logdet_a[i] + logdet_b)
            )
    else:
        cov_a, cov_b = _full_covariances(a), _full_covariances(b)
        logdet_a, logdet_b = np.linalg.slogdet(cov_a)[1], np.linalg.slogdet(cov_b)[1]
        for i in range(a.n_components):
            average = 0.5 * (cov_a[i] + cov_b)
            delta = b.means - a.means[i]
            solved = np.linalg.solve(average, delta[:, :, None])[:, :, 0]
            mahalanobis = np.sum(delta * solved, axis=1)
            logdet = np.linalg.slogdet(average)[1]
            costs[i] = mahalanobis / 8 + 0.5 * logdet - 0.25 * (logdet_a[i] + logdet_b)
    # Rounding can leave identical components a hair below zero.
    return np.maximum(costs, 0.0)


def match_components(
    a: MixtureParameters, b: MixtureParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair components of ``a`` and ``b`` so the summed Bhattacharyya distance is least.

    Returns
    -------
    rows : ndarray of shape (M,)
        Indices into ``a``, increasing; ``M = min(K_a, K_b)``.
    cols : ndarray of shape (M,)
        The matching indices into ``b``.
    costs : ndarray of shape (K_a, K_b)
        The distance matrix the matching minimised.
    """
    costs = bhattacharyya_distances(a, b)
    rows, cols = linear_sum_assignment(costs)
    return rows, cols, costs


def diff_parameters(a: MixtureParameters, b: MixtureParameters) -> ParameterDiff:
    """Compare two mixtures over the same features.

    Parameters
    ----------
    a, b : MixtureParameters
        Any covariance types and numbers of components; D must agree.

    Returns
    -------
    ParameterDiff

    Raises
    ------
    InvalidParameterError
        If the mixtures have different numbers of features.
    """
    rows, cols, costs = match_components(a, b)
    diagonal = a.covariance_type in _DIAGONAL_TYPES and b.covariance_type in _DIAGONAL_TYPES
    if diagonal:
        cov_a, cov_b = _variances(a), _variances(b)
    else:
        cov_a, cov_b = _full_covariances(a), _full_covariances(b)
    matches = tuple(
        ComponentMatch(
            index_a=int(i),
            index_b=int(j),
            weight_a=float(a.weights[i]),
            weight_b=float(b.weights[j]),
            mean_distance=float(np.linalg.norm(a.means[i] - b.means[j])),
            # For diagonal types the Frobenius norm of the matrices is the norm of the variances.
            covariance_distance=float(np.linalg.norm(cov_a[i] - cov_b[j])),
            bhattacharyya=float(costs[i, j]),
        )
        for i, j in zip(rows, cols, strict=True)
    )
    unmatched_a = sorted(set(range(a.n_components)) - set(rows.tolist()))
    unmatched_b = sorted(set(range(b.n_components)) - set(cols.tolist()))
    total_variation = 0.5 * (
        float(np.abs(a.weights[rows] - b.weights[cols]).sum())
        + float(a.weights[unmatched_a].sum())
        + float(b.weights[unmatched_b].sum())
    )
    identical = a.covariance_type == b.covariance_type and all(
        np.array_equal(getattr(a, name), getattr(b, name))
        for name in ("weights", "means", "covariances", "precisions_cholesky")
    )
    return ParameterDiff(
        covariance_types=(a.covariance_type, b.covariance_type),
        n_components=(a.n_components, b.n_components),
        n_features=a.n_features,
        matches=matches,
        unmatched_a=tuple(unmatched_a),
        unmatched_b=tuple(unmatched_b),
        identical=identical,
        weights_total_variation=total_variation,
    )


_COMPARED_FIELDS = (
    "parent",
    "covariance_type",
    "n_components",
    "n_features",
    "feature_names",
    "dtype",
    "training_config",
    "data_source",
    "metrics",
    "stream_positions",
    "library_versions",
)


def metadata_changes(a: ModelMetadata, b: ModelMetadata) -> dict[str, tuple[Any, Any]]:
    """Metadata fields that differ between two versions (identity and checksums aside).

    Returns
    -------
    dict
        Field name -> (value in ``a``, value in ``b``), as JSON-ready data.
    """
    doc_a, doc_b = a.to_dict(), b.to_dict()
    return {
        name: (thaw_json(doc_a[name]), thaw_json(doc_b[name]))
        for name in _COMPARED_FIELDS
        if doc_a[name] != doc_b[name]
    }


# ============================================================================ key by key
@dataclass(frozen=True)
class ValueChange:
    """One key of two JSON documents that differs.

    Attributes
    ----------
    path : str
        Dotted key path (``training_config.model.tol``; list items as ``[i]``).
    kind : {"changed", "added", "removed"}
        Added: only in ``b``; removed: only in ``a``.
    a, b : JSON value or None
        The values (None on the side that lacks the key).
    """

    path: str
    kind: Literal["changed", "added", "removed"]
    a: Any = None
    b: Any = None

    def describe(self) -> str:
        """``path: old -> new`` (arrays by shape, dtype and max abs difference)."""
        if self.kind == "added":
            return f"{self.path}: added {_text(self.b)}"
        if self.kind == "removed":
            return f"{self.path}: removed (was {_text(self.a)})"
        array_a, array_b = _numeric_array(self.a), _numeric_array(self.b)
        if array_a is not None and array_b is not None:
            if array_a.shape != array_b.shape:
                return f"{self.path}: {_shape_text(array_a)} -> {_shape_text(array_b)}"
            largest = _max_abs_difference(array_a, array_b)
            return f"{self.path}: {_shape_text(array_a)}, max |b - a| {largest:.6g}"
        return f"{self.path}: {_text(self.a)} -> {_text(self.b)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: kind, and the values (arrays as shape, dtype, max abs difference)."""
        record: dict[str, Any] = {"kind": self.kind}
        array_a, array_b = _numeric_array(self.a), _numeric_array(self.b)
        for side, value, array in (("a", self.a, array_a), ("b", self.b, array_b)):
            if (side == "a" and self.kind == "added") or (side == "b" and self.kind == "removed"):
                continue
            record[side] = (
                {"shape": list(array.shape), "dtype": str(array.dtype)}
                if array is not None else value
            )
        if array_a is not None and array_b is not None and array_a.shape == array_b.shape:
            record["max_abs_difference"] = _max_abs_difference(array_a, array_b)
        return record


def _numeric_array(value: Any) -> np.ndarray | None:
    """A list of numbers (or of equal-length lists of numbers) as an array; else None."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        return None
    if array.dtype.kind not in "iuf":  # booleans, strings and objects are not summarised
        return None
    return array


def _shape_text(array: np.ndarray) -> str:
    return f"array {tuple(array.shape)} {array.dtype}"


def _max_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(b.astype(np.float64) - a.astype(np.float64)), initial=0.0))


def _text(value: Any) -> str:
    array = _numeric_array(value)
    if array is not None and array.size > 8:
        return _shape_text(array)
    return json.dumps(value, ensure_ascii=False)


def _differences(path: str, a: Any, b: Any) -> list[ValueChange]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        changes: list[ValueChange] = []
        for key in list(a) + [k for k in b if k not in a]:
            where = f"{path}.{key}" if path else str(key)
            if key not in b:
                changes.append(ValueChange(where, "removed", a=a[key]))
            elif key not in a:
                changes.append(ValueChange(where, "added", b=b[key]))
            else:
                changes += _differences(where, a[key], b[key])
        return changes
    if a == b:
        return []
    lists = isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
    if lists and len(a) == len(b) and _numeric_array(a) is None and _numeric_array(b) is None:
        # Lists of records (e.g. select_k's candidates): item by item.
        return [c for i, (x, y) in enumerate(zip(a, b)) for c in _differences(f"{path}[{i}]", x, y)]
    return [ValueChange(path, "changed", a=a, b=b)]


def metadata_differences(a: ModelMetadata, b: ModelMetadata) -> tuple[ValueChange, ...]:
    """The metadata keys that differ between two versions, down to the innermost key.

    The fields of :func:`metadata_changes` (identity and checksums aside), each
    compared key by key: nested mappings are walked, lists of records item by item,
    and a numeric list is one value (summarised by :meth:`ValueChange.describe`).

    Returns
    -------
    tuple of ValueChange
        In the order of the fields and of the keys in ``a`` (then those only in ``b``).
    """
    return tuple(
        change
        for name, (value_a, value_b) in metadata_changes(a, b).items()
        for change in _differences(name, value_a, value_b)
    )
