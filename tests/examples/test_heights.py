"""Example 6 at its reduced size (20,000 people), through the real batch_fit flow.

Tolerances are about four standard errors of the maximum-likelihood estimates at
this size (the two groups overlap heavily, so the estimates are looser than the
sample size suggests): about 0.3-0.4 cm for the means, 0.1-0.2 cm for the standard
deviations and 0.025 for the weights.
"""

from __future__ import annotations

import pytest
from example_helpers import assert_small_png

from streamgmm.examples import heights


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_fitted_groups_match_the_population(tmp_path):
    result = heights.run("reduced", out=tmp_path / "out", work=tmp_path / "work")

    assert result.n_people == 20_000
    for fitted, true in zip(result.fitted, heights.GROUPS, strict=True):
        assert fitted.mean == pytest.approx(true.mean, abs=1.5), (fitted, true)
        assert fitted.sd == pytest.approx(true.sd, abs=0.8), (fitted, true)
        assert fitted.weight == pytest.approx(true.weight, abs=0.1), (fitted, true)
    assert sum(g.weight for g in result.fitted) == pytest.approx(1.0)
    assert_small_png(result.picture)
