"""``RegionsPanel``: the region list of the open slide, the drawing tools and "Analyse inside".

One row per region: name and class (editable), area in mm², tiles scored, max p and its verdict
(the slide's rule over the region's tiles; "no verdict" without scored tissue); below, the
selected region's full measurements: its verdict with the rule, value and interval, area and
tissue in mm², tiles scored, mean and max p, and the % of its scored tissue at or above the threshold. The panel only shows and asks; the regions
controller changes the regions (with undo) and measures them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.slide.verdict_text import verdict_detail, verdict_html, verdict_short
from bcviewer.regions import Region, RegionStats

COLUMNS = ("Name", "Class", "mm²", "Tiles", "Max p", "Verdict")
TOOL_LABELS = {"rectangle": "Rectangle", "polygon": "Polygon", "freehand": "Freehand"}


def _cell(value: float | int | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def details_text(stats: RegionStats) -> str:
    """The selected region's measurements, one per line."""
    area = "unknown (no pixel size)" if stats.area_mm2 is None else f"{stats.area_mm2:.4f} mm²"
    tissue = "unknown" if stats.tissue_mm2 is None else f"{stats.tissue_mm2:.4f} mm²"
    return (f"<b>{stats.region}</b> ({stats.classification}): <b>{verdict_html(stats.verdict)}</b><br>"
            f"{verdict_detail(stats.verdict)}<br>area {area} · tissue {tissue}<br>"
            f"{stats.tiles_scored} tiles scored · mean p {_cell(stats.mean_p, 3)} · max p {_cell(stats.max_p, 3)}"
            f"<br>{_cell(stats.pct_tissue_above, 1)}% of the scored tissue at or above the threshold")


class RegionsPanel(QWidget):
    """See the module docstring."""

    tool_requested = Signal(str)  # "rectangle", "polygon", "freehand" or "none"
    selection_changed = Signal(object)  # row index or None
    renamed = Signal(int, str)
    reclassed = Signal(int, str)
    analyse_requested = Signal()
    delete_requested = Signal()
    import_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        tools = QHBoxLayout()
        self.tool_buttons: dict[str, QToolButton] = {}
        self._group = QButtonGroup(self)
        self._group.setExclusive(False)
        for name, label in TOOL_LABELS.items():
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setToolTip(f"Draw a {label.lower()} region on the slide (Esc stops)")
            button.toggled.connect(lambda on, n=name: self._on_tool(n, on))
            self.tool_buttons[name] = button
            tools.addWidget(button)
        tools.addStretch(1)
        layout.addLayout(tools)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.table, 1)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        layout.addWidget(self.details)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b35900;")
        layout.addWidget(self.note)
        buttons = QGridLayout()
        self.analyse_button = QPushButton("Analyse inside")
        self.analyse_button.setToolTip("Score only the tiles whose centre lies inside the regions")
        self.delete_button = QPushButton("Delete")
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        for i, push in enumerate((self.analyse_button, self.delete_button, self.undo_button, self.import_button,
                                  self.export_button, self.redo_button)):
            buttons.addWidget(push, i // 3, i % 3)
        layout.addLayout(buttons)
        self.analyse_button.clicked.connect(self.analyse_requested)
        self.delete_button.clicked.connect(self.delete_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.export_button.clicked.connect(self.export_requested)
        self._filling = False
        self.show_regions([], {})

    def _on_tool(self, name: str, on: bool) -> None:
        if on:
            for other, button in self.tool_buttons.items():
                if other != name:
                    button.blockSignals(True)
                    button.setChecked(False)
                    button.blockSignals(False)
        self.tool_requested.emit(name if on else "none")

    def show_tool(self, tool: str) -> None:
        """Reflect the tool in use (drawing stops on Esc or when a region is finished)."""
        for name, button in self.tool_buttons.items():
            button.blockSignals(True)
            button.setChecked(name == tool)
            button.blockSignals(False)

    def show_regions(self, regions: Sequence[Region], stats: dict[int, RegionStats], selected: int | None = None,
                     note: str = "") -> None:
        """One row per region, with its measurements when there are any."""
        self._filling = True
        self.table.setRowCount(len(regions))
        for row, region in enumerate(regions):
            found = stats.get(row)
            values = [region.name, region.classification] + (
                [_cell(found.area_mm2, 4), _cell(found.tiles_scored, 0), _cell(found.max_p, 3),
                 verdict_short(found.verdict)]
                if found is not None else ["–"] * 4)
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col == len(COLUMNS) - 1 and found is not None:
                    item.setToolTip(found.verdict.text)  # the words of regions.csv
                if col >= 2:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if selected is not None and selected < len(regions):
            self.table.selectRow(selected)
        else:
            self.table.clearSelection()
        self._filling = False
        chosen = stats.get(selected) if selected is not None else None
        self.details.setText(details_text(chosen) if chosen is not None else (
            "Select a region to see its measurements." if regions else
            "Draw a region with a tool above, or import QuPath annotations."))
        self.note.setText(note)
        self.analyse_button.setEnabled(bool(regions))
        self.delete_button.setEnabled(selected is not None)
        self.export_button.setEnabled(bool(regions))

    def _on_selection(self) -> None:
        if self._filling:
            return
        rows = self.table.selectionModel().selectedRows()
        self.selection_changed.emit(rows[0].row() if rows else None)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() > 1:
            return
        text = item.text().strip()
        if text:
            (self.renamed if item.column() == 0 else self.reclassed).emit(item.row(), text)
