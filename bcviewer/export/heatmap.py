"""Tile scores painted as an RGBA heatmap aligned with a slide at any pyramid level.

Alignment rule: a tile with level-0 rectangle (x, y, w, h) covers, at downsample ``ds``, the
pixel columns ``floor(x / ds) .. floor((x + w) / ds) - 1`` (and likewise for rows), clipped to the
image and at least one pixel wide. Neighbouring tiles of a non-overlapping grid therefore meet
without gap or overlap at every level. Where tiles do overlap (a grid with overlap), each pixel
shows the **mean** value of the tiles covering it. Tiles not scored, and pixels whose value lies
below ``threshold``, are fully transparent.

Two refinements keep the map readable over H&E: given a :class:`~bcviewer.tiling.TissueMask`,
pixels on blank glass are transparent even inside a scored tile; and ``smooth=True`` interpolates
between tile values (a normalised Gaussian of about half a tile) instead of painting blocks, still
only inside scored tiles.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from bcviewer.export.colormaps import DEFAULT_COLORMAP, DEFAULT_OPACITY, apply_colormap
from bcviewer.inference import TileScores
from bcviewer.slides import SlideReader
from bcviewer.tiling import TissueMask

HeatmapValue = Literal["p_malignant", "uncertainty"]
Downsample = float | tuple[float, float]


def _pair(downsample: Downsample) -> tuple[float, float]:
    dx, dy = (downsample, downsample) if isinstance(downsample, (int, float)) else downsample
    if dx <= 0 or dy <= 0:
        raise ValueError(f"the downsample must be positive, got {downsample}")
    return float(dx), float(dy)


def level_size(slide_size: tuple[int, int], downsample: Downsample) -> tuple[int, int]:
    """(width, height) in pixels of a level-0 image of ``slide_size`` at ``downsample`` (ceil)."""
    dx, dy = _pair(downsample)
    return max(1, int(np.ceil(slide_size[0] / dx))), max(1, int(np.ceil(slide_size[1] / dy)))


def level_rects(rects: np.ndarray, downsample: Downsample, size: tuple[int, int]) -> np.ndarray:
    """(N, 4) int pixel boxes x0, y0, x1, y1 (end exclusive) of level-0 ``rects`` at ``downsample``."""
    dx, dy = _pair(downsample)
    r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    x0, y0 = np.floor(r[:, 0] / dx), np.floor(r[:, 1] / dy)
    x1 = np.maximum(np.floor((r[:, 0] + r[:, 2]) / dx), x0 + 1)
    y1 = np.maximum(np.floor((r[:, 1] + r[:, 3]) / dy), y0 + 1)
    w, h = size
    out = np.stack([np.clip(x0, 0, w), np.clip(y0, 0, h), np.clip(x1, 0, w), np.clip(y1, 0, h)], axis=1)
    return out.astype(np.int64)


def value_map(scores: TileScores, downsample: Downsample = 1.0, size: tuple[int, int] | None = None,
              value: HeatmapValue = "p_malignant") -> np.ndarray:
    """(h, w) float64 map of the tiles' ``value`` (mean where tiles overlap; NaN where none is scored)."""
    size = size or level_size(scores.grid.slide_size, downsample)
    return rects_value_map(scores.rects(), np.asarray(getattr(scores, value), dtype=np.float64), downsample, size)


