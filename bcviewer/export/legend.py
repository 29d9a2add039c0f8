"""A legend band for exported overlays: the colour scale of the heatmap and a scale bar.

The band is drawn below the image (never over tissue) with Pillow's bundled font, so "µm" and
the tick labels render the same on every machine without a system font.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bcviewer.export.colormaps import DEFAULT_COLORMAP, colormap_lut
from bcviewer.export.heatmap import overlay_rgb
from bcviewer.inference import TileScores
from bcviewer.slides import SlideReader

_INK = (30, 30, 30)


def nice_length_um(max_um: float) -> float:
    """The largest 1, 2 or 5 x 10^k µm not longer than ``max_um`` (at least 1 µm)."""
    if max_um <= 1:
        return 1.0
    exp = math.floor(math.log10(max_um))
    for step in (5, 2, 1):
        value = step * 10.0**exp
        if value <= max_um:
            return value
    return 10.0**exp


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
          font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> None:
    """Draw ``text``; Pillow's bundled font has no micro sign, so "µ" is drawn as a "u" with a
    descender on its left stem."""
    x, y = xy
    for i, part in enumerate(text.split("µ")):
        if i:
            draw.text((x, y), "u", fill=_INK, font=font)
            left, top, _, bottom = draw.textbbox((x, y), "u", font=font)
            size = float(getattr(font, "size", 11))  # a bitmap fallback font has no size
            stem = max(1, round(size / 11))
            draw.rectangle((left, top, left + stem - 1, bottom + round(size * 0.25)), fill=_INK)
            x += draw.textlength("u", font=font)
        draw.text((x, y), part, fill=_INK, font=font)
        x += draw.textlength(part, font=font)


def format_um(um: float) -> str:
    """'500 µm', '2 mm'."""
    return f"{um / 1000:g} mm" if um >= 1000 else f"{um:g} µm"


def legend_band(width: int, *, cmap: str = DEFAULT_COLORMAP, um_per_px: float | None = None,
                label: str = "P(malignant)", threshold: float = 0.0) -> np.ndarray:
    """RGB band ``(h, width, 3)``: colour bar with ticks 0..1 (greyed below ``threshold``) and a
    scale bar of a round length (or a note when the pixel size is unknown)."""
    scale = max(1.0, width / 1000.0)  # keep text legible on 2048 px exports
    height = round(64 * scale)
    font = ImageFont.load_default(size=round(13 * scale))
    band = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    pad = round(10 * scale)
    bar_w = max(40, min(round(width * 0.45), width - 2 * pad))
    bar_h = round(14 * scale)
    top = round(22 * scale)
    draw.text((pad, round(3 * scale)), label, fill=_INK, font=font)
    lut = colormap_lut(cmap)
    strip = lut[np.linspace(0, 255, bar_w).round().astype(np.intp)]
    if threshold > 0:  # the part of the scale the overlay hides
        hidden = np.linspace(0.0, 1.0, bar_w) < threshold
        strip = strip.copy()
        strip[hidden] = (strip[hidden] * 0.35 + 160 * 0.65).astype(np.uint8)
    band.paste(Image.fromarray(np.repeat(strip[None], bar_h, axis=0)), (pad, top))
    draw.rectangle((pad, top, pad + bar_w - 1, top + bar_h - 1), outline=_INK)
    for value in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = pad + round(value * (bar_w - 1))
        draw.line((x, top + bar_h, x, top + bar_h + round(4 * scale)), fill=_INK)
        text = f"{value:g}"
        tw = draw.textlength(text, font=font)
        draw.text((min(max(x - tw / 2, 0), width - tw), top + bar_h + round(5 * scale)), text, fill=_INK, font=font)
    right = width - pad
    if um_per_px is None or not math.isfinite(um_per_px) or um_per_px <= 0:
        note = "pixel size unknown: no scale bar"
        draw.text((right - draw.textlength(note, font=font), top), note, fill=_INK, font=font)
    else:
        room = width - 3 * pad - bar_w
        length_um = nice_length_um(max(room, 1) * 0.8 * um_per_px)
        length_px = max(1, round(length_um / um_per_px))
        y = top + bar_h // 2
        draw.rectangle((right - length_px, y - round(2 * scale), right, y + round(2 * scale)), fill=_INK)
        text = format_um(length_um)
        _text(draw, (right - length_px / 2 - draw.textlength(text, font=font) / 2, top + bar_h + round(5 * scale)),
              text, font)
    return np.asarray(band)


def with_legend(rgb: np.ndarray, **options: object) -> np.ndarray:
    """``rgb`` with :func:`legend_band` appended below it (same width)."""
    band = legend_band(rgb.shape[1], **options)  # type: ignore[arg-type]
    return np.concatenate([rgb, band], axis=0)


def annotated_overlay(slide: SlideReader, scores: TileScores, max_size: int = 2048, *, mpp: float | None = None,
                      cmap: str = DEFAULT_COLORMAP, threshold: float = 0.0, **options: object) -> np.ndarray:
    """:func:`~bcviewer.export.heatmap.overlay_rgb` with the legend band below it.

    ``mpp`` is the level-0 pixel size (the file's or the user's); without it the band says the
    scale is unknown instead of drawing a bar.
    """
    image = overlay_rgb(slide, scores, max_size, cmap=cmap, threshold=threshold, **options)
    um_per_px = mpp * slide.dimensions[0] / image.shape[1] if mpp else None
    return with_legend(image, cmap=cmap, um_per_px=um_per_px, threshold=threshold)
