"""Example 1: segment photographs by colour, each pixel painted with its component's mean.

The pixels of a photograph (scikit-image's ``chelsea``, and ``coffee`` at full size)
are written to Zarr as an (N, 3) float32 dataset of RGB rows; the ``batch_fit`` flow
(``configs/examples/image_segmentation.yaml``: tied covariance) clusters them out of
core with K = 2, 4 and 8 and writes each pixel's label; each pixel is then replaced
by its component's mean colour. The picture shows the original and the three
segmentations side by side, with the mean squared error to the original.

    python -m streamgmm.examples.image_segmentation [--size reduced|full] [--out DIR]

Sizes: ``reduced`` segments ``chelsea`` (300 x 451 pixels); ``full`` adds ``coffee``
(400 x 600). The same job on a 20,000 x 20,000 image is :mod:`.large_image`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .figures import new_figure, save_png, show_image
from .flow_runner import load_example_config, quiet_orchestration_logs, run_batch_fit
from .pixels import distinct_colours, mean_squared_error, palette_of, recolour, write_image

__all__ = [
    "COMPONENTS", "PHOTOS", "SegmentationResult", "SegmentationScore", "load_photo", "main", "run",
]

NAME = "image_segmentation"
#: The values of K, as in the issue.
COMPONENTS = (2, 4, 8)
#: Photographs bundled with scikit-image, by size.
PHOTOS = {"reduced": ("chelsea",), "full": ("chelsea", "coffee")}


@dataclass(frozen=True)
class SegmentationScore:
    """How close one segmentation is to its photograph.

    Attributes
    ----------
    photo : str
    n_components : int
    mse : float
        Mean squared error per channel, colours in [0, 1].
    distinct_colours : int
        Colours in the segmented image (at most ``n_components``).
    """

    photo: str
    n_components: int
    mse: float
    distinct_colours: int


@dataclass(frozen=True)
class SegmentationResult:
    """What :func:`run` produced: one score per photograph and K, and the picture."""

    scores: tuple[SegmentationScore, ...]
    picture: Path

    def score(self, photo: str, n_components: int) -> SegmentationScore:
        """The score of ``photo`` segmented with ``n_components`` colours."""
        for score in self.scores:
            if (score.photo, score.n_components) == (photo, n_components):
                return score
        raise KeyError((photo, n_components))


def load_photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image, (H, W, 3) uint8 (no download)."""
    import skimage.data

    return np.asarray(getattr(skimage.data, name)())


def segment(photo: str, image: np.ndarray, n_components: int, store: Path, work: Path) -> np.ndarray:
    """Cluster the pixel store with the batch_fit flow; the segmented (H, W, 3) uint8 image."""
    import zarr

    config = load_example_config(
        NAME,
        data={"uri": str(store)},
        model={"n_components": n_components},
        registry={"root": str(work / "registry"), "model": f"{photo}-k{n_components}"},
        outputs={
            "predictions": str(work / f"{photo}-k{n_components}-predictions.zarr"),
            "overwrite": True,
            "reports": str(work / "reports"),
        },
    )
    fit = run_batch_fit(config)
    assert fit.predictions is not None  # the config writes them
    labels = np.asarray(zarr.open_array(str(fit.predictions), path="labels", mode="r")[:])
    height, width = image.shape[:2]
    return recolour(labels, palette_of(fit.parameters.means), height, width)


def draw(images: dict[str, np.ndarray], segmented: dict[tuple[str, int], np.ndarray],
         scores: Sequence[SegmentationScore], path: Path) -> Path:
    """One row per photograph: the original, then K = 2, 4, 8."""
    mse = {(s.photo, s.n_components): s.mse for s in scores}
    figure = new_figure(3.2 * (1 + len(COMPONENTS)), 2.5 * len(images))
    axes = figure.subplots(len(images), 1 + len(COMPONENTS), squeeze=False)
    for row, (photo, image) in zip(axes, images.items(), strict=True):
        show_image(row[0], image, f"{photo}: original")
        for ax, k in zip(row[1:], COMPONENTS, strict=True):
            show_image(ax, segmented[photo, k], f"K = {k}  (MSE {mse[photo, k]:.4f})")
    return save_png(figure, path)


def run(size: str = "full", out: Path | None = None, work: Path | None = None) -> SegmentationResult:
    """Segment the photographs of ``size`` with K = 2, 4, 8 and draw the picture.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``image_segmentation.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the pixel stores, registry and predictions.
    """
    size = check_size(size)
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)
    work.mkdir(parents=True, exist_ok=True)
    images: dict[str, np.ndarray] = {}
    segmented: dict[tuple[str, int], np.ndarray] = {}
    scores = []
    for photo in PHOTOS[size]:
        image = images[photo] = load_photo(photo)
        store = write_image(work / f"{photo}.zarr", image)
        for k in COMPONENTS:
            result = segmented[photo, k] = segment(photo, image, k, store, work)
            scores.append(
                SegmentationScore(photo, k, mean_squared_error(result, image), distinct_colours(result))
            )
    picture = draw(images, segmented, scores, out / f"{NAME}.png")
    return SegmentationResult(tuple(scores), picture)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print its scores."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    if not args.verbose:
        quiet_orchestration_logs()
    result = run(args.size, args.out, args.work)
    for score in result.scores:
        print(
            f"{score.photo:8s} K={score.n_components}: MSE {score.mse:.5f}, "
            f"{score.distinct_colours} colours"
        )
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
