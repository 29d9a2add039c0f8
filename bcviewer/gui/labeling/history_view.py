"""``SubImageDetails``: one sub-image's label, the model's probability round by round, and its audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bcviewer.labels import HistoryRow, RoundPrediction, SubImageRow

ACTION_TEXT = {"import": "imported", "label": "labelled", "lock": "locked", "unlock": "unlocked",
               "relabel": "relabelled by round", "undo": "undone", "revert": "round reverted"}


def local_time(iso: str) -> str:
    """A stored UTC time stamp as local time, to the minute."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _table(headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(table.focusPolicy().NoFocus)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(20)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(r, c, item)


class SubImageDetails(QWidget):
    """What is known about the current sub-image; read-only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No sub-image selected")
        self.title.setWordWrap(True)
        self.label = QLabel("–")
        self.source = QLabel("–")
        self.probability = QLabel("–")
        self.proposal = QLabel("–")
        self.proposal.setWordWrap(True)
        self.rounds = _table(("Round", "Mode", "τ", "p malignant", "Call", "Status"))
        self.history = _table(("Time", "Change", "By", "Label", "Source", "Round", "Reason"))
        facts = QFormLayout()
        facts.addRow("Label", self.label)
        facts.addRow("Source", self.source)
        facts.addRow("p malignant", self.probability)
        facts.addRow("Proposal", self.proposal)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(facts)
        layout.addWidget(QLabel("<b>Model, round by round</b>"))
        layout.addWidget(self.rounds, 1)
        layout.addWidget(QLabel("<b>History</b> (newest first)"))
        layout.addWidget(self.history, 2)

    def show_subimage(self, row: SubImageRow | None, image_name: str = "", history: Sequence[HistoryRow] = (),
                      predictions: Sequence[RoundPrediction] = ()) -> None:
        """Show one sub-image (None: clear)."""
        if row is None:
            self.title.setText("No sub-image selected")
            for label in (self.label, self.source, self.probability, self.proposal):
                label.setText("–")
            _fill(self.rounds, [])
            _fill(self.history, [])
            return
        self.title.setText(f"<b>Sub-image row {row.row + 1}, column {row.col + 1}</b> of {image_name}")
        self.label.setText(row.label + ("  (locked)" if row.locked else ""))
        by = {"inherited": "inherited from the image label", "human": "set by a person",
              "model": f"set by self-learning round {row.round}"}
        self.source.setText(by.get(row.source, row.source))
        self.probability.setText("not scored yet" if row.p_malignant is None else
                                 f"{row.p_malignant:.3f} (latest completed round)")
        if row.proposed_label is None:
            self.proposal.setText("none")
        else:
            p = row.p_malignant if row.p_malignant is not None else 0.5
            confidence = 1.0 - p if row.proposed_label == "benign" else p
            self.proposal.setText(f"→ {row.proposed_label} (confidence {confidence:.2f}); Space accepts, X rejects")
        _fill(self.rounds, [(str(p.round_number), p.mode, f"{p.tau:g}", f"{p.p_malignant:.3f}",
                             "malignant" if p.p_malignant >= 0.5 else "benign", p.status) for p in predictions])
        cells = [self._history_cells(h) for h in history]
        _fill(self.history, cells)
        for r, (when, change, person, labels, _source, _round, reason) in enumerate(cells):
            # The panel is narrow: the whole entry, reason included, is one hover away on any cell.
            text = f"{when}: {change} by {person or 'a person not recorded'}, {labels}" + (f": {reason}" if reason else "")
            for item in (self.history.item(r, c) for c in range(self.history.columnCount())):
                if item is not None:
                    item.setToolTip(text)

    @staticmethod
    def _history_cells(h: HistoryRow) -> tuple[str, ...]:
        label = h.new_label if h.old_label in (None, h.new_label) else f"{h.old_label} → {h.new_label}"
        source = h.new_source if h.old_source in (None, h.new_source) else f"{h.old_source} → {h.new_source}"
        action = ACTION_TEXT.get(h.action, h.action)
        if h.proposal_id is not None and h.action == "label":
            action = "proposal decided"
        return (local_time(h.time), action, h.person, label, source, str(h.round) if h.round else "", h.reason)
