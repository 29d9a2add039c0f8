"""``RegionLayer``: the regions of interest drawn over the slide, the one being drawn, and the
selected region's vertices (handles to drag). Coordinates are the slide's level-0 pixels."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from shapely.geometry import MultiPolygon, Polygon

from bcviewer.gui.slide.view_geometry import ViewTransform
from bcviewer.regions import Region

OUTLINE = QColor(255, 214, 0)  # yellow reads on H&E pink and purple, and on the heatmap's colours
SELECTED = QColor(0, 200, 255)
DRAFT = QColor(255, 255, 255)
HANDLE_PX = 5  # half the side of a vertex handle, in screen pixels


def polygons_of(shape: Polygon | MultiPolygon) -> list[Polygon]:
    """The polygons of a region's shape, one or many."""
    return [shape] if isinstance(shape, Polygon) else list(shape.geoms)


def shape_path(shape: Polygon | MultiPolygon, t: ViewTransform) -> QPainterPath:
    """The region's outline on screen, holes included (odd-even fill)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for polygon in polygons_of(shape):
        for ring in [polygon.exterior, *polygon.interiors]:
            points = [t.to_screen(x, y) for x, y in ring.coords]
            path.moveTo(points[0])
            for point in points[1:]:
                path.lineTo(point)
            path.closeSubpath()
    return path


def vertices_of(shape: Polygon | MultiPolygon) -> list[tuple[int, int, int]]:
    """(polygon, ring, index) of every vertex a user may drag (the closing repeat left out)."""
    found = []
    for p, polygon in enumerate(polygons_of(shape)):
        for r, ring in enumerate([polygon.exterior, *polygon.interiors]):
            found += [(p, r, i) for i in range(len(ring.coords) - 1)]
    return found


def vertex_at(shape: Polygon | MultiPolygon, where: tuple[int, int, int]) -> tuple[float, float]:
    p, r, i = where
    polygon = polygons_of(shape)[p]
    x, y = [polygon.exterior, *polygon.interiors][r].coords[i]
    return float(x), float(y)


def with_vertex(shape: Polygon | MultiPolygon, where: tuple[int, int, int], x: float, y: float
                ) -> Polygon | MultiPolygon:
    """``shape`` with one vertex moved (its ring's closing point follows when it is the first)."""
    p, r, i = where
    polygons = polygons_of(shape)
    rings = [list(polygons[p].exterior.coords), *[list(h.coords) for h in polygons[p].interiors]]
    ring = rings[r]
    ring[i] = (x, y)
    if i == 0:
        ring[-1] = (x, y)
    polygons[p] = Polygon(rings[0], rings[1:])
    return polygons[0] if isinstance(shape, Polygon) else MultiPolygon(polygons)


class RegionLayer:
    """What is painted: the regions, the selection and the draft (see the module docstring)."""

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self.selected: int | None = None
        self.draft: list[tuple[float, float]] = []  # vertices of the region being drawn
        self.draft_closed = False  # a rectangle's draft is a closed box; a polygon's is open
        self.visible = True

    def paint(self, painter: QPainter, t: ViewTransform) -> None:
        if not self.visible:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for index, region in enumerate(self.regions):
            chosen = index == self.selected
            colour = SELECTED if chosen else OUTLINE
            fill = QColor(colour)
            fill.setAlpha(40 if chosen else 18)
            painter.setPen(QPen(colour, 2.5 if chosen else 2.0))
            painter.setBrush(QBrush(fill))
            path = shape_path(region.shape, t)
            painter.drawPath(path)
            painter.setPen(QPen(colour))
            painter.drawText(path.boundingRect().topLeft() + QPointF(4, -4), region.name)
            if chosen:
                self._paint_handles(painter, region, t)
        if self.draft:
            painter.setPen(QPen(DRAFT, 2.0, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            points = [t.to_screen(x, y) for x, y in self.draft]
            path = QPainterPath(points[0])
            for point in points[1:]:
                path.lineTo(point)
            if self.draft_closed:
                path.closeSubpath()
            painter.drawPath(path)
        painter.restore()

    def _paint_handles(self, painter: QPainter, region: Region, t: ViewTransform) -> None:
        painter.setPen(QPen(QColor(0, 0, 0), 1.0))
        painter.setBrush(QBrush(SELECTED))
        for where in vertices_of(region.shape):
            centre = t.to_screen(*vertex_at(region.shape, where))
            painter.drawRect(int(centre.x()) - HANDLE_PX, int(centre.y()) - HANDLE_PX, 2 * HANDLE_PX, 2 * HANDLE_PX)
