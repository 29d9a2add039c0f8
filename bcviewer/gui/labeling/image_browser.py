"""``ImageBrowser``: the filter bar and the table of the project's images."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.labeling.image_list import ORDERS, SOURCES, ImageFilterProxy, ImageListModel, subtype_name
from bcviewer.labels import ImageReview, ImageRow

ANY = ""  # the combo item meaning "no filter"


def _fill(combo: QComboBox, everything: str, values: list[str], names: dict[str, str] | None = None) -> None:
    """Replace the items of a filter combo, keeping its choice when it is still offered."""
    keep = combo.currentData()
    with QSignalBlocker(combo):
        combo.clear()
        combo.addItem(everything, ANY)
        for value in values:
            combo.addItem((names or {}).get(value, value), value)
        at = combo.findData(keep)
        combo.setCurrentIndex(max(at, 0))


class ImageBrowser(QWidget):
    """Filter controls above a table of images; emits the id of the image chosen."""

    image_selected = Signal(int)  # image id, or -1 when no image is chosen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ImageListModel()
        self.proxy = ImageFilterProxy()
        self.proxy.setSourceModel(self.model)
        self.patient = QComboBox()
        self.subtype = QComboBox()
        self.source = QComboBox()
        self.pending = QCheckBox("Pending proposals only")
        self.issues = QCheckBox("Likely label errors")
        self.order = QComboBox()
        self.shown = QLabel()
        self.table = QTableView()
        self._current: int | None = None
        self._quiet = False  # while the rows are replaced or re-filtered, the chosen image stays put
        self._build()
        _fill(self.patient, "All patients", [])
        _fill(self.subtype, "All subtypes", [])
        _fill(self.source, "Any source", list(SOURCES))
        for key, text in ORDERS.items():
            self.order.addItem(text, key)
        for combo in (self.patient, self.subtype, self.source):
            combo.currentIndexChanged.connect(self._apply_filters)
        self.pending.toggled.connect(self._apply_filters)
        self.issues.toggled.connect(self._issues_toggled)
        self.set_issues({})
        self.order.currentIndexChanged.connect(lambda: self._reordered(self.order.currentData()))
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

    def _build(self) -> None:
        t = self.table
        t.setModel(self.proxy)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setAlternatingRowColors(True)
        t.setTextElideMode(Qt.TextElideMode.ElideLeft)
        t.verticalHeader().hide()
        t.verticalHeader().setDefaultSectionSize(22)
        header = t.horizontalHeader()
        # Sized to the contents once per reload: ResizeToContents would re-measure a thousand rows
        # after every key press on a large project.
        header.setResizeContentsPrecision(200)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(28)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Patient", self.patient)
        form.addRow("Subtype", self.subtype)
        form.addRow("Source", self.source)
        form.addRow("Order", self.order)
        bottom = QHBoxLayout()
        bottom.addWidget(self.pending)
        bottom.addWidget(self.issues)
        bottom.addStretch(1)
        bottom.addWidget(self.shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(bottom)
        layout.addWidget(t, 1)
        self.pending.setToolTip("Show only images with proposals waiting for review")
        self.order.setToolTip("Disagreement first: images whose labels the latest model contradicts most")

    # ---- content ------------------------------------------------------------------------------
    def set_images(self, rows: list[ImageRow], reviews: dict[int, ImageReview]) -> None:
        """Show these images (the whole project), keeping the filters and the chosen image."""
        _fill(self.patient, "All patients", sorted({r.patient for r in rows}))
        subtypes = sorted({r.subtype for r in rows if r.subtype})
        _fill(self.subtype, "All subtypes", subtypes, {s: subtype_name(s) for s in subtypes})
        self._quiet = True
        try:
            self.model.set_entries(rows, reviews)
        finally:
            self._quiet = False
        for column in range(1, self.model.columnCount()):
            self.table.resizeColumnToContents(column)
        self._after_reshuffle()

    def set_issues(self, issues: dict[int, tuple[int, str]]) -> None:
        """The label-error queue (image id -> (rank, note)); the filter is offered once there is one."""
        self.model.issues = dict(issues)
        self.issues.setEnabled(bool(issues))
        self.issues.setToolTip("Show only the images of the last 'Find likely label errors', most likely first"
                               if issues else "Run 'Find likely label errors' first")
        if not issues and self.issues.isChecked():
            self.issues.setChecked(False)
        elif self.issues.isChecked():
            self._issues_toggled(True)

    def _issues_toggled(self, on: bool) -> None:
        self._quiet = True
        try:
            self.proxy.set_issues_only(on)
        finally:
            self._quiet = False
        self._after_reshuffle()

    def update_image(self, row: ImageRow, review: ImageReview | None) -> None:
        self.model.update_entry(row, review)

    def current_image_id(self) -> int | None:
        return self._current

    def visible_image_ids(self) -> list[int]:
        return self.proxy.image_ids()

    def select_image(self, image_id: int) -> bool:
        """Make ``image_id`` the chosen image; False when the filters hide it."""
        source_row = self.model.row_of(image_id)
        if source_row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        if not index.isValid():
            return False
        self._select_row(index.row())
        return True

    def set_filters(self, *, patient: str | None = None, subtype: str | None = None, source: str | None = None,
                    pending_only: bool = False) -> None:
        """Set the filter controls (as a user would) and apply them."""
        for combo, value in ((self.patient, patient), (self.subtype, subtype), (self.source, source)):
            with QSignalBlocker(combo):
                combo.setCurrentIndex(max(combo.findData(value or ANY), 0))
        with QSignalBlocker(self.pending):
            self.pending.setChecked(pending_only)
        self._apply_filters()

    def set_order(self, order: str) -> None:
        self.order.setCurrentIndex(self.order.findData(order))

    # ---- reactions ----------------------------------------------------------------------------
    def _apply_filters(self) -> None:
        self._quiet = True
        try:
            self.proxy.set_filters(patient=self.patient.currentData() or None,
                                   subtype=self.subtype.currentData() or None,
                                   source=self.source.currentData() or None, pending_only=self.pending.isChecked())
        finally:
            self._quiet = False
        self._after_reshuffle()

    def _reordered(self, order: str) -> None:
        self._quiet = True
        try:
            self.model.set_order(order)
        finally:
            self._quiet = False
        self._after_reshuffle()

    def _after_reshuffle(self) -> None:
        self._update_shown()
        if self._current is None or not self.select_image(self._current):
            self._select_row(0 if self.proxy.rowCount() else None)

    def _update_shown(self) -> None:
        self.shown.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} images")

    def _select_row(self, proxy_row: int | None) -> None:
        selection = self.table.selectionModel()
        if proxy_row is None:
            selection.clear()
            self._set_current(None)
            return
        index = self.proxy.index(proxy_row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        selection.setCurrentIndex(index, flags)
        self.table.scrollTo(index)
        self._set_current(self.proxy.entry(proxy_row).row.id)

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet:
            return
        self._set_current(self.proxy.entry(current.row()).row.id if current.isValid() else None)

    def _set_current(self, image_id: int | None) -> None:
        if image_id != self._current:
            self._current = image_id
            self.image_selected.emit(-1 if image_id is None else image_id)

    def step(self, delta: int) -> bool:
        """Choose the image ``delta`` rows down the list (up when negative); False at either end."""
        rows = self.proxy.rowCount()
        current = self.table.selectionModel().currentIndex()
        target = (current.row() + delta) if current.isValid() else 0
        if not rows or not 0 <= target < rows:
            return False
        self._select_row(target)
        return True
