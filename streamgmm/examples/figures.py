"""Figures for the examples, saved as small PNGs fit to commit.

Figures are bare ``matplotlib.figure.Figure`` objects rendered by Agg (no display,
no pyplot state). A rendered figure is stored with an adaptive palette of at
most 256 colours: plots and segmented images have far fewer colours, and a
photograph loses nothing visible, while the file shrinks several times.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..reporting.embed import MAX_COLOURS, palette_png

__all__ = ["MAX_COLOURS", "new_figure", "save_png", "show_image"]


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A bare Agg figure of ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def show_image(ax: Any, image: np.ndarray, title: str) -> None:
    """Draw an RGB image (floats in [0, 1] or uint8) without axes, titled."""
    ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def save_png(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Render ``figure`` and write it as a palette PNG (parents created, replaced atomically).

    Returns
    -------
    Path
        The written file.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, palette_png(buffer.getvalue()))
    return Path(path)
