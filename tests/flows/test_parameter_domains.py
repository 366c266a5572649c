"""Parameter domains are defined once: the estimator and every YAML config agree on each value.

For every ``GaussianMixture`` parameter a config also sets (``model.max_iter``,
``online.step.decay``, ``anomaly.seed``, ...), each probe value -- the domain's bounds and
values just outside them, wrong types, NaN, inf, None -- is accepted by the config exactly
when the estimator accepts it, and a refusal says the same thing in both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from streamgmm import BayesianGaussianMixture, GaussianMixture
from streamgmm.config import ConfigError, DataConfig, SingleModelConfig, load_config
from streamgmm.config.errors import describe_validation_error
from streamgmm.config.online import DriftSettings, OnlineModelConfig, OnlineSettings, StepSettings
from streamgmm.config.score import AnomalyConfig
from streamgmm.config.select_k import SelectionConfig, SelectKModelConfig
from streamgmm.core.domains import DOMAINS
from streamgmm.core.errors import InvalidParameterError
from streamgmm.validation import check_estimator_parameters

_BAYESIAN = {"n_components": 2, "kind": "bayesian"}

#: (config section, its other required keys, config key, estimator parameter, None excluded?)
SHARED: list[tuple[type[BaseModel], dict[str, Any], str, str, bool]] = [
    (SingleModelConfig, {}, "n_components", "n_components", False),
    (SingleModelConfig, {"n_components": 2}, "covariance_type", "covariance_type", False),
    (SingleModelConfig, {"n_components": 2}, "tol", "tol", False),
    (SingleModelConfig, {"n_components": 2}, "reg_covar", "reg_covar", False),
    (SingleModelConfig, {"n_components": 2}, "max_iter", "max_iter", False),
    (SingleModelConfig, {"n_components": 2}, "n_init", "n_init", False),
    (SingleModelConfig, {"n_components": 2}, "init_params", "init_params", False),
    (SingleModelConfig, {"n_components": 2}, "seed", "random_state", False),
    (SingleModelConfig, {"n_components": 2}, "dtype", "dtype", False),
    (SingleModelConfig, {"n_components": 2}, "chunk_size", "chunk_size", False),
    (SingleModelConfig, {"n_components": 2}, "init_sample_size", "init_sample_size", False),
    (OnlineModelConfig, {"n_components": 2}, "warm_up_size", "warm_up_size", False),
    (DataConfig, {"uri": "data.zarr"}, "nan_policy", "nan_policy", False),
    (OnlineSettings, {"state": "state"}, "nan_policy", "nan_policy", False),
    (StepSettings, {}, "decay", "step_decay", False),
    (StepSettings, {}, "offset", "step_offset", False),
    (StepSettings, {}, "constant", "step_size", False),
    (StepSettings, {}, "average", "average", False),
    # After a drift alarm the runner steps with this constant size: null means "do not switch".
    (DriftSettings, {}, "on_alarm_step_size", "step_size", False),
    # The anomaly threshold's sample of the model is always seeded: null is not offered.
    (AnomalyConfig, {"quantile": 0.01}, "seed", "random_state", True),
    # select_k's variational comparison: null means "the largest candidate K".
    (SelectionConfig, {}, "variational_components", "n_components", True),
    (SelectionConfig, {}, "weight_threshold", "weight_threshold", True),
    # BayesianGaussianMixture's (model.kind: bayesian).
    (SingleModelConfig, _BAYESIAN, "weight_concentration_prior_type", "weight_concentration_prior_type", False),
    (SingleModelConfig, _BAYESIAN, "weight_concentration_prior", "weight_concentration_prior", False),
    (SingleModelConfig, _BAYESIAN, "mean_precision_prior", "mean_precision_prior", False),
    (SingleModelConfig, _BAYESIAN, "weight_threshold", "weight_threshold", False),
    (OnlineModelConfig, _BAYESIAN, "total_samples", "total_samples", False),
]

#: Parameters only the estimator has (no config key sets them).
ESTIMATOR_ONLY = {"verbose", "verbose_interval", "warm_start"}

GENERIC_PROBES = [
    None, True, False, -1, 0, 1, 2, 3.0, 0.0, 0.5, 0.7, 1.0, 1.5, -0.5, 1e-12,
    2**32 - 1, 2**32, math.nan, math.inf, -math.inf, "1", "", "full", "diag", "kmeans",
    "k-means++", "raise", "drop", "ignore", "float32", "float64", "float16", [1], {"a": 1},
]


def _probes(name: str) -> list[Any]:
    """The generic probes, plus each bound of the domain and values just beyond it."""
    domain = DOMAINS[name]
    probes = list(GENERIC_PROBES) + list(domain.choices)
    for bound in (domain.low, domain.high):
        if bound is not None:
            if domain.kind == "int":
                probes += [int(bound) - 1, int(bound), int(bound) + 1]
            else:
                probes += [float(bound), math.nextafter(float(bound), -math.inf),
                           math.nextafter(float(bound), math.inf)]
    return probes


def _estimator_problem(name: str, value: Any) -> str | None:
    gaussian = GaussianMixture().get_params()
    params = gaussian if name in gaussian else BayesianGaussianMixture().get_params()
    params[name] = value
    try:
        check_estimator_parameters(params)
    except InvalidParameterError as error:
        return str(error)
    return None


def _config_problem(section: type[BaseModel], base: dict[str, Any], key: str, value: Any) -> str | None:
    try:
        section.model_validate({**base, key: value})
    except ValidationError as error:
        lines = describe_validation_error(section, error)
        return "\n".join(line for line in lines if line.startswith(key)) or "\n".join(lines)
    return None


@pytest.mark.parametrize(
    ("section", "base", "key", "name", "no_none"),
    SHARED,
    ids=[f"{s.__name__}.{k}={n}" for s, _, k, n, _ in SHARED],
)
def test_config_and_estimator_accept_and_refuse_the_same_values(section, base, key, name, no_none):
    domain = DOMAINS[name]
    for value in _probes(name):
        if value is None and no_none:
            continue
        by_estimator = _estimator_problem(name, value)
        by_config = _config_problem(section, base, key, value)
        assert (by_estimator is None) == (by_config is None), (
            f"{name}={value!r}: estimator says {by_estimator!r}, config {section.__name__}.{key} "
            f"says {by_config!r}"
        )
        if by_estimator is None:
            continue
        # The same words: the domain's own description (YAML spelling in a config).
        assert domain.describe() in by_estimator, by_estimator
        if domain.kind == "choice":
            assert all(repr(choice) in by_config for choice in domain.choices), by_config
        else:
            assert domain.describe(yaml=True) in by_config, by_config


def test_every_domain_is_either_in_a_config_or_estimator_only():
    shared = {name for *_, name, _ in SHARED}
    assert shared | ESTIMATOR_ONLY == set(DOMAINS), set(DOMAINS) ^ (shared | ESTIMATOR_ONLY)


def test_select_k_candidates_follow_the_same_domains():
    base = {"n_components": [2, 3]}
    for bad in ([0, 2], [2, 2.5], [2, True]):
        with pytest.raises(ValidationError, match=DOMAINS["n_components"].describe(yaml=True)):
            SelectKModelConfig.model_validate({"n_components": bad})
    for covariance_type in DOMAINS["covariance_type"].choices:
        SelectKModelConfig.model_validate({**base, "covariance_type": [covariance_type]})
    with pytest.raises(ValidationError, match="'tied'"):
        SelectKModelConfig.model_validate({**base, "covariance_type": ["full", "banana"]})


def test_max_iter_zero_refused_by_estimator_and_yaml_config_alike(tmp_path: Path):
    """scikit-learn 1.9 accepts max_iter=0 (an unfitted model with lower_bound_=-inf); streamgmm
    refuses it everywhere, in the same words."""
    expected = "expected an integer >= 1 (EM needs at least one iteration)"
    with pytest.raises(InvalidParameterError) as caught:
        GaussianMixture(2, max_iter=0).fit([[0.0], [1.0], [2.0]])
    assert str(caught.value) == f"max_iter=0 is invalid: {expected}"
    path = tmp_path / "job.yaml"
    path.write_text(
        "data: {uri: data.zarr}\nmodel: {n_components: 2, max_iter: 0}\nregistry: {model: demo}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: model.max_iter: 0 is not allowed; {expected}"
