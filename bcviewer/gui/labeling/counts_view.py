"""``CountsView``: sub-image label counts of the project and of the current image."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from bcviewer.labels import LabelCounts

ROWS = (("benign", "Benign"), ("malignant", "Malignant"), ("inherited", "Inherited"), ("model", "By model"),
        ("human", "By a person"), ("locked", "Locked"), ("pending", "Pending proposals"))


class CountsView(QWidget):
    """A small table: one row per count, columns for the project, the filtered images and this image."""

    COLUMNS = ("Project", "Image")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(1)
        for c, title in enumerate(self.COLUMNS, start=1):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, c)
        self.cells: dict[tuple[str, str], QLabel] = {}
        for r, (key, text) in enumerate(ROWS, start=1):
            grid.addWidget(QLabel(text), r, 0)
            for c, column in enumerate(self.COLUMNS, start=1):
                cell = QLabel("–")
                cell.setMinimumWidth(48)
                grid.addWidget(cell, r, c)
                self.cells[(key, column)] = cell
        grid.setColumnStretch(len(self.COLUMNS) + 1, 1)

    def set_counts(self, column: str, counts: LabelCounts | None) -> None:
        """Fill one column ("Project" or "Image"); None shows dashes."""
        for key, _ in ROWS:
            self.cells[(key, column)].setText("–" if counts is None else str(getattr(counts, key)))

    def value(self, key: str, column: str = "Project") -> str:
        return self.cells[(key, column)].text()
