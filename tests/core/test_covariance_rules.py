"""The covariance table: every rule agrees with what the model and scikit-learn produce."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from streamgmm import GaussianMixture
from streamgmm.core.covariance import COVARIANCE_RULES, COVARIANCE_TYPES, covariance_rules
from streamgmm.core.estep import chunk_statistics, natural_form


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rules_match_fitted_shapes_counts_and_sklearn(covariance_type: str) -> None:
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-3, 1, (60, 4)), rng.normal(3, 0.5, (60, 4)), rng.normal(0, 2, (60, 4))])
    rules = covariance_rules(covariance_type)
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=5).fit(X)
    params = model.parameters_
    assert rules.shape(3, 4) == params.covariances.shape == params.precisions_cholesky.shape
    assert chunk_statistics(X, natural_form(params)).s2.shape == rules.shape(3, 4)
    assert rules.matrix == (params.covariances.shape[-2:] == (4, 4))
    assert rules.shared == (params.covariances.ndim == 2 and rules.matrix)
    assert rules.component_shape(4) == ((4, 4) if rules.matrix else (4,) if covariance_type == "diag" else ())
    assert natural_form(params).coefficients.shape == (3, rules.feature_count(4) + 1)
    reference = SkGaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=5).fit(X)
    assert params.n_parameters == reference._n_parameters()
    np.testing.assert_allclose(rules.precisions(params.precisions_cholesky), model.precisions_)
    np.testing.assert_allclose(rules.covariances(params.precisions_cholesky), params.covariances)
    full = params.full_covariances  # what a full mixture with the same components would hold
    assert full.shape == (3, 4, 4)
    cov = params.covariances
    expected = {
        "full": lambda k: cov[k],
        "tied": lambda k: cov,
        "diag": lambda k: np.diag(cov[k]),
        "spherical": lambda k: cov[k] * np.eye(4),
    }[covariance_type]
    for k in range(3):
        np.testing.assert_array_equal(full[k], expected(k))


def test_table_covers_every_type_and_names_the_way_out() -> None:
    assert tuple(COVARIANCE_RULES) == COVARIANCE_TYPES
    assert all(COVARIANCE_RULES[name].name == name for name in COVARIANCE_TYPES)
    with pytest.raises(ValueError, match="choose one of 'full'"):
        covariance_rules("banded")
