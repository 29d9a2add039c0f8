"""The "explain" PNG: a tile, its attribution map over it, and a legend (Pillow and numpy, no Qt).

The map is drawn with the diverging ``coolwarm`` map, scaled by its largest magnitude: red areas
pushed p towards malignant, blue towards benign. Over the tile, each pixel's colour is blended in
with ``opacity x |value|``, so areas that did not matter keep the tile's own colours. The viewer's
explain panel shows the same blend (:func:`explanation_overlay`); ``bcviewer explain --out`` and
the panel's "Save explanation…" write :func:`explanation_figure`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bcviewer.export.colormaps import apply_colormap, colormap_lut
from bcviewer.export.files import write_png

if TYPE_CHECKING:
    from bcviewer.inference.explain import Explanation

MAP_COLORMAP = "coolwarm"
DEFAULT_EXPLAIN_OPACITY = 0.6
_INK = (30, 30, 30)
_PANEL_PX = 320  # the tile is enlarged to at least this height in the figure


def map_colours(explanation: Explanation) -> np.ndarray:
    """``(H, W, 3)`` uint8 colours of the map (-max..+max onto coolwarm)."""
    colours: np.ndarray = apply_colormap((explanation.signed_unit_map() + 1.0) / 2.0, MAP_COLORMAP)
    return colours


def explanation_overlay(explanation: Explanation, opacity: float = DEFAULT_EXPLAIN_OPACITY) -> np.ndarray:
    """The tile with the map blended over it (``opacity`` 0 shows the tile alone)."""
    alpha = np.clip(opacity, 0.0, 1.0) * np.sqrt(np.abs(explanation.signed_unit_map()))[..., None]
    tile = explanation.tile_rgb.astype(np.float64)
    blended = tile * (1.0 - alpha) + map_colours(explanation).astype(np.float64) * alpha
    out: np.ndarray = np.round(blended).clip(0, 255).astype(np.uint8)
    return out


def _enlarged(rgb: np.ndarray, height: int) -> Image.Image:
    image = Image.fromarray(rgb)
    scale = max(1.0, height / image.height)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.NEAREST)


def legend_lines(explanation: Explanation) -> list[str]:
    """The figure's text: what was explained, p per member, attention, method."""
    tile = explanation.tile
    if tile is None:  # a tile picture explained on its own (no slide position)
        return explanation.lines()
    where = (f"tile {explanation.tile_index} (row {tile.row + 1}, column {tile.col + 1}): x {tile.x}-{tile.x + tile.w}, "
             f"y {tile.y}-{tile.y + tile.h} (level-0 px)")
    return [where] + explanation.lines()


def explanation_figure(explanation: Explanation, opacity: float = DEFAULT_EXPLAIN_OPACITY) -> np.ndarray:
    """RGB figure: the tile and the tile with its map, side by side, over a colour bar and the text."""
    left = _enlarged(explanation.tile_rgb, _PANEL_PX)
    right = _enlarged(explanation_overlay(explanation, opacity), _PANEL_PX)
    pad = 12
    width = max(left.width + right.width + 3 * pad, 640)
    font = ImageFont.load_default(size=13)
    chars = max(40, int((width - 2 * pad) / 7))
    text: list[str] = []
    for line in legend_lines(explanation):
        indent = " " * (len(line) - len(line.lstrip()))
        text += textwrap.wrap(line, chars, subsequent_indent=indent + "  ") or [""]
    bar_top = left.height + 2 * pad + 18
    height = bar_top + 14 + 22 + len(text) * 17 + pad
    figure = Image.new("RGB", (width, height), (255, 255, 255))
    figure.paste(left, (pad, pad))
    figure.paste(right, (2 * pad + left.width, pad))
    draw = ImageDraw.Draw(figure)
    draw.text((pad, left.height + pad + 2), f"{explanation.method} map (red: pushed p towards malignant; "
              "blue: towards benign; scaled by its largest magnitude)", fill=_INK, font=font)
    bar_w = width - 2 * pad
    strip = colormap_lut(MAP_COLORMAP)[np.linspace(0, 255, bar_w).round().astype(np.intp)]
    figure.paste(Image.fromarray(np.repeat(strip[None], 14, axis=0)), (pad, bar_top))
    draw.rectangle((pad, bar_top, pad + bar_w - 1, bar_top + 13), outline=_INK)
    peak = float(np.max(np.abs(explanation.attribution))) if explanation.attribution.size else 0.0
    for value, label in ((0.0, f"-{peak:.3g}"), (0.5, "0"), (1.0, f"+{peak:.3g}")):
        x = pad + round(value * (bar_w - 1))
        tw = draw.textlength(label, font=font)
        draw.text((min(max(x - tw / 2, pad), width - pad - tw), bar_top + 16), label, fill=_INK, font=font)
    y = bar_top + 14 + 22
    for line in text:
        draw.text((pad, y), line, fill=_INK, font=font)
        y += 17
    return np.asarray(figure)


def write_explanation_png(explanation: Explanation, path: str | Path,
                          opacity: float = DEFAULT_EXPLAIN_OPACITY) -> Path:
    """Write :func:`explanation_figure` to ``path`` atomically and return the path."""
    return write_png(Path(path), explanation_figure(explanation, opacity))
