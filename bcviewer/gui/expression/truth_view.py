"""``TruthView``: the chosen model's predictions against a truth column of the table.

A combo ("Compare with column…") offers the table's two-valued columns that are not genes; with
one chosen and a run done, it shows the AUC, the ROC curve and the confusion table that
:func:`bcviewer.genes.truth.compare_with_truth` computes. Nothing is computed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bcviewer.errors import BcviewerError
from bcviewer.gui.expression.plots import POSITIVE_BRUSH, _style

if TYPE_CHECKING:
    from bcviewer.genes.io import ExpressionTable
    from bcviewer.genes.truth import TruthComparison
    from bcviewer.gui.expression.worker import ModelOutcome

NO_COLUMN = "Compare with column…"


def stacked_under(table: QWidget, truth: TruthView) -> QSplitter:
    """``table`` above ``truth`` in a vertical splitter that gives the comparison room for its ROC curve."""
    splitter = QSplitter(Qt.Orientation.Vertical)
    splitter.addWidget(table)
    splitter.addWidget(truth)
    splitter.setStretchFactor(0, 3)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([560, 280])
    return splitter


class TruthView(QWidget):
    """Combo, summary line, ROC curve and confusion table (hidden until a column is chosen)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column = QComboBox()
        self.column.setToolTip("A column of the table that holds the known answer (two values, e.g. label or "
                               "fac_er_positive): the chosen model's AUC, ROC curve and confusion table against it")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.roc = pg.PlotWidget(background="w")
        plot = self.roc.getPlotItem()
        _style(plot)
        plot.setMouseEnabled(x=False, y=False)
        plot.setLabel("bottom", "false positive rate", color="#333")
        plot.setLabel("left", "true positive rate", color="#333")
        plot.setXRange(0, 1, padding=0.02)
        plot.setYRange(0, 1, padding=0.02)
        self.roc.setMinimumSize(180, 200)
        self.confusion = QTableWidget(2, 2)
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.setToolTip("Samples by truth (rows) and the model's call (columns)")
        self.results = QSplitter(Qt.Orientation.Horizontal)
        self.results.addWidget(self.roc)
        self.results.addWidget(self.confusion)
        row = QHBoxLayout()
        row.addWidget(self.column)
        row.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.results, 1)
        self.table: ExpressionTable | None = None
        self.outcome: ModelOutcome | None = None
        self.comparison: TruthComparison | None = None
        self._shown: tuple[object, ...] | None = None
        self.column.currentIndexChanged.connect(lambda _i: self._refresh())
        self.set_table(None)

    def set_table(self, table: ExpressionTable | None) -> None:
        """Offer ``table``'s truth candidates (none: the view hides)."""
        from bcviewer.genes.truth import (
            truth_candidates,  # pandas only; not at tab start
        )

        self.table, self.outcome = table, None
        candidates = truth_candidates(table) if table is not None else []
        self.column.blockSignals(True)
        self.column.clear()
        self.column.addItem(NO_COLUMN, None)
        for name in candidates:
            self.column.addItem(name, name)
        self.column.blockSignals(False)
        self.setVisible(bool(candidates))
        self._refresh()

    def choose_column(self, name: str | None) -> None:
        """Compare with column ``name`` (None: no comparison)."""
        self.column.setCurrentIndex(0 if name is None else self.column.findData(name))

    def show_outcome(self, outcome: ModelOutcome | None) -> None:
        """Compare the chosen model's run (None or refused: nothing to compare)."""
        self.outcome = outcome
        self._refresh()

    def _refresh(self) -> None:
        name = self.column.currentData()
        outcome = self.outcome
        result = outcome.result if outcome is not None else None
        key = (name, id(result), outcome.name if outcome is not None else None)
        if key == self._shown:
            return  # a new sample row: same model, same column
        self._shown = key
        self.comparison = None
        self.results.setVisible(False)
        if name is None or self.table is None or self.table.other_columns is None:
            self.summary.setText("")
            return
        if outcome is None or result is None:
            self.summary.setText("Press Predict to compare a model's calls with this column.")
            return
        from bcviewer.genes.truth import (
            compare_with_truth,  # scikit-learn: only when asked
        )

        try:
            self.comparison = compare_with_truth(result, outcome.model, self.table.other_columns[name], name)
        except BcviewerError as exc:
            self.summary.setText(f"{outcome.name}: {exc}")
            return
        self.summary.setText(f"<b>{outcome.name}</b>: {self.comparison.summary()}")
        self._draw(self.comparison)
        self.results.setVisible(True)

    def _draw(self, c: TruthComparison) -> None:
        plot = self.roc.getPlotItem()
        plot.clear()
        plot.addItem(pg.PlotCurveItem([0, 1], [0, 1], pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine)))
        plot.addItem(pg.PlotDataItem(c.fpr, c.tpr, pen=pg.mkPen(POSITIVE_BRUSH, width=2), stepMode=None))
        plot.setTitle(f"ROC, AUC {c.auc:.3f}", size="9pt", color="#333")
        self.confusion.setHorizontalHeaderLabels([f"called {v}" for v in c.confusion.columns])
        self.confusion.setVerticalHeaderLabels([f"truth {v}" for v in c.confusion.index])
        for r in range(2):
            for k in range(2):
                item = QTableWidgetItem(str(int(c.confusion.iat[r, k])))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.confusion.setItem(r, k, item)
        self.confusion.resizeColumnsToContents()
        header = self.confusion.verticalHeader()
        needed = (header.sizeHint().width() + sum(self.confusion.columnWidth(k) for k in range(2))
                  + 2 * self.confusion.frameWidth() + 2)
        self.confusion.setMinimumWidth(needed)  # both columns whole; the ROC plot takes the rest
        self.results.setSizes([max(180, self.results.width() - needed), needed])
