"""Plots inside markdown: small palette PNGs as ``data:`` URIs, and the plots section of a report.

A report read in a browser that cannot open the reports folder (the Prefect UI of
a server on another machine, a colleague's screen) still shows its plots when they
are embedded: ``![title](data:image/png;base64,...)``. Prefect's UI renders them in
markdown artifacts (its markdown renderer keeps ``data:image/`` URLs on ``img``
tags). Embedded copies are downscaled to at most :data:`EMBED_MAX_WIDTH` pixels
and stored with an adaptive palette, so a plot costs tens of kilobytes; the full
PNG stays on disk, linked beside it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path

__all__ = ["EMBED_MAX_WIDTH", "MAX_COLOURS", "palette_png", "plots_markdown", "png_data_uri"]

#: Colours of a palette PNG.
MAX_COLOURS = 256
#: Width in pixels of an embedded plot (wider ones are downscaled).
EMBED_MAX_WIDTH = 800


def palette_png(png: bytes, max_width: int | None = None) -> bytes:
    """``png`` re-encoded with an adaptive palette, optionally downscaled to ``max_width``.

    Plots have few colours: the palette shrinks them several times and loses
    nothing visible.

    Parameters
    ----------
    png : bytes
        A PNG file's content.
    max_width : int, optional
        Wider images are resized (Lanczos) to this width, keeping their aspect.
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as rendered:
        image = rendered.convert("RGB")
    if max_width is not None and image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    # Median cut on RGB keeps rare colours (thin lines, small labels) better than
    # the default octree; dithering would add noise that compresses badly.
    palette = image.quantize(colors=MAX_COLOURS, method=Image.Quantize.MEDIANCUT,
                             dither=Image.Dither.NONE)
    encoded = io.BytesIO()
    palette.save(encoded, format="PNG", optimize=True)
    return encoded.getvalue()


def png_data_uri(path: str | Path, max_width: int = EMBED_MAX_WIDTH) -> str:
    """``data:image/png;base64,...`` of the PNG at ``path``, downscaled and palettised."""
    small = palette_png(Path(path).read_bytes(), max_width=max_width)
    return "data:image/png;base64," + base64.b64encode(small).decode("ascii")


def plots_markdown(plots: Mapping[str, str | Path] | None) -> list[str]:
    """The "Plots" section of a markdown report: each plot embedded, then its file.

    Returns
    -------
    list of str
        Markdown lines (none without plots).
    """
    if not plots:
        return []
    lines = ["", "## Plots"]
    for title, path in plots.items():
        lines += [
            "",
            f"### {title}",
            "",
            f"![{title}]({png_data_uri(path)})",
            "",
            f"File: [`{path}`]({Path(path).resolve().as_uri()})",
        ]
    return lines
