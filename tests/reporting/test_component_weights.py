"""streamgmm.reporting.components: the expected-weights chart and the variational record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamgmm.reporting.components import (
    plot_expected_weights,
    variational_comparison,
    variational_markdown,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEIGHTS = np.array([0.02, 0.5, 1e-9, 0.3, 0.0, 0.18 - 1e-9])


def test_plot_is_a_png_even_with_zero_weights(tmp_path):
    path = plot_expected_weights(WEIGHTS, np.flatnonzero(WEIGHTS >= 0.01), tmp_path / "sub" / "w.png",
                                 threshold=0.01, title="six components")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("weights, active, problem", [
    ([0.5, 0.5], [2], "indices below 2"),       # an index out of range
    ([0.5, 0.5], [0.5], "indices below 2"),     # not an index
    ([], [], "non-empty"),                      # nothing to draw
    ([0.5, np.nan], [0, 1], "finite"),          # not finite
    ([1.5, -0.5], [0], "non-negative"),         # negative
])
def test_bad_weights_are_refused(tmp_path, weights, active, problem):
    with pytest.raises(ValueError, match=problem):
        plot_expected_weights(weights, active, tmp_path / "w.png", threshold=0.01)


def test_record_counts_components_in_use_and_compares_with_the_criterion():
    record = variational_comparison(
        WEIGHTS, np.flatnonzero(WEIGHTS >= 0.01), threshold=0.01, n_components=6, covariance_type="full",
        criterion="bic", chosen_n_components=4, converged=True, n_iter=17,
    )
    assert record["n_components_in_use"] == 4
    assert record["components_in_use"] == [0, 1, 3, 5]
    assert record["agrees"] is True
    assert json.loads(json.dumps(record)) == record  # plain JSON for registry metadata
    other = variational_comparison(
        WEIGHTS, np.flatnonzero(WEIGHTS >= 0.1), threshold=0.1, n_components=6, covariance_type="full",
        criterion="aic", chosen_n_components=4, converged=False, n_iter=100,
    )
    assert (other["n_components_in_use"], other["agrees"]) == (3, False)
    text = variational_markdown(other)
    assert "**Components in use:** 3 of 6" in text and "AIC chose:** K=4" in text
    assert "a different number" in text
    with pytest.raises(ValueError, match="n_components=5"):
        variational_comparison(WEIGHTS, [0], threshold=0.0, n_components=5,
                               covariance_type="full", criterion="bic", chosen_n_components=1,
                               converged=True, n_iter=1)
