"""Geometry shared by everything drawn over a slide: the view transform and the pyramid tile layout.

Every layer (slide tiles, heatmap, tile grid, hover border) maps level-0 rectangles to the screen
through :meth:`ViewTransform.screen_rect`, which rounds each *edge* (not the size). Two layers
that share an edge in level-0 coordinates therefore share it to the pixel on screen at every zoom;
this is what keeps the heatmap aligned with the tissue, and what leaves no seams between tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF

TILE_SIZE = 256


def _round(v: float) -> int:
    return math.floor(v + 0.5)


@dataclass
class ViewTransform:
    """Level-0 image coordinates <-> widget pixels: ``screen = (image - origin) * scale``."""

    scale: float = 1.0  # widget pixels per level-0 pixel
    origin_x: float = 0.0  # level-0 coordinate shown at the widget's left edge
    origin_y: float = 0.0

    def to_screen(self, x: float, y: float) -> QPointF:
        return QPointF((x - self.origin_x) * self.scale, (y - self.origin_y) * self.scale)

    def to_image(self, sx: float, sy: float) -> tuple[float, float]:
        return sx / self.scale + self.origin_x, sy / self.scale + self.origin_y

    def screen_x(self, x: float) -> int:
        """Widget column of the level-0 x edge (edges round half up, the same for every layer)."""
        return _round((x - self.origin_x) * self.scale)

    def screen_y(self, y: float) -> int:
        return _round((y - self.origin_y) * self.scale)

    def screen_rect(self, x: float, y: float, w: float, h: float) -> QRect:
        """Integer widget rectangle covering the level-0 rectangle, edges rounded independently."""
        left, top = self.screen_x(x), self.screen_y(y)
        return QRect(left, top, self.screen_x(x + w) - left, self.screen_y(y + h) - top)

    def screen_rects(self, rects: np.ndarray) -> np.ndarray:
        """(N, 4) int64 left, top, width, height of level-0 (N, 4) x, y, w, h rectangles; the same
        edge rounding as :meth:`screen_rect`, vectorised (same float operations, same results)."""
        r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        left = np.floor((r[:, 0] - self.origin_x) * self.scale + 0.5)
        top = np.floor((r[:, 1] - self.origin_y) * self.scale + 0.5)
        right = np.floor((r[:, 0] + r[:, 2] - self.origin_x) * self.scale + 0.5)
        bottom = np.floor((r[:, 1] + r[:, 3] - self.origin_y) * self.scale + 0.5)
        return np.stack([left, top, right - left, bottom - top], axis=1).astype(np.int64)

    def visible_image_rect(self, width: int, height: int) -> QRectF:
        """The level-0 rectangle a ``width`` x ``height`` widget shows."""
        return QRectF(self.origin_x, self.origin_y, width / self.scale, height / self.scale)

    def zoom_about(self, factor: float, anchor_x: float, anchor_y: float) -> None:
        """Multiply the scale, keeping the image point under widget pixel (anchor_x, anchor_y) fixed."""
        self.set_scale_about(self.scale * factor, anchor_x, anchor_y)

    def set_scale_about(self, scale: float, anchor_x: float, anchor_y: float) -> None:
        """Set the scale exactly, keeping the image point under (anchor_x, anchor_y) fixed."""
        ix, iy = self.to_image(anchor_x, anchor_y)
        self.scale = scale
        self.origin_x = ix - anchor_x / scale
        self.origin_y = iy - anchor_y / scale


@dataclass(frozen=True)
class TileLayout:
    """How each pyramid level is cut into ``tile_size`` tiles, and where each tile lies in level 0."""

    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    tile_size: int = TILE_SIZE

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    def level_for_scale(self, scale: float, device_pixel_ratio: float = 1.0) -> int:
        """The coarsest level that still has at least one image pixel per device pixel."""
        wanted = 1.0 / max(scale * device_pixel_ratio, 1e-12)
        best = 0
        for i, d in enumerate(self.level_downsamples):
            if d <= wanted * 1.0001:
                best = i
        return best

    def grid_size(self, level: int) -> tuple[int, int]:
        """(columns, rows) of tiles at ``level``."""
        w, h = self.level_dimensions[level]
        return math.ceil(w / self.tile_size), math.ceil(h / self.tile_size)

    def level_rect(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """The tile's rectangle in pixels of its own level (clipped at the level's edge)."""
        w, h = self.level_dimensions[level]
        x, y = col * self.tile_size, row * self.tile_size
        return x, y, min(self.tile_size, w - x), min(self.tile_size, h - y)

    def image_rect(self, level: int, col: int, row: int) -> tuple[float, float, float, float]:
        """The tile's rectangle in level-0 pixels (OpenSlide's convention: level px * downsample)."""
        d = self.level_downsamples[level]
        x, y, w, h = self.level_rect(level, col, row)
        return x * d, y * d, w * d, h * d

    def read_args(self, level: int, col: int, row: int) -> tuple[int, int, int, int, int]:
        """Arguments for ``SlideReader.read_region``: level, level-0 x, y, and the size at level."""
        d = self.level_downsamples[level]
        x, y, w, h = self.level_rect(level, col, row)
        return level, _round(x * d), _round(y * d), w, h

    def tiles_covering(self, level: int, rect: QRectF, margin: int = 0) -> list[tuple[int, int]]:
        """(col, row) of tiles at ``level`` meeting a level-0 rectangle, widened by ``margin`` tiles,
        ordered from the rectangle's centre outwards so the middle of the view loads first."""
        d = self.level_downsamples[level] * self.tile_size
        cols, rows = self.grid_size(level)
        c0 = max(0, math.floor(rect.left() / d) - margin)
        r0 = max(0, math.floor(rect.top() / d) - margin)
        c1 = min(cols - 1, math.ceil(rect.right() / d) - 1 + margin)
        r1 = min(rows - 1, math.ceil(rect.bottom() / d) - 1 + margin)
        cc, cr = rect.center().x() / d - 0.5, rect.center().y() / d - 0.5
        tiles = [(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
        tiles.sort(key=lambda t: (t[0] - cc) ** 2 + (t[1] - cr) ** 2)
        return tiles
