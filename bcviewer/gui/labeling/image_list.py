"""The project's images as a table model in review order, and a proxy that filters them.

Orders: by file name, disagreement first (sub-images whose label the latest model contradicts),
or uncertainty first (the least certain sub-image); the model keeps its rows in that order
(sorting in Python once is far cheaper than a proxy calling back into Python per comparison).
Filters: patient, subtype, label source (images holding at least one sub-image of that source)
and pending proposals. The proxy does not re-filter on its own when a row changes
(``dynamicSortFilter`` off): an image being worked on stays in place until the filters change
or the list is reloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from bcviewer.labels import ImageReview, ImageRow

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
SOURCES = ("inherited", "model", "human")
ORDERS = {"path": "File name", "disagreement": "Disagreement first", "uncertainty": "Uncertainty first"}
LABEL_COLOURS = {"benign": QColor(46, 125, 50), "malignant": QColor(198, 40, 40)}

Index = QModelIndex | QPersistentModelIndex


def subtype_name(subtype: str | None) -> str:
    """``"ductal_carcinoma"`` -> ``"ductal carcinoma"``."""
    return (subtype or "").replace("_", " ")


def subtype_code(subtype: str | None) -> str:
    """The initials, which are BreakHis's own codes: ``"ductal_carcinoma"`` -> ``"DC"``, adenosis -> ``"A"``."""
    return "".join(word[:1].upper() for word in (subtype or "").split("_"))


@dataclass(frozen=True)
class ImageEntry:
    """One image with its label summary and its review summary (None before it is known)."""

    row: ImageRow
    review: ImageReview | None

    def source_count(self, source: str) -> int:
        if source == "human":
            return self.row.n_human
        if self.review is None:
            return 0
        return self.review.inherited if source == "inherited" else self.review.model

    @property
    def uncertainty(self) -> float:
        """-1 when no round scored the image, so unscored images sort last."""
        return -1.0 if self.review is None or self.review.uncertainty is None else self.review.uncertainty

    @property
    def disagreement(self) -> int:
        return 0 if self.review is None else self.review.disagreement

    def order_key(self, order: str) -> tuple[Any, ...]:
        name = self.row.path.name
        if order == "disagreement":
            return (-self.disagreement, -self.uncertainty, name)
        if order == "uncertainty":
            return (-self.uncertainty, -self.disagreement, name)
        return (name, self.row.id)


class ImageListModel(QAbstractTableModel):
    """The images of a project with their label counts."""

    COLUMNS = ("Image", "Patient", "Type", "B/M", "Pending", "Doubt", "Disagree")
    TIPS = ("File name (green: benign image, red: malignant image)", "Patient id", "Tumour subtype",
            "Benign / malignant sub-images", "Proposals waiting for review",
            "Uncertainty of the least certain sub-image (1: the model could not decide)",
            "Sub-images whose label the latest model contradicts")

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[ImageEntry] = []
        self._rows_by_id: dict[int, int] = {}
        self.order = "path"
        self.issues: dict[int, tuple[int, str]] = {}  # image id -> (rank, note) in the label-error queue

    # ---- content ------------------------------------------------------------------------------
    def set_entries(self, rows: list[ImageRow], reviews: dict[int, ImageReview]) -> None:
        self._reset([ImageEntry(r, reviews.get(r.id)) for r in rows])

    def set_order(self, order: str) -> None:
        """Put the rows in one of :data:`ORDERS`."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {list(ORDERS)}, not {order!r}")
        self.order = order
        self._reset(self._entries)

    def _reset(self, entries: list[ImageEntry]) -> None:
        self.beginResetModel()
        self._entries = sorted(entries, key=lambda e: e.order_key(self.order))
        self._rows_by_id = {e.row.id: i for i, e in enumerate(self._entries)}
        self.endResetModel()

    def update_entry(self, row: ImageRow, review: ImageReview | None) -> None:
        """Replace one image's row (after a label change) without resetting the view."""
        i = self._rows_by_id.get(row.id)
        if i is None:
            return
        self._entries[i] = ImageEntry(row, review)
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.COLUMNS) - 1))

    def entry(self, row: int) -> ImageEntry:
        return self._entries[row]

    def row_of(self, image_id: int) -> int | None:
        return self._rows_by_id.get(image_id)

    def entries(self) -> list[ImageEntry]:
        return list(self._entries)

    # ---- Qt model -----------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self._entries[index.row()]
        column = index.column()
        if role == ENTRY_ROLE:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(entry, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == 0:
            return LABEL_COLOURS.get(entry.row.label)
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            issue = self.issues.get(entry.row.id)
            return f"{entry.row.path}\n{entry.row.label} image" + (f"\n{issue[1]}" if issue else "")
        if role == Qt.ItemDataRole.ToolTipRole and column == 2:
            return subtype_name(entry.row.subtype)
        return None

    @staticmethod
    def _text(entry: ImageEntry, column: int) -> str:
        row = entry.row
        values = (row.path.name, row.patient, subtype_code(row.subtype), f"{row.n_benign}/{row.n_malignant}",
                  row.n_pending)
        if column < len(values):
            return str(values[column])
        if column == 5:
            return "" if entry.uncertainty < 0 else f"{entry.uncertainty:.2f}"
        return "" if entry.review is None or not entry.review.scored else str(entry.disagreement)


class ImageFilterProxy(QSortFilterProxyModel):
    """Filters images by patient, subtype, source and pending proposals (keeping the model's order)."""

    def __init__(self) -> None:
        super().__init__()
        self.patient: str | None = None
        self.subtype: str | None = None
        self.source: str | None = None
        self.pending_only = False
        self.issues_only = False  # the label-error queue's images, in its order
        self.setDynamicSortFilter(False)

    def set_issues_only(self, on: bool) -> None:
        """Show only the images of the label-error queue (the model's ``issues``), most likely first."""
        self.issues_only = on
        self.invalidate()
        self.sort(0 if on else -1)

    def _issues(self) -> dict[int, tuple[int, str]]:
        model = self.sourceModel()
        return model.issues if isinstance(model, ImageListModel) else {}

    def lessThan(self, left: Index, right: Index) -> bool:
        ranks = self._issues()
        big = len(ranks) + 1
        return bool(ranks.get(left.data(ENTRY_ROLE).row.id, (big,))[0] < ranks.get(right.data(ENTRY_ROLE).row.id, (big,))[0])

    def set_filters(self, *, patient: str | None = None, subtype: str | None = None, source: str | None = None,
                    pending_only: bool = False) -> None:
        """Show only images matching every filter given (None or False: no filter)."""
        if source is not None and source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        self.patient, self.subtype, self.source, self.pending_only = patient, subtype, source, pending_only
        self.invalidate()

    def entry(self, proxy_row: int) -> ImageEntry:
        return self.data(self.index(proxy_row, 0), ENTRY_ROLE)

    def image_ids(self) -> list[int]:
        """Ids of the images shown, in the order shown."""
        return [self.entry(r).row.id for r in range(self.rowCount())]

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        entry: ImageEntry = self.sourceModel().index(source_row, 0, source_parent).data(ENTRY_ROLE)
        row = entry.row
        return ((self.patient is None or row.patient == self.patient)
                and (self.subtype is None or row.subtype == self.subtype)
                and (self.source is None or entry.source_count(self.source) > 0)
                and (not self.pending_only or row.n_pending > 0)
                and (not self.issues_only or row.id in self._issues()))
