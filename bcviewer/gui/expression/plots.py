"""pyqtgraph plots of the expression tab: the top contributing genes, and one sample's z-score
profile against the training cohort's per-gene distribution (box 25-75 %, whiskers 5-95 %)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter

POSITIVE_BRUSH = (214, 96, 77)
NEGATIVE_BRUSH = (70, 130, 180)
SCORE_BRUSH = (96, 96, 160)
BOX_BRUSH = (180, 196, 222)
AXIS_COLOUR = (60, 60, 60)
MEDIAN_COLOUR = (40, 60, 110)
IMPUTED_COLOUR = (176, 96, 0)


def _tick_font() -> QFont:
    font = QFont()
    font.setPointSizeF(8.0)
    return font


def _style(plot: pg.PlotItem) -> None:
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(AXIS_COLOUR))
        axis.setTextPen(pg.mkPen(AXIS_COLOUR))
        axis.setStyle(tickFont=_tick_font())
        axis.enableAutoSIPrefix(False)
    plot.setMenuEnabled(False)
    plot.hideButtons()


class GeneAxis(pg.AxisItem):
    """Bottom axis naming one gene per integer position, written upright so that 80 names fit."""

    def __init__(self) -> None:
        super().__init__("bottom")
        self.genes: list[str] = []
        self.setStyle(autoExpandTextSpace=False, tickFont=_tick_font())

    def set_genes(self, genes: Sequence[str]) -> None:
        self.genes = [str(g) for g in genes]
        self.setTicks([[(i, "") for i in range(len(self.genes))], []])
        longest = max((QFontMetricsF(_tick_font()).horizontalAdvance(g) for g in self.genes), default=20.0)
        self.setHeight(int(longest) + abs(self.style["tickLength"]) + 10)
        self.picture = None
        self.update()

    def drawPicture(self, p: QPainter, axis_spec: tuple, tick_specs: list, text_specs: list) -> None:  # noqa: N802
        super().drawPicture(p, axis_spec, tick_specs, [])  # the names are drawn upright below
        view = self.linkedView()
        if view is None or not self.genes:
            return
        font = _tick_font()
        metrics = QFontMetricsF(font)
        p.setFont(font)
        p.setPen(self.textPen())
        bounds = self.boundingRect()
        top = bounds.top() + abs(self.style["tickLength"]) + 4
        def pixel(i: int) -> float:
            return self.mapFromScene(view.mapViewToScene(QPointF(i, 0))).x()

        spacing = abs(pixel(1) - pixel(0)) or 1.0
        step = max(1, math.ceil(metrics.height() / spacing))  # crowded: every step-th name; zoom in for all
        for i, gene in enumerate(self.genes):
            if i % step:
                continue
            x = pixel(i)
            if not bounds.left() <= x <= bounds.right():
                continue
            p.save()
            p.translate(x, top)
            p.rotate(-90)  # the name reads upwards and ends just below the axis, centred on its tick
            p.drawText(QPointF(-metrics.horizontalAdvance(gene), metrics.capHeight() / 2), gene)
            p.restore()


MIN_LABEL_PX = 9  # smallest gene-name font the bar chart draws, in pixels
ROW_GAP_PX = 2.0  # free pixels between the glyphs of two neighbouring names


class BarLabelAxis(pg.AxisItem):
    """Left axis naming one gene per bar. pyqtgraph would draw every name at a fixed size and
    let them overlap when the bars are packed (FOXA1 written over ESR1); this one shrinks the font
    to the row pitch (down to ``MIN_LABEL_PX``) and, below that, names every other bar."""

    def __init__(self) -> None:
        super().__init__("left")
        self.names: dict[float, str] = {}
        self.drawn: list[tuple[str, float]] = []  # (name, pixel size) of the last paint, for tests
        self.setStyle(tickFont=_tick_font())

    def set_names(self, names: dict[float, str]) -> None:
        self.names = dict(names)
        self.setTicks([[(y, "") for y in self.names], []])
        width = max((QFontMetricsF(_tick_font()).horizontalAdvance(n) for n in self.names.values()), default=20.0)
        self.setWidth(int(width) + abs(self.style["tickLength"]) + 12)
        self.picture = None
        self.update()

    def label_font(self) -> tuple[QFont, int]:
        """The largest font (down to ``MIN_LABEL_PX``) whose names fit the row pitch, and which bars
        get a name (every ``step``-th; 1 unless even the smallest font would overlap)."""
        font = _tick_font()
        view = self.linkedView()
        if view is None or len(self.names) < 2:
            return font, 1
        ys = sorted(self.names)
        pitch = abs(self.mapFromScene(view.mapViewToScene(QPointF(0, ys[1]))).y()
                    - self.mapFromScene(view.mapViewToScene(QPointF(0, ys[0]))).y())
        natural = max(int(QFontMetricsF(font).ascent()), MIN_LABEL_PX)
        needed = 0.0
        for px in range(natural, MIN_LABEL_PX - 1, -1):
            font.setPixelSize(px)
            metrics = QFontMetricsF(font)
            needed = max(metrics.tightBoundingRect(n).height() for n in self.names.values()) + ROW_GAP_PX
            if needed <= pitch:
                return font, 1
        return font, max(1, math.ceil(needed / max(pitch, 1e-6)))

    def drawPicture(self, p: QPainter, axis_spec: tuple, tick_specs: list, text_specs: list) -> None:  # noqa: N802
        super().drawPicture(p, axis_spec, tick_specs, [])  # the names are drawn below, sized to fit
        view = self.linkedView()
        self.drawn = []
        if view is None or not self.names:
            return
        font, step = self.label_font()
        metrics = QFontMetricsF(font)
        p.setFont(font)
        p.setPen(self.textPen())
        bounds = self.boundingRect()
        right = bounds.right() - abs(self.style["tickLength"]) - 4
        for k, (y, name) in enumerate(sorted(self.names.items(), reverse=True)):  # top bar first
            if k % step:
                continue
            centre = self.mapFromScene(view.mapViewToScene(QPointF(0, y))).y()
            if not bounds.top() <= centre <= bounds.bottom():
                continue
            p.drawText(QPointF(right - metrics.horizontalAdvance(name), centre + metrics.capHeight() / 2), name)
            self.drawn.append((name, float(font.pixelSize())))


class ContributionChart(pg.PlotWidget):
    """Horizontal bars, largest contribution at the top; signed values go left (blue) or right (red)."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        self.name_axis = BarLabelAxis()
        super().__init__(parent, background="w", axisItems={"left": self.name_axis})
        # room for 20 names at MIN_LABEL_PX (capitals: ~0.75 of the pixel size tall), title and bottom axis
        self.setMinimumHeight(int(20 * (0.75 * MIN_LABEL_PX + ROW_GAP_PX)) + 90)
        self.genes: list[str] = []
        self.values: np.ndarray = np.zeros(0)
        self.kind = ""
        self.bars: pg.BarGraphItem | None = None
        plot = self.getPlotItem()
        _style(plot)
        plot.showGrid(x=True, y=False, alpha=0.25)
        plot.setMouseEnabled(x=False, y=False)
        self.zero_line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(AXIS_COLOUR, width=1))
        self.clear_chart()

    def clear_chart(self, title: str = "Gene contributions") -> None:
        plot = self.getPlotItem()
        plot.clear()
        self.bars, self.genes, self.values, self.kind = None, [], np.zeros(0), ""
        plot.setTitle(title, size="10pt", color="#333")
        self.name_axis.set_names({})

    def show_contributions(self, genes: Sequence[str], values: Sequence[float], kind: str, title: str) -> None:
        """``genes`` largest first; ``kind`` names the values (gene score, input x gradient)."""
        self.clear_chart(title)
        self.genes, self.values, self.kind = [str(g) for g in genes], np.asarray(values, dtype=float), kind
        n = len(self.genes)
        if n == 0:
            return
        y = np.arange(n)[::-1].astype(float)  # the first gene on top
        signed = bool((self.values < 0).any())
        brushes = [pg.mkBrush(*(NEGATIVE_BRUSH if v < 0 else POSITIVE_BRUSH if signed else SCORE_BRUSH))
                   for v in self.values]
        self.bars = pg.BarGraphItem(x0=np.minimum(self.values, 0), y=y, width=np.abs(self.values), height=0.7,
                                    brushes=brushes, pen=pg.mkPen(None))
        plot = self.getPlotItem()
        plot.addItem(self.bars)
        plot.addItem(self.zero_line)
        self.name_axis.set_names({float(yy): g for yy, g in zip(y, self.genes)})
        plot.getAxis("bottom").setLabel(kind, color="#333")
        low, high = min(0.0, float(self.values.min())), max(0.0, float(self.values.max()))
        pad = 0.05 * (high - low or 1.0)
        plot.setXRange(low - pad, high + pad, padding=0)
        plot.setYRange(-0.6, n - 0.4, padding=0)


