"""The samples of a loaded profile and, per model, a probability bar for each of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from bcviewer.gui.expression.coverage import WARN_BELOW

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a number to sort by: p, or the coverage fraction
PROBABILITY_ROLE = Qt.ItemDataRole.UserRole + 2  # p in a model column, None elsewhere
LOW_COLOUR = QColor(70, 130, 180)  # p near 0
HIGH_COLOUR = QColor(214, 96, 77)  # p near 1
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ModelColumn:
    """What one model predicted for every sample, in the table's sample order."""

    name: str  # e.g. "er-status/deepcme"
    positive: str  # the class whose probability p is (for more than two classes: the predicted one)
    p: list[float]
    labels: list[str]


class SampleTableModel(QAbstractTableModel):
    """Rows: samples. Columns: sample id, genes measured (after a run), one column per model."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[str] = []
        self.coverage: list[float] | None = None
        self.models: list[ModelColumn] = []

    # ---- filling --------------------------------------------------------------------------------
    def set_samples(self, samples: list[str]) -> None:
        """A new profile: its samples, no predictions yet."""
        self.beginResetModel()
        self.samples = list(samples)
        self.coverage = None
        self.models = []
        self.endResetModel()

    def set_predictions(self, coverage: list[float] | None, models: list[ModelColumn]) -> None:
        """A run's results, or before a run the chosen task's coverage (lists in ``samples`` order)."""
        self.beginResetModel()
        self.coverage = coverage
        self.models = list(models)
        self.endResetModel()

    @property
    def first_model_column(self) -> int:
        return 2

    def model_at(self, column: int) -> ModelColumn | None:
        k = column - self.first_model_column
        return self.models[k] if 0 <= k < len(self.models) else None

    def column_of(self, model_name: str) -> int:
        names = [m.name for m in self.models]
        return self.first_model_column + names.index(model_name)

    # ---- Qt model -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self.samples)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else self.first_model_column + len(self.models)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt API)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        model = self.model_at(section)
        if role == Qt.ItemDataRole.DisplayRole:
            if section == 0:
                return "Sample"
            if section == 1:
                return "Genes\nmeasured"
            assert model is not None
            return f"{model.name.split('/')[-1]}\nP({model.positive})"
        if role == Qt.ItemDataRole.ToolTipRole and model is not None:
            return f"{model.name}: probability of {model.positive!r}; the bar fills from 0 to 1"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if column == 0:
            return self.samples[row] if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE,
                                                 Qt.ItemDataRole.ToolTipRole) else None
        if column == 1:
            return self._coverage_data(row, role)
        model = self.model_at(column)
        if model is None:
            return None
        p, label = model.p[row], model.labels[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{p:.3f}  {label}"
        if role in (SORT_ROLE, PROBABILITY_ROLE):
            return p
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self.samples[row]} · {model.name}: P({model.positive}) = {p:.4f}, predicted {label}"
        return None

    def _coverage_data(self, row: int, role: int) -> Any:
        if self.coverage is None:
            return "–" if role == Qt.ItemDataRole.DisplayRole else None
        value = self.coverage[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{value:.0%}"
        if role == SORT_ROLE:
            return value
        if role == Qt.ItemDataRole.ForegroundRole and value < WARN_BELOW:
            return QColor(176, 96, 0)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def probability_colour(p: float) -> QColor:
    """Blue for p near 0, red for p near 1, mixed in between."""
    q = min(1.0, max(0.0, p))
    return QColor(round(LOW_COLOUR.red() + q * (HIGH_COLOUR.red() - LOW_COLOUR.red())),
                  round(LOW_COLOUR.green() + q * (HIGH_COLOUR.green() - LOW_COLOUR.green())),
                  round(LOW_COLOUR.blue() + q * (HIGH_COLOUR.blue() - LOW_COLOUR.blue())))


class ProbabilityBarDelegate(QStyledItemDelegate):
    """Draws p as a bar filling the cell from the left (coloured from blue at 0 to red at 1), text on top."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        p = index.data(PROBABILITY_ROLE)
        if p is None:
            super().paint(painter, option, index)
            return
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight().color().lighter(170))
        cell = QRectF(option.rect).adjusted(3, 4, -3, -4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(235, 235, 235))
        painter.drawRect(cell)
        fill = probability_colour(float(p))
        fill.setAlpha(200)
        painter.setBrush(fill)
        painter.drawRect(QRectF(cell.left(), cell.top(), cell.width() * min(1.0, max(0.0, float(p))), cell.height()))
        painter.setPen(option.palette.text().color())
        painter.drawText(cell.adjusted(4, 0, -2, 0), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         str(index.data(Qt.ItemDataRole.DisplayRole)))
        painter.restore()
