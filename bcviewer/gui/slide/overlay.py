"""``HeatmapLayer``: per-tile scores drawn over the slide with a colormap, opacity and threshold.

The layer holds the analysis grid's level-0 rectangles and the scores streamed in so far (NaN
until a tile is scored). It paints through the view's :class:`ViewTransform`, the same mapping the
slide tiles use, so heatmap and tissue share their edges to the pixel at every zoom. For whole
slides it holds the tissue outline and clips the colour to it, so glass stays transparent; the
smooth style draws the core's interpolated map (bcviewer.export) as one image instead of blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPolygonF, QTransform

from bcviewer.gui import core
from bcviewer.gui.settings import DEFAULT_COLORMAP, DEFAULT_OPACITY
from bcviewer.gui.slide.view_geometry import ViewTransform

# The core's colormaps (bcviewer.export), so the overlay on screen and the exported heatmap PNGs
# look the same. Their names are listed here because bcviewer.export loads after the first frame.
COLORMAPS: tuple[str, ...] = ("viridis", "inferno", "coolwarm", "traffic", "gray")
UNCERTAINTY_COLORMAP = "inferno"  # the uncertainty layer's own scale, whichever colormap p uses
SMOOTH_MAX_SIDE = 1024  # pixels of the smooth map's image (drawn scaled, with bilinear filtering)
_GREY_LUT = np.repeat(np.linspace(96, 160, 256).astype(np.uint8)[:, None], 3, axis=1)


def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB table of a colormap (the default one if unknown); a neutral grey ramp
    while the core's export module is still loading."""
    if not core.is_ready():
        return _GREY_LUT
    from bcviewer.export import COLORMAPS as available
    from bcviewer.export import colormap_lut as core_lut

    return core_lut(name if name in available else DEFAULT_COLORMAP)


REVIEW_COLOR = QColor(255, 140, 0)
QC_COLOR = QColor(90, 90, 90)  # hatched grey: tiles quality control kept from scoring
OUTSIDE_COLOR = QColor(255, 0, 200)


@dataclass(frozen=True)
class TileInfo:
    """What the tooltip says about one tile."""

    index: int
    row: int
    col: int
    rect: tuple[float, float, float, float]
    probability: float | None
    uncertainty: float | None
    prediction_set: str | None = None  # benign / malignant / review; None: the model has no calibration
    outside_training: bool | None = None  # None: the model has no outside-training density


