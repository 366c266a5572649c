"""Example 8 at its reduced size: EM spends every component, the Dirichlet process keeps 4."""

from __future__ import annotations

import numpy as np
import pytest
from example_helpers import assert_small_png

from streamgmm.examples import too_many_components as example


@pytest.mark.slow
def test_dirichlet_process_keeps_the_true_components_and_em_uses_all(tmp_path):
    result = example.run("reduced", out=tmp_path / "out")

    assert result.n_rows == 2_000
    # EM splits the 4 clusters over all 10 components, each with a real share.
    assert np.all(result.em_weights >= result.weight_threshold)
    # The prior switches 6 off; the 4 in use sit on the true centres with their weights.
    assert result.n_in_use == len(example.TRUE_MEANS)
    used = result.bayes_means[result.bayes_in_use]
    distances = np.linalg.norm(used[:, None, :] - example.TRUE_MEANS[None], axis=2)
    assert sorted(distances.argmin(axis=1)) == [0, 1, 2, 3]
    assert distances.min(axis=1).max() < 0.3
    np.testing.assert_allclose(np.sort(result.bayes_weights[result.bayes_in_use]),
                               np.sort(example.TRUE_WEIGHTS), atol=0.04)
    assert result.bayes_weights[~result.bayes_in_use].max() < result.weight_threshold
    assert_small_png(result.picture)
