"""``SlideView``: a tiled pyramid renderer with smooth zoom, the heatmap layer, minimap and scale bar.

Painting never waits for the disk: each frame draws what the tile cache holds, fills holes with
the slide's overview image, and asks the :class:`TileLoader` for the rest (and a ring of
neighbours); tiles arriving from reader threads trigger another paint. Mouse and keyboard
navigation live in :class:`~bcviewer.gui.slide.navigation.ViewNavigator`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QToolTip, QWidget

from bcviewer.gui.slide.minimap import Minimap
from bcviewer.gui.slide.navigation import ViewNavigator
from bcviewer.gui.slide.overlay import HeatmapLayer, TileInfo
from bcviewer.gui.slide.scale_bar import paint_scale_bar
from bcviewer.gui.slide.tile_cache import TileCache, TileKey
from bcviewer.gui.slide.tile_loader import TileLoader
from bcviewer.gui.slide.view_geometry import TileLayout, ViewTransform
from bcviewer.slides import SlideReader

MAX_SCALE = 16.0  # screen pixels per level-0 pixel at the deepest zoom
BACKGROUND = QColor(52, 54, 58)


def tile_tooltip(info: TileInfo) -> str:
    """Tooltip text for a hovered analysis tile."""
    lines = [f"tile {info.index}  (row {info.row + 1}, column {info.col + 1})"]
    if info.probability is None:
        lines.append("not scored yet")
    else:
        lines.append(f"malignant probability: {info.probability:.3f}")
        if info.uncertainty is not None:
            lines.append(f"uncertainty: {info.uncertainty:.3f}")
        if info.prediction_set == "review":
            lines.append("prediction set: benign or malignant: review this tile")
        elif info.prediction_set == "none":
            lines.append("prediction set: no label fits: review this tile")
        elif info.prediction_set is not None:
            lines.append(f"prediction set: {info.prediction_set} only")
        if info.outside_training:
            lines.append("outside training data: this tile looks unlike any the model learnt from")
    return "\n".join(lines)


class SlideView(QWidget):
    """Shows one slide; level-0 pixel coordinates are the shared coordinate system of all layers."""

    view_changed = Signal()
    level_changed = Signal(int)
    cursor_moved = Signal(object)  # (x, y) level-0 or None when off the image
    tile_hovered = Signal(object)  # heatmap tile index or None
    frame_painted = Signal(float)  # perf_counter() at the end of the paint
    read_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, cache_mb: float = 256.0, reader_threads: int = 2) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.transform = ViewTransform()
        self.cache = TileCache(cache_mb)
        self.loader = TileLoader(reader_threads, self)
        self.loader.tile_ready.connect(self._on_tile_ready)
        self.loader.tile_failed.connect(self._on_tile_failed)
        self.heatmap = HeatmapLayer()
        # Layers drawn over the heatmap (regions of interest), each given the painter and transform.
        self.overlay_painters: list[Callable[[QPainter, ViewTransform], None]] = []
        self.navigator = ViewNavigator(self)
        self.minimap = Minimap(self)
        self.minimap.navigate_requested.connect(self.center_on)
        self._minimap_enabled = True  # the user's choice; shown only while part of the image is off screen
        self.show_scale_bar = True
        # µm per level-0 pixel in use for the scale bar; the workspace points this at its session,
        # which knows a pixel size the user gave for a file that records none.
        self.pixel_size: Callable[[], float | None] = lambda: self._reader.mpp if self._reader else None
        self._reader: SlideReader | None = None
        self._layout: TileLayout | None = None
        self._thumbnail: QImage | None = None
        self._generation = 0
        self._level = -1
        self._hovered: int | None = None
        self._read_error_reported = False
        self._zoom_target: float | None = None
        self._zoom_anchor = QPointF()
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setInterval(15)
        self._zoom_timer.timeout.connect(self._zoom_step)
        self.paint_count = 0
        self._fit_mode = False  # keep fitting the whole image when the widget is resized

    # ---- slide ----------------------------------------------------------------------------
    @property
    def reader(self) -> SlideReader | None:
        return self._reader

    @property
    def generation(self) -> int:
        return self._generation

    def set_slide(self, reader: SlideReader, thumbnail: QImage | None) -> None:
        """Show ``reader``; the previous slide's reader is closed in the background."""
        old = self._reader
        self._generation += 1
        self._reader = reader
        self._layout = TileLayout(reader.level_dimensions, reader.level_downsamples)
        self._thumbnail = thumbnail
        self._read_error_reported = False
        self.cache.drop_generation_except(self._generation)
        self.loader.set_source(reader, self._layout, self._generation)
        if old is not None and old is not reader:
            self.loader.close_reader_later(old)
        self.heatmap.clear()
        self.heatmap.slide_size = reader.dimensions
        self._hovered = None
        self.minimap.set_image(thumbnail, reader.dimensions)
        self._place_minimap()
        self.fit()

    @property
    def overview(self) -> QImage | None:
        """The picture drawn while tiles load, and in the minimap."""
        return self._thumbnail

    def set_overview(self, image: QImage) -> None:
        """Draw ``image`` (e.g. the stain-normalised overview) instead of the current overview."""
        self._thumbnail = image
        if self._reader is not None:
            self.minimap.set_image(image, self._reader.dimensions)
        self.update()

    def clear_slide(self) -> None:
        """Show nothing; the reader is closed in the background."""
        if self._reader is not None:
            self.loader.close_reader_later(self._reader)
        self._generation += 1
        self._reader = self._layout = self._thumbnail = None
        self.loader.set_source(None, None, self._generation)
        self.cache.clear()
        self.heatmap.clear()
        self.minimap.set_image(None, (1, 1))
        self.update()

    def shutdown(self) -> bool:
        """Stop reader threads and close the slide; True when every thread has finished."""
        self._zoom_timer.stop()
        reader = self._reader
        done = self.loader.shutdown()
        if reader is not None:
            reader.close()
        return done

    # ---- view state -----------------------------------------------------------------------
    @property
    def scale(self) -> float:
        return self.transform.scale

    @property
    def current_level(self) -> int:
        """The pyramid level drawn at the current zoom (-1 without a slide)."""
        if self._layout is None:
            return -1
        return self._layout.level_for_scale(self.transform.scale, self.devicePixelRatioF())

    def fit_scale(self) -> float:
        if self._reader is None:
            return 1.0
        w, h = self._reader.dimensions
        return min((self.width() - 16) / w, (self.height() - 16) / h)

    def visible_image_rect(self) -> QRectF:
        """The level-0 rectangle on screen, clipped to the image."""
        area = self.transform.visible_image_rect(self.width(), self.height())
        if self._reader is None:
            return area
        w, h = self._reader.dimensions
        return area.intersected(QRectF(0, 0, w, h))

    def fit(self) -> None:
        """Show the whole image, centred."""
        if self._reader is None:
            return
        self._zoom_timer.stop()
        self._zoom_target = None
        w, h = self._reader.dimensions
        s = self.fit_scale()
        self.transform.scale = s
        self.transform.origin_x = w / 2 - self.width() / (2 * s)
        self.transform.origin_y = h / 2 - self.height() / (2 * s)
        self._fit_mode = True
        self._view_changed()

    def zoom_to(self, scale: float, anchor: QPointF | None = None, animate: bool = False) -> None:
        """Set the scale (screen px per level-0 px), keeping the image point under ``anchor`` still."""
        if self._reader is None:
            return
        scale = min(max(scale, self.fit_scale() / 4), MAX_SCALE)
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        self._fit_mode = False
        if animate:
            self._zoom_target, self._zoom_anchor = scale, anchor
            self._zoom_timer.start()
            return
        self._zoom_timer.stop()
        self._zoom_target = None
        self.transform.set_scale_about(scale, anchor.x(), anchor.y())
        self._view_changed()

    def zoom_by(self, factor: float, anchor: QPointF | None = None, animate: bool = False) -> None:
        base = self._zoom_target if (animate and self._zoom_target is not None) else self.transform.scale
        self.zoom_to(base * factor, anchor, animate)

    def actual_size(self) -> None:
        """One screen pixel per level-0 pixel (100 %)."""
        self.zoom_to(1.0)

    def center_on(self, x: float, y: float) -> None:
        """Centre the view on level-0 point (x, y)."""
        s = self.transform.scale
        self._fit_mode = False
        self.transform.origin_x = x - self.width() / (2 * s)
        self.transform.origin_y = y - self.height() / (2 * s)
        self._view_changed()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) screen pixels."""
        self._fit_mode = False
        self.transform.origin_x -= dx / self.transform.scale
        self.transform.origin_y -= dy / self.transform.scale
        self._view_changed()

    def _zoom_step(self) -> None:
        if self._zoom_target is None:
            self._zoom_timer.stop()
            return
        ratio = self._zoom_target / self.transform.scale
        if abs(ratio - 1.0) < 0.003:
            target, self._zoom_target = self._zoom_target, None
            self._zoom_timer.stop()
        else:
            target = self.transform.scale * ratio**0.4
        self.transform.set_scale_about(target, self._zoom_anchor.x(), self._zoom_anchor.y())
        self._view_changed()

    def _view_changed(self) -> None:
        level = self.current_level
        if level != self._level:
            self._level = level
            self.level_changed.emit(level)
        self.minimap.set_viewport(self.transform.visible_image_rect(self.width(), self.height()))
        self._update_minimap_visibility()
        self.update()
        self.view_changed.emit()

    # ---- tiles ----------------------------------------------------------------------------
    def overview_suffices(self) -> bool:
        """True when the overview image is as sharp as the screen needs and coarser than every
        pyramid level (a single-level slide seen from afar): then no tile has to be read."""
        if self._thumbnail is None or self._reader is None or self._thumbnail.isNull():
            return False
        w, h = self._reader.dimensions
        overview_ds = max(w / self._thumbnail.width(), h / self._thumbnail.height())
        wanted_ds = 1.0 / (self.transform.scale * self.devicePixelRatioF())
        return self._reader.level_downsamples[-1] * 1.0001 < overview_ds <= wanted_ds * 1.0001

    def visible_tile_keys(self, margin: int = 0) -> list[TileKey]:
        """Tiles of the current level on screen (plus ``margin`` rings), centre first."""
        if self._layout is None or self.overview_suffices():
            return []
        level = self.current_level
        area = self.visible_image_rect()
        if area.isEmpty():
            return []
        return [TileKey(self._generation, level, c, r, self.loader.stain)
                for c, r in self._layout.tiles_covering(level, area, margin)]

    def is_settled(self) -> bool:
        """True when every visible tile is drawn at full resolution (or reading has failed)."""
        if self._reader is None:
            return True
        if self._read_error_reported:
            return True
        return all(k in self.cache for k in self.visible_tile_keys())

    def _on_tile_ready(self, key: TileKey, image: QImage) -> None:
        if key.generation != self._generation:
            return
        self.cache.put(key, image)
        if key.level == self.current_level and self._layout is not None:
            x, y, w, h = self._layout.image_rect(key.level, key.col, key.row)
            self.update(self.transform.screen_rect(x, y, w, h).adjusted(-1, -1, 1, 1))

    def _on_tile_failed(self, key: TileKey, message: str) -> None:
        if key.generation == self._generation and not self._read_error_reported:
            self._read_error_reported = True
            self.read_failed.emit(message)

    def _request_tiles(self, visible: list[TileKey]) -> None:
        missing = [k for k in visible if k not in self.cache]
        ring = [k for k in self.visible_tile_keys(margin=1) if k not in self.cache and k not in visible]
        self.loader.request(missing + ring)

    # ---- painting -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(event.rect(), BACKGROUND)
        if self._reader is None or self._layout is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a slide or image (Ctrl+O), or drop a file here"
            )
            painter.end()
            return
        t = self.transform
        area = self.visible_image_rect()
        level = self.current_level
        visible = self.visible_tile_keys()
        images = {k: self.cache.get(k) for k in visible}
        painter.fillRect(t.screen_rect(0, 0, *self._reader.dimensions), QColor(255, 255, 255))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if not images or any(img is None for img in images.values()):
            self._paint_placeholder(painter, area)  # also the final picture when the overview suffices
        for key, image in images.items():
            if image is not None:
                x, y, w, h = self._layout.image_rect(level, key.col, key.row)
                painter.drawImage(t.screen_rect(x, y, w, h), image)
        painter.save()
        painter.setClipRect(t.screen_rect(0, 0, *self._reader.dimensions), Qt.ClipOperation.IntersectClip)
        self.heatmap.paint(painter, t, area, self._hovered)  # edge tiles stop at the image's edge
        painter.restore()
        for paint_layer in self.overlay_painters:
            paint_layer(painter, t)
        mpp = self.pixel_size()
        if self.show_scale_bar and mpp:
            paint_scale_bar(painter, 12, self.height() - 12, mpp / t.scale)
        painter.end()
        self.paint_count += 1
        self._request_tiles(visible)
        self.frame_painted.emit(time.perf_counter())

    def _paint_placeholder(self, painter: QPainter, area: QRectF) -> None:
        """The visible part of the overview image, scaled: something to look at while tiles load."""
        if self._thumbnail is None or self._reader is None or area.isEmpty():
            return
        w, h = self._reader.dimensions
        sx, sy = self._thumbnail.width() / w, self._thumbnail.height() / h
        source = QRectF(area.x() * sx, area.y() * sy, area.width() * sx, area.height() * sy)
        target = self.transform.screen_rect(area.x(), area.y(), area.width(), area.height())
        painter.drawImage(QRectF(target), self._thumbnail, source)

    # ---- hover ----------------------------------------------------------------------------
    def hover_at(self, pos: QPointF | None, global_pos: QPoint | None = None) -> None:
        """Report the image point and heatmap tile under widget point ``pos`` (None: mouse left)."""
        if pos is None:
            self.cursor_moved.emit(None)
            self._set_hovered(None)
            return
        if self._reader is None:
            return
        x, y = self.transform.to_image(pos.x(), pos.y())
        w, h = self._reader.dimensions
        inside = 0 <= x < w and 0 <= y < h
        self.cursor_moved.emit((x, y) if inside else None)
        index = self.heatmap.tile_at(x, y) if inside else None
        self._set_hovered(index)
        if index is not None and self.heatmap.visible and global_pos is not None:
            QToolTip.showText(global_pos, tile_tooltip(self.heatmap.info(index)), self)
        else:
            QToolTip.hideText()

    def _set_hovered(self, index: int | None) -> None:
        if index != self._hovered:
            self._hovered = index
            self.tile_hovered.emit(index)
            self.update()

    @property
    def hovered_tile(self) -> int | None:
        return self._hovered

    # ---- geometry -------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        old = event.oldSize()
        if self._reader is not None and self._fit_mode:
            self._place_minimap()
            self.fit()
            return
        if self._reader is not None and old.width() > 0 and old.height() > 0:
            # Keep the image point at the centre where it was.
            dx = (self.width() - old.width()) / 2
            dy = (self.height() - old.height()) / 2
            self.transform.origin_x -= dx / self.transform.scale
            self.transform.origin_y -= dy / self.transform.scale
        self._place_minimap()
        self._view_changed()

    def set_minimap_enabled(self, on: bool) -> None:
        """Show the minimap whenever part of the image lies outside the view (or never)."""
        self._minimap_enabled = on
        self._update_minimap_visibility()

    @property
    def minimap_enabled(self) -> bool:
        return self._minimap_enabled

    def _update_minimap_visibility(self) -> None:
        whole = (
            self._reader is None or self.visible_image_rect().size() == QRectF(0, 0, *self._reader.dimensions).size()
        )
        self.minimap.setVisible(self._minimap_enabled and not whole)

    def _place_minimap(self) -> None:
        m = self.minimap
        m.resize(m.sizeHint())
        m.move(QRect(self.rect()).right() - m.width() - 10, 10)
