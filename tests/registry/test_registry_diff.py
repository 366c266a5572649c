"""diff matches components regardless of their order, and measures what changed."""

from __future__ import annotations

import numpy as np
import pytest
from registry_helpers import COVARIANCE_TYPES, make_parameters

from streamgmm.core.errors import InvalidParameterError
from streamgmm.core.params import MixtureParameters
from streamgmm.registry import diff_parameters
from streamgmm.registry.diff import bhattacharyya_distances, metadata_changes, metadata_differences


def _permuted(parameters: MixtureParameters, order: np.ndarray) -> MixtureParameters:
    shared = parameters.covariance_type == "tied"
    return MixtureParameters(
        weights=parameters.weights[order],
        means=parameters.means[order],
        covariances=parameters.covariances if shared else parameters.covariances[order],
        precisions_cholesky=parameters.precisions_cholesky
        if shared
        else parameters.precisions_cholesky[order],
        covariance_type=parameters.covariance_type,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_diff_finds_permuted_components(covariance_type):
    a = make_parameters(covariance_type, n_components=6, n_features=3, seed=7)
    order = np.array([3, 0, 5, 1, 4, 2])
    b = _permuted(a, order)
    result = diff_parameters(a, b)
    assert not result.identical and not result.is_identity_matching
    # a[i] is b[j] where order[j] == i.
    assert result.permutation == tuple(int(np.flatnonzero(order == i)[0]) for i in range(6))
    assert result.max_mean_distance == 0.0 and result.max_covariance_distance == 0.0
    assert result.max_bhattacharyya == pytest.approx(0.0, abs=1e-12)
    assert result.weights_total_variation == 0.0


def test_diff_of_identical_and_of_perturbed_parameters():
    a = make_parameters("full", n_components=3, n_features=2, seed=1)
    same = diff_parameters(a, a)
    assert same.identical and same.is_identity_matching and same.max_mean_distance == 0.0
    moved = a.replace(means=a.means + np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    result = diff_parameters(a, moved)
    assert not result.identical and result.is_identity_matching
    assert result.matches[0].mean_distance == pytest.approx(0.5)
    assert result.matches[1].mean_distance == 0.0
    # Moving a mean by d under covariance S costs d^T S^-1 d / 8 in Bhattacharyya distance.
    delta = np.array([0.5, 0.0])
    expected = delta @ np.linalg.solve(a.covariances[0], delta) / 8
    assert result.matches[0].bhattacharyya == pytest.approx(expected, rel=1e-12)


def test_diff_across_covariance_types_and_component_counts():
    full = make_parameters("full", n_components=4, n_features=2, seed=3)
    diag = MixtureParameters.from_covariances(
        full.weights[:3] / full.weights[:3].sum(),
        full.means[:3],
        np.diagonal(full.covariances[:3], axis1=1, axis2=2),
        "diag",
    )
    result = diff_parameters(full, diag)
    assert result.n_components == (4, 3)
    assert result.permutation == (0, 1, 2) and result.unmatched_a == (3,)
    assert result.max_mean_distance == 0.0
    # Only the off-diagonal covariance terms differ.
    off_diagonal = np.sqrt(2) * abs(full.covariances[0, 0, 1])
    assert result.matches[0].covariance_distance == pytest.approx(off_diagonal)
    assert result.weights_total_variation > 0


def test_distances_are_symmetric_and_unit_free():
    a = make_parameters("full", n_components=3, n_features=2, seed=5)
    b = make_parameters("full", n_components=3, n_features=2, seed=6)
    forward = bhattacharyya_distances(a, b)
    assert np.allclose(forward, bhattacharyya_distances(b, a).T)
    scale = np.diag([1e3, 1e-3])  # change the units of both features
    scaled = [
        MixtureParameters.from_covariances(
            p.weights, p.means @ scale, scale @ p.covariances @ scale, "full"
        )
        for p in (a, b)
    ]
    assert np.allclose(bhattacharyya_distances(*scaled), forward, rtol=1e-6)


def test_diff_needs_the_same_features():
    with pytest.raises(InvalidParameterError, match="a has 2, b has 3"):
        diff_parameters(
            make_parameters("diag", n_features=2), make_parameters("diag", n_features=3)
        )


def test_registry_diff_and_metadata_changes(registry):
    a = make_parameters("diag", n_components=4, seed=2)
    registry.publish("m", a, training_config={"tol": 1e-3})
    registry.publish("m", _permuted(a, np.array([1, 0, 3, 2])), training_config={"tol": 1e-4})
    result = registry.diff("m", 1, "latest")
    assert result.permutation == (1, 0, 3, 2) and result.max_mean_distance == 0.0
    changes = metadata_changes(registry.show("m", 1), registry.show("m", 2))
    assert changes == {"training_config": ({"tol": 1e-3}, {"tol": 1e-4})}


# ------------------------------------------------------------------ metadata key by key
def _two_versions(registry):
    parameters = make_parameters("diag", n_components=2, seed=4)
    config = {"job": "batch_fit", "model": {"n_components": 2, "tol": 1e-3, "max_iter": 100},
              "data": {"uri": "/data/a.zarr", "columns": ["x0", "x1"]}}
    metrics = {"n_iter": 3, "extra": {"lower_bounds": [-3.0, -2.5, -2.4], "seconds": 1.0}}
    registry.publish("m", parameters, training_config=config, metrics=metrics)
    config_b = {"job": "batch_fit", "model": {"n_components": 2, "tol": 1e-5, "seed": 7},
                "data": {"uri": "/data/a.zarr", "columns": ["x0", "x1"]}}
    metrics_b = {"n_iter": 4, "extra": {"lower_bounds": [-3.0, -2.5, -2.45, -2.4],
                                        "seconds": 1.0, "grid": [[1.0, 2.0], [3.0, 4.5]]}}
    registry.publish("m", parameters, training_config=config_b, metrics=metrics_b)
    metrics_c = {**metrics_b, "extra": {**metrics_b["extra"], "grid": [[1.0, 2.0], [3.0, 4.0]]}}
    registry.publish("m", parameters, training_config=config_b, metrics=metrics_c)
    return [registry.show("m", v) for v in (1, 2, 3)]


def test_metadata_differences_name_only_the_keys_that_differ(registry):
    one, two, three = _two_versions(registry)
    changes = {c.path: c for c in metadata_differences(one, two)}
    assert set(changes) == {
        "training_config.model.tol", "training_config.model.max_iter",
        "training_config.model.seed", "metrics.n_iter", "metrics.extra.lower_bounds",
        "metrics.extra.grid",
    }
    assert changes["training_config.model.tol"].describe() == (
        "training_config.model.tol: 0.001 -> 1e-05")
    assert changes["training_config.model.max_iter"].describe() == (
        "training_config.model.max_iter: removed (was 100)")
    assert changes["training_config.model.seed"].describe() == "training_config.model.seed: added 7"
    assert changes["metrics.extra.lower_bounds"].describe() == (
        "metrics.extra.lower_bounds: array (3,) float64 -> array (4,) float64")
    grid = {c.path: c for c in metadata_differences(two, three)}["metrics.extra.grid"]
    assert grid.describe() == "metrics.extra.grid: array (2, 2) float64, max |b - a| 0.5"
    assert grid.to_dict() == {"kind": "changed", "a": {"shape": [2, 2], "dtype": "float64"},
                              "b": {"shape": [2, 2], "dtype": "float64"},
                              "max_abs_difference": 0.5}
    assert metadata_differences(three, three) == ()