def rects_value_map(rects: np.ndarray, values: np.ndarray, downsample: Downsample,
                    size: tuple[int, int]) -> np.ndarray:
    """:func:`value_map` of level-0 ``rects`` (N, 4) and their ``values`` (NaN: not scored)."""
    total = np.zeros((size[1], size[0]), dtype=np.float64)
    count = np.zeros((size[1], size[0]), dtype=np.uint16)
    for (x0, y0, x1, y1), v in zip(level_rects(rects, downsample, size), values):
        if np.isnan(v) or x1 <= x0 or y1 <= y0:
            continue
        total[y0:y1, x0:x1] += v
        count[y0:y1, x0:x1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def smooth_value_map(scores: TileScores, downsample: Downsample = 1.0, size: tuple[int, int] | None = None,
                     value: HeatmapValue = "p_malignant") -> np.ndarray:
    """Like :func:`value_map`, interpolated between tiles; NaN outside scored tiles."""
    size = size or level_size(scores.grid.slide_size, downsample)
    values = np.asarray(getattr(scores, value), dtype=np.float64)
    return rects_smooth_map(scores.rects(), values, scores.grid.slide_size, downsample, size)


def rects_smooth_map(rects: np.ndarray, values: np.ndarray, slide_size: tuple[int, int], downsample: Downsample,
                     size: tuple[int, int]) -> np.ndarray:
    """:func:`smooth_value_map` of level-0 ``rects`` and their ``values`` on a ``slide_size`` image."""
    blocky = rects_value_map(rects, values, downsample, size)
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    if len(rects) == 0 or np.isnan(blocky).all():
        return blocky
    dx, dy = _pair(downsample)
    tile = float(np.median(rects[:, 2:4]))
    # Blur on a coarse copy (about 8 px per tile), then resize: the same result at any output size.
    coarse_ds = max(max(dx, dy), tile / 8.0)
    coarse = rects_value_map(rects, values, coarse_ds, level_size(slide_size, coarse_ds))
    known = ~np.isnan(coarse)
    sigma = tile / coarse_ds / 2.0
    num = cv2.GaussianBlur(np.where(known, coarse, 0.0), (0, 0), sigma)
    den = cv2.GaussianBlur(known.astype(np.float64), (0, 0), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        soft = np.where(den > 1e-3, num / np.maximum(den, 1e-12), 0.0)
    full = cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR)
    return np.where(np.isnan(blocky), np.nan, np.clip(full, 0.0, 1.0))


def mask_to_tissue(values: np.ndarray, tissue: TissueMask) -> np.ndarray:
    """``values`` with NaN where the tissue mask (resized to the map, nearest) shows glass."""
    h, w = values.shape
    mask = cv2.resize(tissue.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return np.where(mask, values, np.nan)


def colorize(values: np.ndarray, cmap: str = DEFAULT_COLORMAP, opacity: float = DEFAULT_OPACITY,
             threshold: float = 0.0) -> np.ndarray:
    """RGBA uint8 of a value map: colormap colours, alpha ``opacity``; NaN or < threshold transparent."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    rgba[..., :3] = apply_colormap(values, cmap)
    shown = ~np.isnan(values) & (np.nan_to_num(values, nan=-1.0) >= threshold)
    rgba[..., 3] = np.where(shown, round(opacity * 255), 0).astype(np.uint8)
    rgba[~shown, :3] = 0
    return rgba


def heatmap_rgba(scores: TileScores, downsample: Downsample = 1.0, size: tuple[int, int] | None = None, *,
                 cmap: str = DEFAULT_COLORMAP, opacity: float = DEFAULT_OPACITY, threshold: float = 0.0,
                 value: HeatmapValue = "p_malignant", smooth: bool = False,
                 tissue: TissueMask | None = None) -> np.ndarray:
    """RGBA ``(h, w, 4)`` heatmap of ``scores`` at ``downsample`` (level-0 pixels per heatmap pixel).

    ``size`` (width, height) defaults to the slide's size at that downsample, rounded up; give a
    pyramid level's own dimensions to match it exactly (see :func:`heatmap_for_level`).
    ``smooth`` interpolates between tiles; ``tissue`` makes glass transparent.
    """
    values = (smooth_value_map if smooth else value_map)(scores, downsample, size, value)
    if tissue is not None:
        values = mask_to_tissue(values, tissue)
    rgba = colorize(values, cmap, opacity, threshold)
    skipped = scores.qc_skipped()
    if skipped.any():
        hatch_tiles(rgba, level_rects(scores.rects()[skipped].astype(np.float64), downsample, rgba.shape[1::-1]))
    return rgba


QC_HATCH = (90, 90, 90, 200)  # grey stripes: tiles quality control kept from scoring
QC_HATCH_PERIOD = 8  # pixels between stripes


def hatch_tiles(rgba: np.ndarray, boxes: np.ndarray) -> None:
    """Draw diagonal grey stripes over each (x0, y0, x1, y1) pixel box of ``rgba``, in place."""
    h, w = rgba.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    stripes = ((xs + ys) % QC_HATCH_PERIOD) < 2
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.int64).tolist():
        if x1 > x0 and y1 > y0:
            block = stripes[y0:y1, x0:x1]
            rgba[y0:y1, x0:x1][block] = QC_HATCH


def heatmap_for_level(scores: TileScores, slide: SlideReader, level: int, **options: object) -> np.ndarray:
    """The heatmap pixel-aligned with pyramid ``level`` of ``slide`` (its size and downsample)."""
    ds, size = slide.level_downsamples[level], slide.level_dimensions[level]
    return heatmap_rgba(scores, ds, size, **options)  # type: ignore[arg-type]


def blend(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """``rgba`` composited over the RGB image of the same size (straight alpha)."""
    if rgb.shape[:2] != rgba.shape[:2]:
        raise ValueError(f"image {rgb.shape[:2]} and heatmap {rgba.shape[:2]} differ in size")
    a = rgba[..., 3:4].astype(np.uint16)
    out = (rgb.astype(np.uint16) * (255 - a) + rgba[..., :3].astype(np.uint16) * a + 127) // 255
    return out.astype(np.uint8)


def overlay_rgb(slide: SlideReader, scores: TileScores, max_size: int = 2048, **options: object) -> np.ndarray:
    """A thumbnail of ``slide`` (longer side <= ``max_size``) with the heatmap blended on top."""
    thumb = slide.thumbnail(max_size)
    th, tw = thumb.shape[:2]
    width, height = slide.dimensions
    heat = heatmap_rgba(scores, (width / tw, height / th), (tw, th), **options)  # type: ignore[arg-type]
    return blend(thumb, heat)
