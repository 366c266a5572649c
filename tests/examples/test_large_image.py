"""Example 1 at scale: the tiled image is written and segmented chunk by chunk.

The helpers are checked on small images against in-memory computations; the
example itself runs at its reduced size (2,000 x 2,000 pixels) through the flow.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from example_helpers import assert_small_png

import streamgmm
from streamgmm.examples import large_image
from streamgmm.examples.image_segmentation import load_photo
from streamgmm.examples.pixels import image_to_rows, palette_of
from streamgmm.examples.tiled_image import (
    TiledImage,
    crop_pixels,
    preview_pixels,
    preview_segmented,
    segment_pixel_store,
    write_tiled_image,
)

# Values away from white, so the jittered tiles are never clipped at 1.
PHOTO = np.random.default_rng(1).integers(20, 200, size=(6, 8, 3), dtype=np.uint8)


def _read(store) -> np.ndarray:
    group = zarr.open_group(str(store), mode="r")
    return group["X"][:].reshape(int(group.attrs["height"]), int(group.attrs["width"]), 3)


def test_tiled_image_content_does_not_depend_on_the_threads(tmp_path):
    image = TiledImage(PHOTO, height=23, width=30, seed=5)
    one = write_tiled_image(tmp_path / "one.zarr", image, band_rows=4, workers=1)
    two = write_tiled_image(tmp_path / "two.zarr", image, band_rows=4, workers=2)

    pixels = _read(one)
    np.testing.assert_array_equal(pixels, _read(two))
    assert pixels.shape == (23, 30, 3)
    assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 1.0
    # Tiles are mirrored copies of the photograph, jittered: close to it, never equal.
    first_tile = pixels[:6, :8]
    mirrored = pixels[:6, 8:16][:, ::-1]
    gains = image.tile_gains
    np.testing.assert_allclose(first_tile / gains[0, 0], PHOTO / 255, atol=0.12)
    np.testing.assert_allclose(mirrored / gains[0, 1], PHOTO / 255, atol=0.12)
    assert not np.array_equal(first_tile, PHOTO / 255)


def test_previews_and_crops_read_the_right_pixels(tmp_path):
    store = write_tiled_image(
        tmp_path / "image.zarr", TiledImage(PHOTO, height=23, width=30), band_rows=4
    )
    pixels = _read(store)
    np.testing.assert_array_equal(preview_pixels(store, 5), pixels[::5, ::5])
    np.testing.assert_array_equal(crop_pixels(store, 3, 7, 10, 12), pixels[3:13, 7:19])


def test_previews_hold_one_band_at_a_time(tmp_path):
    """A strided view of each band would keep every band read alive until the end."""
    import tracemalloc

    store = write_tiled_image(
        tmp_path / "image.zarr", TiledImage(PHOTO, height=1_000, width=1_000), band_rows=10
    )  # 100 bands of 120 kB: 12 MB in all
    tracemalloc.start()
    try:
        preview = preview_pixels(store, 10)
        crop = crop_pixels(store, 0, 0, 500, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert preview.shape == (100, 100, 3) and crop.shape == (500, 10, 3)
    assert peak < 3 * 2**20, peak


def test_segmenting_chunk_by_chunk_equals_the_in_memory_result(tmp_path):
    store = write_tiled_image(
        tmp_path / "image.zarr", TiledImage(PHOTO, height=23, width=30), band_rows=4
    )
    rows = image_to_rows(_read(store))
    model = streamgmm.GaussianMixture(3, covariance_type="tied", random_state=0).fit(rows)

    segmented = segment_pixel_store(store, model.parameters_, tmp_path / "seg.zarr", workers=2)

    expected = palette_of(model.means_)[model.predict(rows)].reshape(23, 30, 3)
    np.testing.assert_array_equal(zarr.open_array(str(segmented.path), mode="r")[:], expected)
    error = expected.reshape(-1, 3).astype(np.float32) / np.float32(255) - rows
    assert segmented.mse == pytest.approx(np.mean(error.astype(np.float64) ** 2), rel=1e-6)
    assert segmented.components_used == len(np.unique(model.predict(rows)))
    np.testing.assert_array_equal(preview_segmented(segmented.path, 4), expected[::4, ::4])


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_large_image_is_segmented_out_of_core(tmp_path):
    result = large_image.run("reduced", out=tmp_path / "out", work=tmp_path / "work", workers=2)

    assert (result.height, result.width) == (2_000, 2_000)
    for k in (2, 4, 8):
        segmented = zarr.open_array(str(tmp_path / "work" / f"segmented-k{k}.zarr"), mode="r")
        assert segmented.shape == (2_000, 2_000, 3) and segmented.dtype == np.uint8
        assert result.components_used[k] <= k
        assert result.preview_colours[k] <= k
    assert result.mse[2] > result.mse[4] > result.mse[8], result.mse
    assert result.wall_seconds > 0
    assert result.peak_rss_bytes >= result.peak_own_rss_bytes > 100 * 2**20
    assert {"write", "fit K=2", "paint K=8"} <= set(result.seconds)
    assert_small_png(result.picture)


def test_photos_are_bundled_with_scikit_image():
    """No download: the photographs ship inside the scikit-image wheel."""
    assert load_photo("chelsea").shape == (300, 451, 3)
    assert load_photo("coffee").shape == (400, 600, 3)