class HeatmapLayer:
    """Scores of one analysis grid and how to draw them."""

    def __init__(self) -> None:
        self.rects = np.zeros((0, 4), dtype=np.float64)
        self.rows = np.zeros(0, dtype=np.int64)
        self.cols = np.zeros(0, dtype=np.int64)
        self.probabilities = np.zeros(0, dtype=np.float64)
        self.uncertainties = np.zeros(0, dtype=np.float64)
        self.sets: list[str | None] = []
        self.outside: np.ndarray | None = None  # None: the model has no outside-training density
        self.show_uncertainty = False  # colour by uncertainty and outline review / outside tiles
        self.colormap = DEFAULT_COLORMAP
        self.opacity = DEFAULT_OPACITY
        self.threshold = 0.0
        self.smooth = False
        self.slide_size: tuple[int, int] = (0, 0)
        self.tissue_path: QPainterPath | None = None  # level-0 outline; None: colour whole tiles
        self._smooth_image: tuple[QImage, float] | None = None  # image and its level-0 px per pixel
        self.visible = True
        self.show_grid = False
        self._lut: np.ndarray | None = None  # None: not built yet, or built before the core loaded
        self._colors: list[QColor] | None = None

    # ---- data -----------------------------------------------------------------------------
    def set_grid(self, rects: npt.ArrayLike, rows: npt.ArrayLike, cols: npt.ArrayLike) -> None:
        """A new grid with no scores yet."""
        self.rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.probabilities = np.full(len(self.rects), np.nan)
        self.uncertainties = np.full(len(self.rects), np.nan)
        self.sets = [None] * len(self.rects)
        self.outside = None
        self.qc_skipped: np.ndarray | None = None  # tiles quality control kept from scoring
        self._colors = None
        self._smooth_image = None

    def clear(self) -> None:
        self.set_grid(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
        self.set_tissue(None)

    def set_tissue(self, polygons: list[np.ndarray] | None) -> None:
        """Clip the colour to these level-0 polygons (outer outlines and holes); None: no clipping."""
        if not polygons:
            self.tissue_path = None
            return
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.OddEvenFill)  # holes are polygons inside outlines
        for poly in polygons:
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
            path.closeSubpath()
        self.tissue_path = path

    def set_scores(
        self, indices: np.ndarray, probabilities: np.ndarray, uncertainties: np.ndarray | None = None
    ) -> None:
        """Fill in scores of the tiles at ``indices`` (positions in the grid)."""
        idx = np.asarray(indices, dtype=np.int64)
        self.probabilities[idx] = probabilities
        if uncertainties is not None:
            self.uncertainties[idx] = uncertainties
        self._colors = None
        self._smooth_image = None

    def set_trust(self, sets: list[str | None], outside: np.ndarray | None) -> None:
        """Each tile's prediction set and outside-training flag (None: the model gives none)."""
        self.sets = list(sets)
        self.outside = None if outside is None else np.asarray(outside, dtype=bool)

    def set_qc(self, skipped: np.ndarray | None) -> None:
        """The tiles quality control left out (drawn hatched grey); None: QC did not run."""
        self.qc_skipped = None if skipped is None else np.asarray(skipped, dtype=bool)

    def set_show_uncertainty(self, on: bool) -> None:
        self.show_uncertainty = bool(on)
        self._colors = None

    @property
    def tile_count(self) -> int:
        return len(self.rects)

    @property
    def scored_count(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.probabilities)))

    @property
    def has_grid(self) -> bool:
        return len(self.rects) > 0

    # ---- appearance -----------------------------------------------------------------------
    def set_colormap(self, name: str) -> None:
        self.colormap = name if name in COLORMAPS else DEFAULT_COLORMAP
        self._lut = None
        self._colors = None
        self._smooth_image = None

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(float(opacity), 0.0), 1.0)
        self._colors = None
        self._smooth_image = None

    def set_threshold(self, threshold: float) -> None:
        self.threshold = min(max(float(threshold), 0.0), 1.0)
        self._smooth_image = None

    def set_smooth(self, on: bool) -> None:
        self.smooth = bool(on)

    @property
    def lut(self) -> np.ndarray:
        """(256, 3) RGB table of the current colormap."""
        if self._lut is None:
            lut = colormap_lut(self.colormap)
            if not core.is_ready():
                return lut  # placeholder: ask again once the core has loaded
            self._lut = lut
            self._colors = None
        return self._lut

    def color_of(self, probability: float, lut: np.ndarray | None = None) -> QColor:
        """The fill colour of a tile with this probability (by ``lut``, else the colormap's), opacity applied."""
        lut = self.lut if lut is None else lut
        r, g, b = (int(v) for v in lut[int(round(min(max(probability, 0.0), 1.0) * (len(lut) - 1)))])
        return QColor(r, g, b, int(round(self.opacity * 255)))

    def _tile_colors(self) -> list[QColor]:
        if self._colors is None or self._lut is None:
            values = self.uncertainties if self.show_uncertainty else self.probabilities
            p_lut = self.lut  # read either way: a None ``_lut`` would rebuild the colours every frame
            lut = colormap_lut(UNCERTAINTY_COLORMAP) if self.show_uncertainty else p_lut
            self._colors = [self.color_of(v, lut) if not np.isnan(v) else QColor(0, 0, 0, 0) for v in values]
        return self._colors

    # ---- queries --------------------------------------------------------------------------
    def tile_at(self, x: float, y: float) -> int | None:
        """Index of the tile containing level-0 point (x, y); the last drawn one where tiles overlap."""
        if not self.has_grid:
            return None
        r = self.rects
        inside = np.flatnonzero((r[:, 0] <= x) & (x < r[:, 0] + r[:, 2]) & (r[:, 1] <= y) & (y < r[:, 1] + r[:, 3]))
        return int(inside[-1]) if len(inside) else None

    def info(self, index: int) -> TileInfo:
        p, u = self.probabilities[index], self.uncertainties[index]
        return TileInfo(
            index,
            int(self.rows[index]),
            int(self.cols[index]),
            tuple(float(v) for v in self.rects[index]),  # type: ignore[arg-type]
            None if np.isnan(p) else float(p),
            None if np.isnan(u) else float(u),
            self.sets[index] if index < len(self.sets) else None,
            None if self.outside is None or np.isnan(p) else bool(self.outside[index]),
        )

    def visible_indices(self, area: QRectF) -> np.ndarray:
        """Indices of tiles meeting a level-0 rectangle, in drawing order."""
        r = self.rects
        hit = (
            (r[:, 0] < area.right())
            & (r[:, 0] + r[:, 2] > area.left())
            & (r[:, 1] < area.bottom())
            & (r[:, 1] + r[:, 3] > area.top())
        )
        return np.flatnonzero(hit)

    # ---- painting -------------------------------------------------------------------------
    def paint(self, painter: QPainter, transform: ViewTransform, area: QRectF, hovered: int | None) -> None:
        """Draw scored tiles above the threshold (blocks, or the smooth map), clipped to the tissue
        outline when there is one; then the grid outlines when on, and the hovered border."""
        if not self.has_grid:
            return
        indices = self.visible_indices(area)
        if self.visible and self.opacity > 0:
            painter.save()
            if self.tissue_path is not None:
                t = transform
                to_screen = QTransform(t.scale, 0, 0, t.scale, -t.origin_x * t.scale, -t.origin_y * t.scale)
                painter.setClipPath(to_screen.map(self.tissue_path), Qt.ClipOperation.IntersectClip)
            smooth = self._smooth() if self.smooth and not self.show_uncertainty else None
            if smooth is not None:
                image, ds = smooth
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(transform.screen_rect(0, 0, image.width() * ds, image.height() * ds), image)
            else:
                colors = self._tile_colors()
                floor = 0.0 if self.show_uncertainty else self.threshold  # every scored tile has an uncertainty
                shown = indices[self.probabilities[indices] >= floor]  # NaN (not scored) is False
                for i, (x, y, w, h) in zip(shown.tolist(), transform.screen_rects(self.rects[shown]).tolist()):
                    painter.fillRect(x, y, w, h, colors[i])
            painter.restore()
        if self.visible and self.qc_skipped is not None and self.qc_skipped.any():
            painter.save()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QC_COLOR, Qt.BrushStyle.BDiagPattern))
            marked = indices[self.qc_skipped[indices]]
            for x, y, w, h in transform.screen_rects(self.rects[marked]).tolist() if len(marked) else []:
                painter.drawRect(x, y, w, h)
            painter.restore()
        if self.visible and self.show_uncertainty:
            self._paint_trust_marks(painter, transform, indices)
        if self.show_grid:
            painter.setPen(QPen(QColor(255, 255, 255, 150), 0))
            for x, y, w, h in transform.screen_rects(self.rects[indices]).tolist():
                painter.drawRect(x, y, w - 1, h - 1)
        if hovered is not None and 0 <= hovered < len(self.rects):
            x, y, w, h = self.rects[hovered]
            painter.setPen(QPen(QColor(20, 220, 255), 2))
            painter.drawRect(transform.screen_rect(x, y, w, h).adjusted(1, 1, -1, -1))

    def _paint_trust_marks(self, painter: QPainter, transform: ViewTransform, indices: np.ndarray) -> None:
        """Outline tiles whose prediction set is "review" (orange) and tiles outside the training
        data (magenta, dashed), so the uncertainty layer shows where to look."""
        review = [i for i in indices.tolist() if i < len(self.sets) and self.sets[i] in ("review", "none")]
        outside = [] if self.outside is None else [i for i in indices.tolist() if self.outside[i]]
        for marked, pen in ((review, QPen(REVIEW_COLOR, 2)), (outside, QPen(OUTSIDE_COLOR, 2, Qt.PenStyle.DashLine))):
            painter.setPen(pen)
            for x, y, w, h in transform.screen_rects(self.rects[marked]).tolist() if marked else []:
                painter.drawRect(x + 1, y + 1, w - 3, h - 3)

    def _smooth(self) -> tuple[QImage, float] | None:
        """The smooth map as an RGBA image (built once per change; None until the core has loaded)."""
        if self._smooth_image is None and core.is_ready() and self.scored_count and min(self.slide_size) > 0:
            from bcviewer.export import colorize, level_size, rects_smooth_map

            ds = max(1.0, max(self.slide_size) / SMOOTH_MAX_SIDE)
            size = level_size(self.slide_size, ds)
            values = rects_smooth_map(self.rects, self.probabilities, self.slide_size, ds, size)
            rgba = np.ascontiguousarray(colorize(values, self.colormap, self.opacity, self.threshold))
            image = QImage(rgba.data, size[0], size[1], size[0] * 4, QImage.Format.Format_RGBA8888).copy()
            self._smooth_image = (image, ds)
        return self._smooth_image