TRAINING_Z = "z-score vs training cohort"


class ProfilePlot(pg.PlotWidget):
    """A sample's z-score per gene over box plots of the training cohort's z-scores."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        self.gene_axis = GeneAxis()
        super().__init__(parent, background="w", axisItems={"bottom": self.gene_axis})
        self.genes: list[str] = []
        self.sample_z: np.ndarray = np.zeros(0)
        self.imputed: list[str] = []
        plot = self.getPlotItem()
        _style(plot)
        self.gene_axis.setStyle(tickFont=_tick_font())
        plot.setMouseEnabled(x=True, y=False)
        plot.getAxis("left").setLabel(TRAINING_Z, color="#333")
        plot.showGrid(x=False, y=True, alpha=0.2)
        self.clear_profile()

    def clear_profile(self, title: str = "Expression profile") -> None:
        plot = self.getPlotItem()
        plot.clear()
        self.genes, self.sample_z, self.imputed = [], np.zeros(0), []
        self.gene_axis.set_genes([])
        plot.setTitle(title, size="10pt", color="#333")

    def show_profile(self, genes: Sequence[str], sample_z: Sequence[float], reference: np.ndarray,
                     imputed: Sequence[str], title: str, axis_label: str | None = None) -> None:
        """``reference``: 5 x genes z-scores of the training quantiles 5/25/50/75/95 %.
        ``axis_label``: the scale of ``sample_z`` when it is not the training cohort's z-scores.

        Genes whose value is missing (NaN in ``sample_z``) and listed in ``imputed`` are drawn as a
        grey cross at the training median, which is the value the model was given.
        """
        self.clear_profile(title)
        self.getPlotItem().getAxis("left").setLabel(axis_label or TRAINING_Z, color="#333")
        self.genes = [str(g) for g in genes]
        self.sample_z = np.asarray(sample_z, dtype=float)
        self.imputed = [g for g in imputed if g in self.genes]
        n = len(self.genes)
        x = np.arange(n, dtype=float)
        q05, q25, q50, q75, q95 = np.asarray(reference, dtype=float)
        plot = self.getPlotItem()
        box_pen = pg.mkPen((120, 140, 170))
        plot.addItem(pg.ErrorBarItem(x=x, y=q50, top=q95 - q50, bottom=q50 - q05, beam=0.25, pen=box_pen))
        plot.addItem(pg.BarGraphItem(x=x, y0=q25, height=q75 - q25, width=0.6, brush=pg.mkBrush(*BOX_BRUSH),
                                     pen=box_pen))
        medians = np.column_stack([x - 0.3, x + 0.3]).ravel()
        median_pen = pg.mkPen(MEDIAN_COLOUR, width=2)
        plot.addItem(pg.PlotCurveItem(medians, np.repeat(q50, 2), connect="pairs", pen=median_pen))
        plot.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine)))
        measured = np.flatnonzero(np.isfinite(self.sample_z))
        plot.addItem(pg.PlotDataItem(x, self.sample_z, connect="finite", pen=pg.mkPen(POSITIVE_BRUSH, width=1.2)))
        plot.addItem(pg.ScatterPlotItem(
            x[measured], self.sample_z[measured], size=7, brush=pg.mkBrush(*POSITIVE_BRUSH), pen=pg.mkPen("w"),
            hoverable=True, data=[self.genes[i] for i in measured], tip=lambda x, y, data: f"{data}: z = {y:.2f}"))
        at = [self.genes.index(g) for g in self.imputed]
        if at:
            grey = pg.mkPen(IMPUTED_COLOUR)
            plot.addItem(pg.ScatterPlotItem(
                x[at], q50[at], size=12, symbol="x", brush=pg.mkBrush(*IMPUTED_COLOUR), pen=grey, hoverable=True,
                data=[self.genes[i] for i in at], tip=lambda x, y, data: f"{data}: not measured, training median"))
        self.gene_axis.set_genes(self.genes)
        finite = np.concatenate([q05, q95, self.sample_z[measured]])
        plot.setXRange(-0.7, n - 0.3, padding=0)
        plot.setYRange(float(finite.min()) - 0.3, float(finite.max()) + 0.3, padding=0)
