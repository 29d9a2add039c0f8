"""``ViewNavigator``: mouse and keyboard navigation of a :class:`SlideView`.

Wheel zooms smoothly about the cursor, a left-button drag pans, a double click zooms in, arrow
keys pan; every mouse move reports the hovered point to the view.
"""

from __future__ import annotations

from typing import Protocol, cast

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QWidget

WHEEL_STEP = 1.25  # zoom factor per wheel notch
DOUBLE_CLICK_ZOOM = 2.0
ARROW_STEP_PX = 80
_ARROWS: dict[int, tuple[int, int]] = {  # Qt.Key is an IntEnum; QKeyEvent.key() returns a plain int
    Qt.Key.Key_Left: (ARROW_STEP_PX, 0),
    Qt.Key.Key_Right: (-ARROW_STEP_PX, 0),
    Qt.Key.Key_Up: (0, ARROW_STEP_PX),
    Qt.Key.Key_Down: (0, -ARROW_STEP_PX),
}


class NavigableView(Protocol):
    """What the navigator drives (the slide view imports this module, so it is described here)."""

    def zoom_by(self, factor: float, anchor: QPointF | None = None, animate: bool = False) -> None: ...
    def pan_by(self, dx: float, dy: float) -> None: ...
    def hover_at(self, pos: QPointF | None, global_pos: QPoint | None = None) -> None: ...
    def setCursor(self, cursor: Qt.CursorShape) -> None: ...  # noqa: N802 (Qt API)
    def unsetCursor(self) -> None: ...  # noqa: N802 (Qt API)


class ViewNavigator(QObject):
    """An event filter installed on the view it navigates."""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self.view = cast(NavigableView, view)
        self._drag_from: QPointF | None = None
        view.installEventFilter(self)

    @property
    def dragging(self) -> bool:
        return self._drag_from is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is not self.view:
            return False
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            return self._wheel(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonPress:
            return self._press(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonRelease:
            return self._release(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseMove:
            return self._move(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonDblClick:
            self.view.zoom_by(DOUBLE_CLICK_ZOOM, cast(QMouseEvent, event).position(), animate=True)
            return True
        if kind == QEvent.Type.Leave:
            self.view.hover_at(None)
            return False
        if kind == QEvent.Type.KeyPress:
            key = cast(QKeyEvent, event).key()
            if key in _ARROWS:
                self.view.pan_by(*_ARROWS[key])
                return True
        return False

    def _wheel(self, event: QWheelEvent) -> bool:
        steps = event.angleDelta().y() / 120.0
        if steps == 0 and not event.pixelDelta().isNull():
            steps = event.pixelDelta().y() / 60.0  # touchpads report pixels, not notches
        if steps:
            self.view.zoom_by(WHEEL_STEP**steps, event.position(), animate=True)
        return True

    def _press(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self._drag_from = event.position()
        self.view.setCursor(Qt.CursorShape.ClosedHandCursor)
        return True

    def _release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self._drag_from = None
        self.view.unsetCursor()
        return True

    def _move(self, event: QMouseEvent) -> bool:
        pos = event.position()
        if self._drag_from is not None:
            delta = pos - self._drag_from
            self._drag_from = pos
            self.view.pan_by(delta.x(), delta.y())
        self.view.hover_at(pos, event.globalPosition().toPoint())
        return self._drag_from is not None
