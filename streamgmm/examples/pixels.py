"""Images as rows of pixels: an (H, W, 3) RGB image is an (H * W, 3) dataset.

The pixel store is a Zarr group (format 3) that ``streamgmm.open_rows`` reads:

``X``        (H * W, 3) float32, RGB in [0, 1], rows in raster order (row by row),
             dimensions ("sample", "feature"); a chunk holds whole image rows
``feature``  ("red", "green", "blue")

with the image's ``height`` and ``width`` as group attributes, so the rows can
be folded back into an image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

__all__ = [
    "CHANNELS",
    "PixelStore",
    "create_pixel_store",
    "distinct_colours",
    "image_shape",
    "image_to_rows",
    "mean_squared_error",
    "open_pixel_store",
    "palette_of",
    "recolour",
    "write_image",
]

CHANNELS = ("red", "green", "blue")


def image_to_rows(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float image -> (H * W, 3) float32 rows in [0, 1]."""
    rows = np.asarray(image).reshape(-1, 3)
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) / np.float32(255)
    return rows.astype(np.float32)


@dataclass(frozen=True)
class PixelStore:
    """An open pixel store: its ``X`` array and the image's size.

    Attributes
    ----------
    pixels : zarr.Array
        (height * width, 3) float32 rows.
    height, width : int
    """

    pixels: Any
    height: int
    width: int

    @property
    def band_rows(self) -> int:
        """Image rows per chunk."""
        return int(self.pixels.chunks[0]) // self.width

    @property
    def n_bands(self) -> int:
        return -(-self.height // self.band_rows)

    def band(self, index: int) -> tuple[int, int]:
        """First and last-plus-one image row of chunk ``index``."""
        start = index * self.band_rows
        return start, min(start + self.band_rows, self.height)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Image rows ``start:stop``, (stop - start, width, 3) float32."""
        values = np.asarray(self.pixels[start * self.width : stop * self.width])
        return values.reshape(stop - start, self.width, 3)

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        """Store (n, width, 3) image rows from row ``start`` on."""
        self.pixels[start * self.width : (start + len(rows)) * self.width] = rows.reshape(-1, 3)


def create_pixel_store(
    path: str | os.PathLike[str], height: int, width: int, rows_per_chunk: int
) -> PixelStore:
    """Create an empty pixel store (replacing one at ``path``).

    Parameters
    ----------
    path : path
        The Zarr group folder.
    height, width : int
        Image size in pixels.
    rows_per_chunk : int
        Image rows per Zarr chunk (a chunk is ``rows_per_chunk * width`` pixels).
    """
    import zarr

    group = zarr.open_group(
        str(path), mode="w", zarr_format=3, attributes={"height": height, "width": width}
    )
    pixels = group.create_array(
        "X",
        shape=(height * width, 3),
        chunks=(min(rows_per_chunk, height) * width, 3),
        dtype="float32",
        fill_value=np.nan,  # a chunk never written reads as NaN, not as black
        dimension_names=("sample", "feature"),
    )
    feature = group.create_array("feature", shape=(3,), dtype=str, dimension_names=("feature",))
    feature[:] = np.array(CHANNELS)
    return PixelStore(pixels, height, width)


def open_pixel_store(path: str | os.PathLike[str]) -> PixelStore:
    """Open a pixel store for reading."""
    import zarr

    attributes = zarr.open_group(str(path), mode="r").attrs
    return PixelStore(
        zarr.open_array(str(path), path="X", mode="r"),
        int(cast(int, attributes["height"])),
        int(cast(int, attributes["width"])),
    )


def write_image(path: str | os.PathLike[str], image: np.ndarray, rows_per_chunk: int = 64) -> Path:
    """Write an in-memory (H, W, 3) image as a pixel store; returns ``path``."""
    height, width = image.shape[:2]
    create_pixel_store(path, height, width, rows_per_chunk).write_rows(0, image_to_rows(image))
    return Path(path)


def image_shape(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(height, width) of a pixel store."""
    store = open_pixel_store(path)
    return store.height, store.width


def palette_of(means: np.ndarray) -> np.ndarray:
    """The components' mean colours (K, 3) in [0, 1] as uint8 RGB (K, 3)."""
    return np.rint(np.clip(means, 0.0, 1.0) * 255).astype(np.uint8)


def recolour(labels: np.ndarray, palette: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each pixel painted with its component's colour: (H, W, 3) uint8."""
    return palette[np.asarray(labels)].reshape(height, width, 3)


def distinct_colours(image: np.ndarray) -> int:
    """Number of different RGB colours in an (..., 3) image."""
    return int(np.unique(np.asarray(image).reshape(-1, 3), axis=0).shape[0])


def mean_squared_error(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean squared difference per channel, both images scaled to [0, 1]."""
    def unit(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        return values / 255.0 if values.dtype == np.uint8 else values.astype(np.float64)

    return float(np.mean((unit(image) - unit(reference)) ** 2))
