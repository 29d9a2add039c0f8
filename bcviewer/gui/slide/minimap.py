"""``Minimap``: the whole slide's thumbnail with the viewport rectangle; click or drag to navigate."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

MINIMAP_SIDE = 180


class Minimap(QWidget):
    """Shows ``thumbnail`` fitted in a small box and the level-0 ``viewport`` on it."""

    navigate_requested = Signal(float, float)  # level-0 point to centre the view on

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnail: QImage | None = None
        self._image_size = (1, 1)
        self._viewport = QRectF()
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.hide()

    def set_image(self, thumbnail: QImage | None, image_size: tuple[int, int]) -> None:
        """The thumbnail to show and the level-0 size it stands for."""
        self._thumbnail = thumbnail
        self._image_size = (max(1, image_size[0]), max(1, image_size[1]))
        self.resize(self.sizeHint())
        self.update()

    def set_viewport(self, rect: QRectF) -> None:
        """The level-0 rectangle the main view shows."""
        if rect != self._viewport:
            self._viewport = QRectF(rect)
            self.update()

    @property
    def viewport(self) -> QRectF:
        return QRectF(self._viewport)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        w, h = self._image_size
        s = MINIMAP_SIDE / max(w, h)
        return QSize(max(24, round(w * s)) + 4, max(24, round(h * s)) + 4)

    def _scale(self) -> float:
        w, h = self._image_size
        return min((self.width() - 4) / w, (self.height() - 4) / h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 40, 40, 220))
        s = self._scale()
        w, h = self._image_size
        target = QRectF(2, 2, w * s, h * s)
        if self._thumbnail is not None and not self._thumbnail.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._thumbnail)
        if not self._viewport.isEmpty():
            vp = QRectF(
                2 + self._viewport.x() * s,
                2 + self._viewport.y() * s,
                self._viewport.width() * s,
                self._viewport.height() * s,
            ).intersected(target)
            painter.setPen(QPen(QColor(230, 40, 40), 2))
            painter.drawRect(vp.adjusted(1, 1, -1, -1) if vp.width() > 3 and vp.height() > 3 else vp)
        painter.end()

    def _navigate(self, pos: QPointF) -> None:
        s = self._scale()
        w, h = self._image_size
        x = min(max((pos.x() - 2) / s, 0.0), float(w))
        y = min(max((pos.y() - 2) / s, 0.0), float(h))
        self.navigate_requested.emit(x, y)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton:
            self._navigate(event.position())
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._navigate(event.position())
            event.accept()
