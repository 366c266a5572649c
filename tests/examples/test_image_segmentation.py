"""Example 1 on the photograph, at its reduced size, through the real batch_fit flow.

The result must be a segmentation, not just a picture: at most K colours in the
K-component image, and an error to the original that falls as K grows.
"""

from __future__ import annotations

import numpy as np
import pytest
from example_helpers import assert_small_png

import streamgmm
from streamgmm.examples import image_segmentation
from streamgmm.examples.pixels import (
    distinct_colours,
    image_shape,
    mean_squared_error,
    palette_of,
    recolour,
    write_image,
)


def test_pixel_store_is_the_image_as_rows(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    store = write_image(tmp_path / "image.zarr", image, rows_per_chunk=3)

    rows = streamgmm.open_rows(store, variable="X")
    assert rows.shape == (35, 3)
    assert rows.row_chunks == (15, 15, 5)  # whole image rows per chunk
    assert rows.feature_names == ("red", "green", "blue")
    assert image_shape(store) == (7, 5)
    np.testing.assert_array_equal(
        np.rint(rows.array.compute() * 255).astype(np.uint8).reshape(7, 5, 3), image
    )


def test_recolour_paints_each_pixel_with_its_component_colour():
    palette = palette_of(np.array([[0.0, 0.0, 0.0], [1.0, 0.5, 2.0]]))  # clipped to [0, 1]
    np.testing.assert_array_equal(palette, [[0, 0, 0], [255, 128, 255]])
    painted = recolour(np.array([0, 1, 1, 0, 1, 1]), palette, 2, 3)
    assert painted.shape == (2, 3, 3)
    assert distinct_colours(painted) == 2
    assert mean_squared_error(painted, painted) == 0.0
    assert mean_squared_error(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)) == 1.0


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_segmentations_have_k_colours_and_improve_with_k(tmp_path):
    result = image_segmentation.run("reduced", out=tmp_path / "out", work=tmp_path / "work")

    assert [(s.photo, s.n_components) for s in result.scores] == [
        ("chelsea", 2), ("chelsea", 4), ("chelsea", 8)
    ]
    for score in result.scores:
        assert 2 <= score.distinct_colours <= score.n_components, score
    errors = [result.score("chelsea", k).mse for k in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.01  # K = 8 is close to the photograph (colours in [0, 1])
    assert result.picture == tmp_path / "out" / "image_segmentation.png"
    assert_small_png(result.picture)
    # Each K was a batch_fit run that published its own model.
    for k in (2, 4, 8):
        assert (tmp_path / "work" / "registry" / "models" / f"chelsea-k{k}" / "1").is_dir()
