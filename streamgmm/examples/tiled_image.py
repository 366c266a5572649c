"""A large synthetic image made by tiling a photograph, written and segmented chunk by chunk.

The image repeats the photograph as tiles, mirrored on every other tile row and
column so neighbouring tiles meet without seams, and jitters it: each tile gets its
own colour gain per channel and each pixel Gaussian noise. Every chunk (a band of
whole image rows) is computed from the photograph, the tile gains and its own
random stream (``default_rng([seed, chunk])``), so the content does not depend on
the order or the threads that write it, and memory stays at a few chunks per
thread whatever the image size.

Segmenting reads the pixel store chunk by chunk too: each band is labelled with the
fitted mixture, painted with the components' mean colours and written to a uint8
(H, W, 3) Zarr array; the squared error to the original is summed on the way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..core.params import MixtureParameters
from .pixels import create_pixel_store, open_pixel_store, palette_of

__all__ = [
    "TiledImage",
    "SegmentedImage",
    "crop_pixels",
    "preview_pixels",
    "preview_segmented",
    "rows_per_chunk",
    "segment_pixel_store",
    "write_tiled_image",
]

#: Target pixels per chunk (about 6 MiB of float32 RGB).
CHUNK_PIXELS = 2**19
#: Range of the per-tile colour gains, and the per-pixel noise (colours in [0, 1]).
GAIN_RANGE = (0.85, 1.15)
NOISE_SD = 0.02

T = TypeVar("T")


def rows_per_chunk(width: int) -> int:
    """Image rows per chunk: about :data:`CHUNK_PIXELS` pixels, at least one row."""
    return max(1, CHUNK_PIXELS // width)


def _map_chunks(function: Callable[[int], T], n_chunks: int, workers: int | None) -> Iterator[T]:
    """``function(i)`` for every chunk on a few threads, results in chunk order.

    Chunks are submitted a window at a time, so at most ``2 * workers`` chunks are
    in flight: memory is bounded by the window, not by the number of chunks.
    """
    workers = workers or os.cpu_count() or 1
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, n_chunks, window):
            yield from pool.map(function, range(first, min(first + window, n_chunks)))


def _mirrored_tile_index(positions: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile number and source coordinate of each position; odd tiles run backwards."""
    tile, offset = np.divmod(positions, period)
    return tile, np.where(tile % 2 == 1, period - 1 - offset, offset)


