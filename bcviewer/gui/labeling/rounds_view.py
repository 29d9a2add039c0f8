"""``RoundsView``: the project's self-learning rounds, their held-out accuracy, and Revert.

One row per round: its level and tau, what it changed (relabels in automatic mode, proposals in
review mode), how many proposals a person accepted and rejected, and the image accuracy on the
held-out patients of the model the round trained. A small plot shows that accuracy by round; the
first round's model was trained on the inherited labels, so its point is the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bcviewer.labels import RoundRow

COLUMNS = ("Round", "τ", "Mode", "Status", "Changed", "✓", "✗", "Held-out")
TIPS = ("The round's level; τ follows the project's completed rounds",
        "Relabel threshold: a malignant sub-image with p < τ becomes benign",
        "auto: relabels applied; review: proposals for a person",
        "done, reverted, or interrupted (cancelled or failed; nothing changed)",
        "Sub-images relabelled (auto) or proposed (review)",
        "Proposals a person accepted", "Proposals a person rejected",
        "Image accuracy on the held-out patients of the model this round trained "
        "(round 1's model saw only inherited labels: the baseline)")


def _accuracy(row: RoundRow) -> float | None:
    held = row.stats.get("heldout") if row.status == "done" or row.status == "reverted" else None
    return None if not held else float(held["image_accuracy"])


def round_cells(row: RoundRow, decisions: Mapping[str, int]) -> tuple[str, ...]:
    """The table cells of one round."""
    changed = row.stats.get("relabelled" if row.mode == "auto" else "proposed")
    accuracy = _accuracy(row)
    acc_text = "–" if accuracy is None else f"{accuracy:.3f}"
    review = row.mode == "review"
    return (str(row.number), f"{row.tau:g}", row.mode, row.status, "–" if changed is None else str(changed),
            str(decisions.get("accepted", 0)) if review else "–",
            str(decisions.get("rejected", 0)) if review else "–", acc_text)


class RoundsView(QGroupBox):
    """Table and plot of the project's rounds; emits ``revert_requested(round id, round number)``."""

    revert_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Self-learning rounds", parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(130)
        self.plot.setMaximumHeight(170)
        self.plot.setLabel("left", "held-out acc.")
        self.plot.setLabel("bottom", "round")
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("bottom").setTickSpacing(1, 1)  # rounds are whole numbers
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=7,
                                    symbolBrush="#1f77b4")
        self.baseline = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.baseline.setVisible(False)
        self.plot.addItem(self.baseline)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            header = self.table.horizontalHeaderItem(i)
            if header is not None:  # set by setHorizontalHeaderLabels above
                header.setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(110)
        self.note = QLabel("No rounds yet.")
        self.note.setWordWrap(True)
        self.revert = QPushButton("Revert round…")
        self.revert.setToolTip("Undo the selected round's relabels (labels a person set are never touched) "
                               "and withdraw its pending proposals; its level runs again next time")
        self.revert.clicked.connect(self._revert_clicked)
        self.table.itemSelectionChanged.connect(self._update_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.note, 1)
        buttons.addWidget(self.revert)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.rows: list[RoundRow] = []
        self.decisions: Mapping[int, Mapping[str, int]] = {}
        self._update_button()

    def set_decisions(self, decisions: Mapping[int, Mapping[str, int]]) -> None:
        """New ✓ and ✗ counts (by round id) for the rounds shown, e.g. right after a person decides."""
        if decisions != self.decisions:
            self.set_rounds(self.rows, decisions)

    def set_rounds(self, rows: Sequence[RoundRow], decisions: Mapping[int, Mapping[str, int]]) -> None:
        """Show ``rows`` (oldest first) with the proposal decisions of each round (by round id)."""
        selected = self.selected_round()
        self.rows, self.decisions = list(rows), decisions
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(reversed(self.rows)):  # newest first: the round one acts on
            for c, text in enumerate(round_cells(row, decisions.get(row.id, {}))):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.id)
                if c != 2 and c != 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 7 and row.stats.get("heldout"):
                    item.setToolTip(f"{row.stats['heldout']['images']} held-out images")
                self.table.setItem(r, c, item)
            if selected is not None and row.id == selected.id:
                self.table.selectRow(r)
        points = [(row.number, acc) for row in self.rows if row.status == "done" and (acc := _accuracy(row)) is not None]
        self.curve.setData([p[0] for p in points], [p[1] for p in points])
        first = next((p for p in points if p[0] == 1), None)
        self.baseline.setVisible(first is not None)
        if first is not None:
            self.baseline.setValue(first[1])
        if points:
            self.plot.setXRange(0.5, max(p[0] for p in points) + 0.5, padding=0)
            low = min(p[1] for p in points)
            self.plot.setYRange(max(0.0, low - 0.1), 1.0, padding=0)
        self.note.setText(self._note(points))
        self._update_button()

    @staticmethod
    def _note(points: list[tuple[int, float]]) -> str:
        if not points:
            return "No completed rounds with held-out patients yet."
        if len(points) == 1:
            return f"Held-out accuracy {points[0][1]:.3f} (inherited labels)."
        delta = points[-1][1] - points[0][1]
        return (f"Held-out accuracy {points[0][1]:.3f} → {points[-1][1]:.3f} "
                f"({delta:+.3f} since round {points[0][0]}).")

    def selected_round(self) -> RoundRow | None:
        items = self.table.selectedItems()
        if not items:
            return None
        round_id = items[0].data(Qt.ItemDataRole.UserRole)
        return next((r for r in self.rows if r.id == round_id), None)

    def _update_button(self) -> None:
        row = self.selected_round()
        self.revert.setEnabled(row is not None and row.status == "done")

    def _revert_clicked(self) -> None:
        row = self.selected_round()
        if row is not None and row.status == "done":
            self.revert_requested.emit(row.id, row.number)
