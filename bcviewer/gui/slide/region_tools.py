"""``RegionTool``: drawing and editing regions with the mouse on the slide view.

* **Rectangle**: press, drag, release.
* **Polygon**: a click per vertex; double-click, Enter or a click on the first vertex closes it.
* **Freehand**: press and draw; release closes it (simplified to a pixel on screen).
* With no tool, dragging a handle of the selected region moves that vertex; a click inside a
  region selects it. Esc drops the region being drawn. Everything else goes on to the
  navigator (pan and zoom), which sees events after this filter.
"""

from __future__ import annotations

from typing import Literal, cast

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QWidget
from shapely.geometry import MultiPolygon, Point, Polygon, box

from bcviewer.gui.slide.regions_layer import HANDLE_PX, RegionLayer, vertex_at, vertices_of, with_vertex
from bcviewer.gui.slide.view_geometry import ViewTransform

ToolName = Literal["none", "rectangle", "polygon", "freehand"]
TOOLS: tuple[ToolName, ...] = ("rectangle", "polygon", "freehand")
MIN_SIDE_PX = 4  # a smaller drag is a click, not a region
CLOSE_PX = 8  # a polygon click this close to the first vertex closes it


class RegionTool(QObject):
    """An event filter on the view (see the module docstring); it only reports what was drawn."""

    drawn = Signal(object)  # a new shapely Polygon (slide frame)
    reshaped = Signal(int, object)  # region index, its new shape after a vertex drag
    selected = Signal(object)  # the region index clicked, or None
    tool_changed = Signal(str)

    def __init__(self, view: QWidget, layer: RegionLayer, transform: ViewTransform) -> None:
        super().__init__(view)
        self._view, self._layer, self._t = view, layer, transform
        self.tool: ToolName = "none"
        self._dragging: tuple[int, tuple[int, int, int]] | None = None  # region, vertex
        self._pressed = False
        view.installEventFilter(self)

    def set_tool(self, tool: ToolName) -> None:
        """Draw with ``tool`` from the next click ("none": navigate and edit)."""
        self._drop_draft()
        self.tool = tool
        if tool == "none":
            self._view.unsetCursor()
        else:
            self._view.setCursor(Qt.CursorShape.CrossCursor)
        self.tool_changed.emit(tool)

    def _image(self, pos: QPointF) -> tuple[float, float]:
        return self._t.to_image(pos.x(), pos.y())

    def _drop_draft(self) -> None:
        self._layer.draft, self._layer.draft_closed, self._pressed = [], False, False
        self._view.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is not self._view:
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress:
            return self._key(cast(QKeyEvent, event))
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease,
                        QEvent.Type.MouseButtonDblClick):
            return False
        mouse = cast(QMouseEvent, event)
        if self.tool == "none":
            return self._edit(kind, mouse)
        if kind == QEvent.Type.MouseButtonDblClick:
            if self.tool == "polygon":
                self._finish_polygon()
            return True
        if mouse.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton):
            return False
        return {"rectangle": self._rectangle, "polygon": self._polygon, "freehand": self._freehand}[self.tool](
            kind, mouse.position())

    # ---- drawing -------------------------------------------------------------------------
    def _rectangle(self, kind: QEvent.Type, pos: QPointF) -> bool:
        x, y = self._image(pos)
        if kind == QEvent.Type.MouseButtonPress:
            self._pressed, self._layer.draft, self._layer.draft_closed = True, [(x, y)], True
        elif self._pressed and kind in (QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            x0, y0 = self._layer.draft[0]
            self._layer.draft = [(x0, y0), (x, y0), (x, y), (x0, y)]
            if kind == QEvent.Type.MouseButtonRelease:
                self._pressed = False
                side = min(abs(x - x0), abs(y - y0)) * self._t.scale
                shape = box(min(x0, x), min(y0, y), max(x0, x), max(y0, y))
                self._drop_draft()
                if side >= MIN_SIDE_PX:
                    self.drawn.emit(shape)
        self._view.update()
        return kind != QEvent.Type.MouseMove or self._pressed

    def _polygon(self, kind: QEvent.Type, pos: QPointF) -> bool:
        if kind != QEvent.Type.MouseButtonPress:
            return kind == QEvent.Type.MouseButtonRelease
        draft = self._layer.draft
        if len(draft) >= 3:
            first = self._t.to_screen(*draft[0])
            if abs(first.x() - pos.x()) <= CLOSE_PX and abs(first.y() - pos.y()) <= CLOSE_PX:
                self._finish_polygon()
                return True
        draft.append(self._image(pos))
        self._view.update()
        return True

    def _finish_polygon(self) -> None:
        points = _distinct(self._layer.draft)
        self._drop_draft()
        if len(points) >= 3:
            shape = Polygon(points)
            if shape.is_valid and shape.area * self._t.scale**2 >= MIN_SIDE_PX**2:
                self.drawn.emit(shape)

    def _freehand(self, kind: QEvent.Type, pos: QPointF) -> bool:
        if kind == QEvent.Type.MouseButtonPress:
            self._pressed, self._layer.draft, self._layer.draft_closed = True, [self._image(pos)], False
        elif self._pressed and kind == QEvent.Type.MouseMove:
            last = self._t.to_screen(*self._layer.draft[-1])
            if abs(last.x() - pos.x()) + abs(last.y() - pos.y()) >= 2:
                self._layer.draft.append(self._image(pos))
        elif self._pressed and kind == QEvent.Type.MouseButtonRelease:
            points = _distinct(self._layer.draft)
            self._drop_draft()
            if len(points) >= 3:
                # A stroke that crosses itself is cut at the crossings; the largest piece is kept.
                shape = Polygon(points).buffer(0).simplify(1.0 / self._t.scale)
                if isinstance(shape, MultiPolygon):
                    shape = max(shape.geoms, key=lambda g: g.area)
                if isinstance(shape, Polygon) and shape.area * self._t.scale**2 >= MIN_SIDE_PX**2:
                    self.drawn.emit(shape)
        self._view.update()
        return kind != QEvent.Type.MouseMove or self._pressed

    def _key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and (self._layer.draft or self.tool != "none"):
            self.set_tool("none")
            return True
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self._finish_polygon()
            return True
        return False

    # ---- editing -------------------------------------------------------------------------
    def _edit(self, kind: QEvent.Type, mouse: QMouseEvent) -> bool:
        pos = mouse.position()
        if kind == QEvent.Type.MouseButtonPress and mouse.button() == Qt.MouseButton.LeftButton:
            handle = self._handle_at(pos)
            if handle is not None:
                self._dragging = handle
                return True
            x, y = self._image(pos)
            hit = next((i for i in reversed(range(len(self._layer.regions)))
                        if self._layer.regions[i].shape.covers(Point(x, y))), None)
            if hit is not None or self._layer.selected is not None:
                self.selected.emit(hit)
            return False  # a click also starts a pan
        if self._dragging is None:
            return False
        index, where = self._dragging
        shape = with_vertex(self._layer.regions[index].shape, where, *self._image(pos))
        if kind == QEvent.Type.MouseMove:
            outline = shape.exterior.coords if isinstance(shape, Polygon) else shape.geoms[where[0]].exterior.coords
            self._layer.draft = [(float(x), float(y)) for x, y in list(outline)[:-1]]
            self._layer.draft_closed = True
            self._view.update()
        elif kind == QEvent.Type.MouseButtonRelease:
            self._dragging = None
            self._drop_draft()
            if shape.is_valid:
                self.reshaped.emit(index, shape)
        return True

    def _handle_at(self, pos: QPointF) -> tuple[int, tuple[int, int, int]] | None:
        index = self._layer.selected
        if index is None or index >= len(self._layer.regions):
            return None
        shape = self._layer.regions[index].shape
        for where in vertices_of(shape):
            centre = self._t.to_screen(*vertex_at(shape, where))
            if abs(centre.x() - pos.x()) <= HANDLE_PX + 2 and abs(centre.y() - pos.y()) <= HANDLE_PX + 2:
                return index, where
        return None


def _distinct(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points without consecutive repeats (a double-click adds its position twice)."""
    out: list[tuple[float, float]] = []
    for point in points:
        if not out or point != out[-1]:
            out.append(point)
    return out
