"""Example 1, at scale: segment a 20,000 x 20,000 pixel image by colour, out of core.

A synthetic image made by tiling and jittering ``chelsea`` (see :mod:`.tiled_image`) is
written to Zarr chunk by chunk as (N, 3) float32 RGB rows (400 million rows, 4.5 GiB at
full size); the ``batch_fit`` flow (``configs/examples/large_image.yaml``) clusters it
with K = 2, 4, 8 (tied covariance) as it does the photograph; each segmented image is
painted and written out of core, and a downsampled preview is drawn. The wall time
and the peak memory of the process tree are printed: memory follows the chunk
size, not the image size.

    python -m streamgmm.examples.large_image [--size reduced|full] [--out DIR]

Sizes: ``full`` is 20,000 x 20,000 pixels; ``reduced`` (CI) is 2,000 x 2,000.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkout import default_pictures, default_work
from .cli import check_size, parse_example_arguments
from .figures import new_figure, save_png, show_image
from .flow_runner import load_example_config, quiet_orchestration_logs, run_batch_fit
from .image_segmentation import COMPONENTS, load_photo
from .resources import ResourceMonitor
from .tiled_image import (
    TiledImage,
    crop_pixels,
    preview_pixels,
    preview_segmented,
    segment_pixel_store,
    write_tiled_image,
)

__all__ = ["LargeImageResult", "SIDES", "main", "run"]

NAME = "large_image"
#: Image side in pixels, by size.
SIDES = {"reduced": 2_000, "full": 20_000}
#: Side of the preview panels, in pixels.
PREVIEW_SIDE = 400
#: Height and width of the full-resolution window, taken at the image's centre.
CROP = (240, 320)
PHOTO = "chelsea"


@dataclass(frozen=True)
class LargeImageResult:
    """What :func:`run` measured.

    Attributes
    ----------
    height, width : int
    mse : dict of int to float
        Mean squared error of each segmentation (K -> error), colours in [0, 1].
    components_used : dict of int to int
        Components labelling at least one pixel, per K.
    preview_colours : dict of int to int
        Distinct colours in each segmented preview, per K.
    seconds : dict of str to float
        Wall time of each phase ("write", "fit K=2", "paint K=2", ...).
    wall_seconds : float
    peak_rss_bytes : int
        Peak resident memory of the process tree over the whole run (this process,
        and Prefect's ephemeral API server when the flow started one).
    peak_own_rss_bytes : int
        Peak resident memory of this process alone.
    picture : Path
    """

    height: int
    width: int
    mse: dict[int, float]
    components_used: dict[int, int]
    preview_colours: dict[int, int]
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    peak_rss_bytes: int = 0
    peak_own_rss_bytes: int = 0
    picture: Path = Path()


def draw(
    previews: dict[str, np.ndarray], crops: dict[str, np.ndarray], side: int, step: int,
    path: Path,
) -> Path:
    """Top: the original and the segmentations, downsampled; bottom: a window at full resolution."""
    figure = new_figure(3.2 * len(previews), 6.4)
    axes = figure.subplots(2, len(previews), squeeze=False)
    for ax, (title, image) in zip(axes[0], previews.items(), strict=True):
        show_image(ax, image, title)
    for ax, (title, image) in zip(axes[1], crops.items(), strict=True):
        show_image(ax, image, title)
    figure.suptitle(
        f"{side:,} x {side:,} pixels ({side * side / 1e6:,.0f} million rows): every {step}th "
        f"pixel (top) and a {CROP[0]} x {CROP[1]} window at full resolution (bottom)",
        fontsize=10,
    )
    return save_png(figure, path)


def run(
    size: str = "full", out: Path | None = None, work: Path | None = None,
    *, workers: int | None = None,
) -> LargeImageResult:
    """Write the tiled image, segment it with K = 2, 4, 8 and draw the preview.

    Parameters
    ----------
    size : {"reduced", "full"}
    out : Path, optional
        Folder of the picture ``large_image.png`` (default ``data/examples``).
    work : Path, optional
        Folder for the pixel store, segmented images and registry.
    workers : int, optional
        Threads that write and paint chunks (default every core).
    """
    import zarr

    side = SIDES[check_size(size)]
    out = default_pictures() if out is None else Path(out)
    work = default_work(NAME) if work is None else Path(work)
    work.mkdir(parents=True, exist_ok=True)
    step = max(1, side // PREVIEW_SIDE)
    seconds: dict[str, float] = {}
    mse: dict[int, float] = {}
    used: dict[int, int] = {}
    colours: dict[int, int] = {}

    def timed(phase: str, started: float) -> None:
        seconds[phase] = time.perf_counter() - started

    with ResourceMonitor() as monitor:
        started = time.perf_counter()
        pixels = write_tiled_image(
            work / "tiled.zarr", TiledImage(load_photo(PHOTO), side, side), workers=workers
        )
        timed("write", started)
        previews = {"original": preview_pixels(pixels, step)}
        top, left = (side - CROP[0]) // 2, (side - CROP[1]) // 2
        window = (slice(top, top + CROP[0]), slice(left, left + CROP[1]))
        crops = {"original, full resolution": crop_pixels(pixels, top, left, *CROP)}
        for k in COMPONENTS:
            started = time.perf_counter()
            fit = run_batch_fit(load_example_config(
                NAME,
                data={"uri": str(pixels)},
                model={"n_components": k},
                registry={"root": str(work / "registry"), "model": f"large-image-k{k}"},
                outputs={"reports": str(work / "reports")},
            ))
            timed(f"fit K={k}", started)
            started = time.perf_counter()
            segmented = segment_pixel_store(
                pixels, fit.parameters, work / f"segmented-k{k}.zarr", workers=workers
            )
            timed(f"paint K={k}", started)
            mse[k], used[k] = segmented.mse, segmented.components_used
            preview = previews[f"K = {k}  (MSE {segmented.mse:.4f})"] = preview_segmented(
                segmented.path, step
            )
            colours[k] = int(np.unique(preview.reshape(-1, 3), axis=0).shape[0])
            painted = zarr.open_array(str(segmented.path), mode="r")
            crops[f"K = {k}, full resolution"] = np.asarray(painted[window])
        picture = draw(previews, crops, side, step, out / f"{NAME}.png")
    assert monitor.usage is not None
    return LargeImageResult(
        height=side, width=side, mse=mse, components_used=used, preview_colours=colours,
        seconds=seconds, wall_seconds=monitor.usage.wall_seconds,
        peak_rss_bytes=monitor.usage.peak_rss_bytes,
        peak_own_rss_bytes=monitor.usage.peak_own_rss_bytes, picture=picture,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the example and print its timings, memory and errors."""
    args = parse_example_arguments(NAME, __doc__.split("\n\n")[0], argv)
    if not args.verbose:
        quiet_orchestration_logs()
    result = run(args.size, args.out, args.work)
    print(f"image {result.height:,} x {result.width:,} pixels")
    for phase, seconds in result.seconds.items():
        print(f"  {phase:10s} {seconds:8.1f} s")
    for k, error in result.mse.items():
        print(f"  K={k}: MSE {error:.5f}, {result.components_used[k]} components used")
    print(
        f"wall time {result.wall_seconds:.1f} s, peak RSS {result.peak_rss_bytes / 2**20:,.0f} MiB "
        f"(process tree), {result.peak_own_rss_bytes / 2**20:,.0f} MiB (this process)"
    )
    print(f"picture: {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