@dataclass(frozen=True)
class TiledImage:
    """A photograph tiled and jittered to ``height`` x ``width`` pixels.

    Parameters
    ----------
    photo : ndarray of shape (h, w, 3), uint8
    height, width : int
    seed : int
    """

    photo: np.ndarray
    height: int
    width: int
    seed: int = 0

    @property
    def tile_gains(self) -> np.ndarray:
        """(tile rows, tile columns, 3) colour gains, from the seed's first stream."""
        h, w = self.photo.shape[:2]
        shape = (-(-self.height // h), -(-self.width // w), 3)
        return np.random.default_rng([self.seed]).uniform(*GAIN_RANGE, size=shape).astype(np.float32)

    def rows(self, start: int, stop: int, chunk: int) -> np.ndarray:
        """Image rows ``start:stop`` as (n, width, 3) float32 in [0, 1]; ``chunk`` seeds the noise."""
        h, w = self.photo.shape[:2]
        tile_y, source_y = _mirrored_tile_index(np.arange(start, stop), h)
        tile_x, source_x = _mirrored_tile_index(np.arange(self.width), w)
        photo = self.photo.astype(np.float32) / np.float32(255)
        block = photo[source_y[:, None], source_x[None, :]]
        block *= self.tile_gains[tile_y[:, None], tile_x[None, :]]
        noise = np.random.default_rng([self.seed, 1, chunk]).standard_normal(block.shape, np.float32)
        block += np.float32(NOISE_SD) * noise
        return np.clip(block, 0.0, 1.0, out=block)


def write_tiled_image(
    path: str | os.PathLike[str],
    image: TiledImage,
    *,
    band_rows: int | None = None,
    workers: int | None = None,
) -> Path:
    """Write ``image`` as a pixel store (see :mod:`.pixels`), one band of rows per chunk.

    Parameters
    ----------
    path : path
        The Zarr group to create (replaced if it exists).
    image : TiledImage
    band_rows : int, optional
        Image rows per chunk; default :func:`rows_per_chunk`. The noise, hence the
        content, depends on it.
    workers : int, optional
        Threads writing chunks; default every core. The content does not depend on it.
    """
    store = create_pixel_store(
        path, image.height, image.width, band_rows or rows_per_chunk(image.width)
    )

    def write(chunk: int) -> None:
        start, stop = store.band(chunk)
        store.write_rows(start, image.rows(start, stop, chunk))

    for _ in _map_chunks(write, store.n_bands, workers):
        pass
    return Path(path)


@dataclass(frozen=True)
class SegmentedImage:
    """What :func:`segment_pixel_store` wrote.

    Attributes
    ----------
    path : Path
        The uint8 (H, W, 3) Zarr array.
    mse : float
        Mean squared error to the original per channel, colours in [0, 1].
    components_used : int
        Components that label at least one pixel: the image's distinct colours,
        unless two components share a rounded colour.
    """

    path: Path
    mse: float
    components_used: int


def segment_pixel_store(
    pixels_path: str | os.PathLike[str],
    params: MixtureParameters,
    target: str | os.PathLike[str],
    *,
    workers: int | None = None,
) -> SegmentedImage:
    """Paint every pixel with its component's mean colour, chunk by chunk.

    Parameters
    ----------
    pixels_path : path
        A pixel store (:func:`.pixels.create_pixel_store`).
    params : MixtureParameters
        The fitted mixture (3 features: red, green, blue).
    target : path
        The Zarr array to write, (H, W, 3) uint8, replaced if it exists.
    workers : int, optional
        Threads; default every core.
    """
    import zarr

    from ..estimator import GaussianMixture

    store = open_pixel_store(pixels_path)
    out = zarr.create_array(
        str(target), shape=(store.height, store.width, 3), chunks=(store.band_rows, store.width, 3),
        dtype="uint8", dimension_names=("y", "x", "channel"), overwrite=True,
    )
    palette = palette_of(params.means)
    # One BLAS thread per labelling call: the parallelism is over chunks.
    model = GaussianMixture.from_parameters(params, n_jobs=1)

    def paint(chunk: int) -> tuple[float, np.ndarray]:
        start, stop = store.band(chunk)
        original = store.read_rows(start, stop).reshape(-1, 3)
        labels = model.predict(original)
        painted = palette[labels]
        out[start:stop] = painted.reshape(stop - start, store.width, 3)
        error = painted.astype(np.float32) / np.float32(255) - original
        return float(np.einsum("ij,ij->", error, error, dtype=np.float64)), np.unique(labels)

    total, used = 0.0, set()
    for squared, labels in _map_chunks(paint, store.n_bands, workers):
        total += squared
        used.update(labels.tolist())
    n_values = store.height * store.width * 3
    return SegmentedImage(Path(target), total / n_values, len(used))


def preview_pixels(pixels_path: str | os.PathLike[str], step: int) -> np.ndarray:
    """Every ``step``-th pixel of every ``step``-th row of a pixel store, (h, w, 3) float32."""
    store = open_pixel_store(pixels_path)
    parts = []
    for chunk in range(store.n_bands):
        start, stop = store.band(chunk)
        first = -(-start // step) * step  # the first kept row in this band
        if first < stop:
            # A copy: a strided view would keep the whole band in memory.
            parts.append(store.read_rows(first, stop)[::step, ::step].copy())
    return np.concatenate(parts)


def crop_pixels(
    pixels_path: str | os.PathLike[str], top: int, left: int, height: int, width: int
) -> np.ndarray:
    """A full-resolution window of a pixel store, (height, width, 3) float32, read band by band."""
    store = open_pixel_store(pixels_path)
    band = store.band_rows
    parts = []
    for start in range(top - top % band, top + height, band):
        first, stop = max(start, top), min(start + band, top + height)
        parts.append(store.read_rows(first, stop)[:, left : left + width].copy())
    return np.concatenate(parts)


def preview_segmented(path: str | os.PathLike[str], step: int) -> np.ndarray:
    """Every ``step``-th pixel of every ``step``-th row of a segmented image, uint8."""
    import zarr

    return np.asarray(zarr.open_array(str(path), mode="r")[::step, ::step])
