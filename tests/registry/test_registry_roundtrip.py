"""Publish then load gives back the very same model, for every covariance type."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from registry_helpers import COVARIANCE_TYPES, make_parameters
from sklearn.mixture import GaussianMixture

from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.errors import ModelNotFoundError, ReadOnlyRegistryError
from streamgmm.registry import ModelRegistry, from_sklearn, to_sklearn
from streamgmm.registry.parameter_file import encode_parameters

ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")


def _data(seed: int = 0, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -2.0]])
    return np.concatenate([c + rng.normal(size=(n // 3, 3)) for c in centres])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_arrays_round_trip_bitwise(registry, covariance_type):
    parameters = make_parameters(covariance_type, n_components=4, n_features=3, seed=1)
    published = registry.publish("m", parameters, feature_names=["x", "y", "z"])
    loaded = registry.load("m", published.version)
    assert loaded.parameters.covariance_type == covariance_type
    for name in ARRAYS:
        original, restored = getattr(parameters, name), getattr(loaded.parameters, name)
        assert restored.dtype == np.float64 and restored.shape == original.shape
        assert restored.tobytes() == original.tobytes(), name
    assert loaded.metadata == published.metadata
    assert loaded.metadata.feature_names == ("x", "y", "z")
    assert (loaded.metadata.n_components, loaded.metadata.n_features) == (4, 3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sklearn_export_scores_bitwise_like_the_original_fit(registry, covariance_type):
    X = _data()
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    registry.publish(
        "gm",
        from_sklearn(fitted),
        metrics={
            "lower_bound": fitted.lower_bound_,
            "n_iter": fitted.n_iter_,
            "converged": fitted.converged_,
        },
    )
    exported = registry.load("gm").to_sklearn()
    assert np.array_equal(exported.predict(X), fitted.predict(X))
    assert exported.score_samples(X).tobytes() == fitted.score_samples(X).tobytes()
    assert exported.predict_proba(X).tobytes() == fitted.predict_proba(X).tobytes()
    assert exported.bic(X) == fitted.bic(X)
    assert exported.lower_bound_ == fitted.lower_bound_ and exported.n_iter_ == fitted.n_iter_
    # And the import direction is exact too.
    for name in ARRAYS:
        assert np.array_equal(getattr(from_sklearn(exported), name), getattr(fitted, f"{name}_"))


def test_to_sklearn_sets_feature_names_and_writable_arrays():
    parameters = make_parameters("full", n_features=2)
    estimator = to_sklearn(parameters, feature_names=["a", "b"], random_state=3)
    assert list(estimator.feature_names_in_) == ["a", "b"]
    assert estimator.n_features_in_ == 2 and estimator.random_state == 3
    assert estimator.means_.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimator.sample(5)  # uses covariances_; no warning, no error
    with pytest.raises(InvalidParameterError, match="n_components is fixed"):
        to_sklearn(parameters, n_components=7)


def test_from_sklearn_needs_a_fitted_estimator():
    with pytest.raises(InvalidParameterError, match="Call fit"):
        from_sklearn(GaussianMixture(2))


def test_parameter_file_bytes_depend_only_on_the_arrays():
    a = encode_parameters(make_parameters("tied", seed=4))
    b = encode_parameters(make_parameters("tied", seed=4))
    assert a == b


def test_metadata_records_lineage_and_caller_dicts(registry):
    first = registry.publish("m", make_parameters("diag"))
    second = registry.publish(
        "m",
        make_parameters("diag", seed=2),
        parent_version=first.version,
        training_config={"n_components": 3, "tol": 1e-3, "init": {"method": "kmeans"}},
        data_source={
            "uri": "s3://b/x.zarr",
            "shape": (100, 2),
            "chunks": [(50, 50), (2,)],
            "sha256": "ab",
        },
        metrics={"n_samples": np.int64(100), "bic": np.float64(12.5), "extra": {"silhouette": 0.4}},
        stream_positions={"topic-0": 1234},
        aliases="candidate",
    )
    meta = registry.show("m", "candidate")
    assert meta == second.metadata
    assert meta.parent_version == first.version and meta.parent.name == "m"
    assert meta.training_config["init"]["method"] == "kmeans"
    assert meta.data_source["chunks"] == ((50, 50), (2,))
    assert meta.metrics.n_samples == 100 and meta.metrics.bic == 12.5
    assert meta.stream_positions == {"topic-0": 1234}
    assert meta.created_at.tzinfo is not None and meta.created_at.utcoffset().total_seconds() == 0
    assert {"python", "numpy", "scipy", "scikit-learn", "streamgmm"} <= set(meta.library_versions)
    assert meta.dtype == "float64"
    assert set(meta.files) == {"parameters.npz"}
    assert registry.aliases("m") == {"latest": 2, "candidate": 2}


def test_lineage_across_models(registry):
    base = registry.publish("batch", make_parameters("full"))
    online = registry.publish(
        "online", make_parameters("full"), parent_name="batch", parent_version="latest"
    )
    assert str(online.metadata.parent) == f"batch:{base.version}"
    with pytest.raises(ModelNotFoundError, match="no version 9"):
        registry.publish("online", make_parameters("full"), parent_version=9)


def test_metadata_is_frozen_against_the_callers_dicts(registry):
    config = {"tol": 1e-3, "layers": [1, 2]}
    version = registry.publish("m", make_parameters("spherical"), training_config=config)
    config["tol"] = 1.0
    config["layers"].append(3)
    assert version.metadata.training_config == {"tol": 1e-3, "layers": (1, 2)}
    with pytest.raises(TypeError):
        version.metadata.training_config["tol"] = 2.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"training_config": {"seed": np.random.RandomState(0)}},
            r"training_config\['seed'\] is a RandomState",
        ),
        ({"metrics": {"lower_bound": float("nan")}}, "JSON cannot represent"),
        ({"metrics": {"accuracy": 1.0}}, "Put other metrics under 'extra'"),
        ({"feature_names": ["only-one"]}, "feature_names has 1 names"),
        ({"aliases": ["latest"]}, "maintained by the registry"),
        ({"aliases": ["12"]}, "not all digits"),
        ({"parent_name": "x"}, "without parent_version"),
    ],
)
def test_bad_metadata_is_rejected_before_anything_is_written(registry, tmp_path, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        registry.publish("m", make_parameters("diag"), **kwargs)
    assert registry.list_versions("m") == []
    assert not list((tmp_path / "registry").rglob("*.npz"))


def test_invalid_names_and_unknown_references(registry):
    with pytest.raises(InvalidParameterError, match="Invalid model name"):
        registry.publish("../escape", make_parameters("diag"))
    with pytest.raises(ModelNotFoundError, match="No model named 'nope'"):
        registry.load("nope")
    registry.publish("m", make_parameters("diag"))
    with pytest.raises(ModelNotFoundError, match=r"no version 5 .*its versions: 1"):
        registry.load("m", 5)
    with pytest.raises(ModelNotFoundError, match="no alias 'production'; its aliases: latest"):
        registry.load("m", "production")
    with pytest.raises(InvalidParameterError, match="publish needs MixtureParameters"):
        registry.publish("m", GaussianMixture(2))  # type: ignore[arg-type]


def test_versions_are_numbered_in_order_and_listed(registry):
    for seed in range(3):
        registry.publish("a", make_parameters("diag", seed=seed))
    registry.publish("b", make_parameters("full"))
    assert registry.list_models() == ["a", "b"]
    assert registry.list_versions("a") == [1, 2, 3]
    assert registry.resolve("a") == 3 and registry.resolve("a", "2") == 2


def test_read_only_fsspec_registry(registry, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    published = registry.publish("m", make_parameters("full"), aliases=["production"])
    # A copy of the registry in an in-memory object store, read through fsspec.
    memory = fsspec.filesystem("memory")
    memory.put(str(tmp_path / "registry"), "/copied", recursive=True)
    remote = ModelRegistry("memory://copied")
    assert not remote.writable
    assert remote.list_models() == ["m"] and remote.aliases("m")["production"] == 1
    loaded = remote.load("m", "production")
    assert loaded.parameters.means.tobytes() == published.parameters.means.tobytes()
    assert loaded.location == "memory://copied/models/m/1"
    with pytest.raises(ReadOnlyRegistryError, match="read-only"):
        remote.publish("m", make_parameters("full"))
    # file:// URLs are plain local folders, and writable.
    local = ModelRegistry(f"file://{tmp_path / 'registry'}")
    assert local.writable and local.load("m").version == 1


def test_an_estimator_from_a_version_scores_bitwise_like_the_published_parameters(registry):
    estimator_module = pytest.importorskip("streamgmm.estimator")
    parameters = make_parameters("full", n_components=3, n_features=3, seed=8)
    registry.publish("m", parameters)
    loaded = estimator_module.GaussianMixture.from_version(registry.load("m"))
    original = estimator_module.GaussianMixture.from_parameters(parameters)
    X = _data(seed=1, n=90)
    assert loaded.score_samples(X).tobytes() == original.score_samples(X).tobytes()
    assert np.array_equal(loaded.predict(X), original.predict(X))
