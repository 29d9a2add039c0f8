"""``RulerTool``: measure a distance on the slide by dragging a line.

While the tool is on, a left-button drag draws a line between two level-0 points and labels it
with its length: µm, or mm from 1 mm on, from the pixel size in use (the file's, else the one the
user entered). Without a pixel size it says so and gives pixels, never a guess. The line stays
until the next drag; Esc clears it and puts the ruler away. Wheel zoom keeps working while it is on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from bcviewer.gui.slide.view_geometry import ViewTransform

LINE = QColor(0, 229, 255)
SHADOW = QColor(0, 0, 0, 190)
LABEL_BACKGROUND = QColor(20, 22, 26, 215)
TICK_PX = 7


def length_text(length_px: float, mpp: float | None) -> str:
    """"312.4 µm", "1.25 mm" from 1 mm on, or "pixel size unknown: 626 px" without a pixel size."""
    if not mpp:
        return f"pixel size unknown: {length_px:.0f} px"
    um = length_px * mpp
    return f"{um / 1000:.2f} mm" if um >= 1000 else f"{um:.1f} µm"


class RulerTool(QObject):
    """An event filter on the view (installed after the region tools, so it sees events first)."""

    measured = Signal(str)  # the status-bar line of a line drawn
    active_changed = Signal(bool)

    def __init__(self, view: QWidget, transform: ViewTransform, pixel_size: Callable[[], float | None]) -> None:
        super().__init__(view)
        self._view, self._t, self._pixel_size = view, transform, pixel_size
        self.active = False
        self.start: tuple[float, float] | None = None  # level-0 ends of the line
        self.end: tuple[float, float] | None = None
        self._dragging = False
        view.installEventFilter(self)

    # ---- state ---------------------------------------------------------------------------
    def set_active(self, on: bool) -> None:
        """Measure with the next drag (True), or navigate again (False; the line stays)."""
        if on == self.active:
            return
        self.active, self._dragging = on, False
        if on:
            self._view.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self._view.unsetCursor()
        self.active_changed.emit(on)

    def clear(self) -> None:
        self.start = self.end = None
        self._dragging = False
        self._view.update()

    @property
    def length_px(self) -> float | None:
        """The line's length in level-0 pixels, None without a line."""
        if self.start is None or self.end is None:
            return None
        return math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])

    def text(self) -> str | None:
        """The label of the line (see :func:`length_text`), None without a line."""
        length = self.length_px
        return None if length is None else length_text(length, self._pixel_size())

    def status_text(self) -> str | None:
        """The label with the pixels and the pixel size it came from, for the status bar."""
        length, mpp = self.length_px, self._pixel_size()
        if length is None:
            return None
        if not mpp:
            return (f"Ruler: {length_text(length, None)}; set it in Analysis > Pixel size to "
                    "measure in µm")
        return f"Ruler: {length_text(length, mpp)} ({length:.0f} px at {mpp:.4g} µm/px)"

    # ---- events --------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is not self._view:
            return False
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            if cast(QKeyEvent, event).key() != Qt.Key.Key_Escape or not (self.active or self.start is not None):
                return False
            if kind == QEvent.Type.ShortcutOverride:
                event.accept()  # Esc is Cancel analysis's shortcut too: here it is the ruler's
                return True
            self.clear()
            self.set_active(False)
            return True
        if not self.active:
            return False
        if kind == QEvent.Type.MouseButtonDblClick:
            return True  # no zoom-in while measuring
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            return False
        mouse = cast(QMouseEvent, event)
        pos = mouse.position()
        point = self._t.to_image(pos.x(), pos.y())
        if kind == QEvent.Type.MouseButtonPress:
            if mouse.button() != Qt.MouseButton.LeftButton:
                return False
            self.start, self.end, self._dragging = point, point, True
        elif not self._dragging:
            return False  # hovering: the navigator reports the point and the tile
        else:
            self.end = point
            if kind == QEvent.Type.MouseButtonRelease:
                self._dragging = False
                text = self.status_text()
                if text:
                    self.measured.emit(text)
        self._view.update()
        return True

    # ---- painting ------------------------------------------------------------------------
    def paint(self, painter: QPainter, transform: ViewTransform) -> None:
        """The line with end ticks, and its length on a dark label beside its middle."""
        if self.start is None or self.end is None:
            return
        a, b = transform.to_screen(*self.start), transform.to_screen(*self.end)
        dx, dy = b.x() - a.x(), b.y() - a.y()
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * TICK_PX, dx / norm * TICK_PX  # perpendicular, for the end ticks
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for pen in (QPen(SHADOW, 5), QPen(LINE, 2)):
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            painter.drawLine(a, b)
            for end in (a, b):
                painter.drawLine(QPointF(end.x() - nx, end.y() - ny), QPointF(end.x() + nx, end.y() + ny))
        text = self.text() or ""
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = QRectF(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
        box.moveCenter(QPointF((a.x() + b.x()) / 2 + nx * 3, (a.y() + b.y()) / 2 + ny * 3))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LABEL_BACKGROUND)
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
