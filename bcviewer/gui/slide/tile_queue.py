"""``TileNavigator``: "next most malignant tile", "next uncertain tile" and "previous tile".

Each press ranks the heatmap's scored tissue tiles again (:func:`bcviewer.inference.ranking.rank_tiles`:
the scores may still be streaming in), steps along the ranking, centres the view on the tile at a
zoom where it fills about half the view, outlines it and says in the status bar which tile of how
many it is. A new grid (another slide, another run) starts the walk afresh. The ranking comes
from the core's analysis half, so it is imported on first use, after the window is up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QStatusBar

from bcviewer.gui.slide.view import MAX_SCALE, SlideView
from bcviewer.gui.slide.view_geometry import ViewTransform

if TYPE_CHECKING:
    from bcviewer.inference.ranking import RankKey, TileQueue

RANK_NAMES: dict[str, str] = {"p": "most malignant", "uncertainty": "most uncertain"}  # by ranking key
TILE_FILL = 0.5  # the tile shown spans this share of the view's shorter side
OUTLINE = QColor(255, 221, 0)
OUTLINE_SHADOW = QColor(0, 0, 0, 200)
MESSAGE_MS = 30_000


class TileNavigator(QObject):
    """See the module docstring. ``tile_shown`` carries (ranking key, rank, grid index)."""

    tile_shown = Signal(str, int, int)

    def __init__(self, view: SlideView, status: QStatusBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.status = view, status
        self._queue: TileQueue | None = None
        self._rects: np.ndarray | None = None  # the layer's grid the walk belongs to
        view.overlay_painters.append(self.paint)

    @property
    def queue(self) -> TileQueue:
        """The walk (created on first use: the ranking is part of the core's analysis half)."""
        if self._queue is None:
            from bcviewer.inference.ranking import TileQueue

            self._queue = TileQueue()
        return self._queue

    def reset(self) -> None:
        """Forget the walk (a new slide or a new run)."""
        if self._queue is not None:
            self._queue.reset()

    def ranking(self, key: RankKey) -> np.ndarray:
        """The heatmap's scored tissue tiles, highest ``key`` first (grid indices)."""
        from bcviewer.inference.ranking import rank_tiles

        layer = self.view.heatmap
        return rank_tiles(layer.probabilities, layer.uncertainties, key, layer.qc_skipped)

    def _sync(self, key: RankKey) -> None:
        if self._rects is not self.view.heatmap.rects:  # set_grid made new arrays: another grid
            self._rects = self.view.heatmap.rects
            self.queue.reset()
        self.queue.update(key, self.ranking(key))

    def next(self, key: RankKey) -> int | None:
        """Show the next tile of ``key``'s ranking (the first after switching rankings)."""
        self._sync(key)
        was_last = self.queue.at_end
        index = self.queue.step(1)
        self._show(index, last=was_last)
        return index

    def previous(self) -> int | None:
        """Show the tile before the current one in the ranking being walked."""
        self._sync(self.queue.key)
        index = self.queue.step(-1)
        self._show(index)
        return index

    def show_rank(self, key: RankKey, rank: int) -> int | None:
        """Show the tile at ``rank`` of ``key``'s ranking (a gallery click); the keys go on from there."""
        self._sync(key)
        index = self.queue.go_to(rank)
        self._show(index)
        return index

    def _show(self, index: int | None, last: bool = False) -> None:
        view, layer = self.view, self.view.heatmap
        if index is None:
            self.status.showMessage("No scored tissue tile yet: run the analysis first", MESSAGE_MS)
            view.update()
            return
        x, y, w, h = (float(v) for v in layer.rects[index])
        scale = min(TILE_FILL * view.width() / w, TILE_FILL * view.height() / h, MAX_SCALE)
        view.zoom_to(scale)
        view.center_on(x + w / 2, y + h / 2)
        self.status.showMessage(self.describe(index) + ("  (the last one)" if last else ""), MESSAGE_MS)
        self.tile_shown.emit(self.queue.key, self.queue.position, index)

    def describe(self, index: int) -> str:
        """The status-bar line for the tile shown, e.g. "tile 3 of 120 most malignant: p = 0.970 (row 4, col 7)"."""
        layer, q = self.view.heatmap, self.queue
        p, u = float(layer.probabilities[index]), float(layer.uncertainties[index])
        where = f"(row {int(layer.rows[index]) + 1}, col {int(layer.cols[index]) + 1})"
        score = f"p = {p:.3f}" if q.key == "p" else f"uncertainty = {u:.3f}, p = {p:.3f}"
        return f"tile {q.position + 1} of {len(q.order)} {RANK_NAMES[q.key]}: {score} {where}"

    @property
    def current(self) -> int | None:
        """The grid index of the tile outlined, or None."""
        if self._queue is None or self._rects is not self.view.heatmap.rects:
            return None
        return self.queue.current

    def paint(self, painter: QPainter, transform: ViewTransform) -> None:
        """Outline the tile shown: yellow over a dark shadow, visible on any stain and colormap."""
        index = self.current
        if index is None:
            return
        rect = transform.screen_rect(*(float(v) for v in self.view.heatmap.rects[index]))
        painter.save()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(OUTLINE_SHADOW, 5))
        painter.drawRect(rect.adjusted(-3, -3, 2, 2))
        painter.setPen(QPen(OUTLINE, 3))
        painter.drawRect(rect.adjusted(-3, -3, 2, 2))
        painter.restore()
