"""``PanelLayout``: the widgets of the labeling panel and how they are arranged.

Left: the filters and the image list. Middle: the current image's sub-image grid, a legend and
the labeling buttons. Right: the current sub-image's details, counts, and the self-learning rounds.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.labeling.actions import LabelingActions
from bcviewer.gui.labeling.counts_view import CountsView
from bcviewer.gui.labeling.history_view import SubImageDetails
from bcviewer.gui.labeling.image_browser import ImageBrowser
from bcviewer.gui.labeling.label_issues import LabelIssuesBox
from bcviewer.gui.labeling.rounds_view import RoundsView
from bcviewer.gui.labeling.selflearn_box import ReviewBox, SelfLearnBox
from bcviewer.gui.labeling.subimage_grid import LABEL_COLOURS, PROPOSAL_COLOUR, SOURCE_COLOURS, SubImageGrid
from bcviewer.labels import ImageRow


def _square(colour: str, text: str) -> str:
    return f'<span style="color:{colour}; font-size:large">&#9632;</span>&nbsp;{text}'


LEGEND = (
    "Border: " + _square(LABEL_COLOURS["benign"].name(), "benign") + " &nbsp;"
    + _square(LABEL_COLOURS["malignant"].name(), "malignant")
    + " &nbsp;·&nbsp; dashed: " + _square(SOURCE_COLOURS["inherited"].name(), "inherited")
    + ", solid: " + _square(SOURCE_COLOURS["model"].name(), "model")
    + ", double: " + _square(SOURCE_COLOURS["human"].name(), "person")
    + " &nbsp;·&nbsp; padlock: locked &nbsp;·&nbsp; " + _square(PROPOSAL_COLOUR.name(), "proposal")
)
KEYS = ("<b>B</b> benign &nbsp; <b>M</b> malignant &nbsp; <b>Space</b> accept &nbsp; <b>X</b> reject &nbsp; "
        "<b>L</b> lock &nbsp; <b>Ctrl+Z</b> undo &nbsp; <b>arrows</b> move (Shift: extend) &nbsp; "
        "<b>PgUp/PgDn</b> image &nbsp; <b>[ ]</b> proposal")


def _button(action: QAction, text: str) -> QPushButton:
    """A button with its own short text that triggers ``action`` and follows its state."""
    button = QPushButton(text)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the grid or the list

    def follow() -> None:
        button.setEnabled(action.isEnabled())
        button.setToolTip(action.toolTip() if action.text() == action.iconText() else
                          f"{action.text().replace('&', '')}: {action.toolTip()}")

    button.clicked.connect(action.trigger)
    action.changed.connect(follow)
    follow()
    return button


def _scrolling(column: QWidget) -> QScrollArea:
    """``column`` in a vertical scroll area as wide as the column needs (no horizontal bar)."""
    area = QScrollArea()
    area.setWidget(column)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(column.minimumWidth() + area.verticalScrollBar().sizeHint().width())
    return area


class PanelLayout:
    """Builds the panel's widgets into ``panel``; the panel wires them to the store."""

    def __init__(self, panel: QWidget, actions: LabelingActions) -> None:
        self.project_label = QLabel()
        self.image_title = QLabel()
        self.image_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image_title.setWordWrap(True)
        self.browser = ImageBrowser()
        self.grid = SubImageGrid()
        self.details = SubImageDetails()
        self.counts = CountsView()
        self.review = ReviewBox()
        self.selflearn = SelfLearnBox()
        self.rounds = RoundsView()
        self.issues = LabelIssuesBox()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = [_button(actions.label_benign, "Benign"), _button(actions.label_malignant, "Malignant"),
                        _button(actions.accept, "Accept"), _button(actions.reject, "Reject"),
                        _button(actions.lock, "Lock"), _button(actions.undo, "Undo"),
                        _button(actions.previous_image, "◀ Image"), _button(actions.next_image, "Image ▶"),
                        _button(actions.previous_proposal, "◀ Proposal"), _button(actions.next_proposal, "Proposal ▶")]
        top = self.top = QHBoxLayout()  # the panel adds its annotator button here
        top.addWidget(self.project_label, 1)
        for action, text in ((actions.open_project, "Open project…"), (actions.new_project, "New project…"),
                             (actions.import_folder, "Import folder…"), (actions.import_files, "Import files…")):
            top.addWidget(_button(action, text))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        # The side columns scroll: their controls stacked are taller than a laptop screen, and a
        # window that tall pushed the status line below the screen's bottom edge.
        splitter.addWidget(_scrolling(self._left()))
        splitter.addWidget(self._middle())
        splitter.addWidget(_scrolling(self._right()))
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([440, 560, 400])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(panel)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)  # never squeezed
        self.set_project(None)
        self.set_image(None)

    def _left(self) -> QWidget:
        left = QWidget()
        left.setMinimumWidth(420)
        layout = QVBoxLayout(left)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self.review)
        layout.addWidget(self.selflearn)
        return left

    def _middle(self) -> QWidget:
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        keys = QLabel(KEYS)
        keys.setWordWrap(True)
        row = QGridLayout()
        for i, button in enumerate(self.buttons):
            row.addWidget(button, i // 5, i % 5)
        middle = QWidget()
        layout = QVBoxLayout(middle)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.image_title)
        layout.addWidget(self.grid, 1)
        layout.addWidget(legend)
        layout.addLayout(row)
        layout.addWidget(keys)
        layout.addWidget(self.issues)  # under the image: it says whether this image is a likely error
        return middle

    def _right(self) -> QWidget:
        sub = QGroupBox("Sub-image")
        QVBoxLayout(sub).addWidget(self.details)
        counts = QGroupBox("Sub-image counts")
        QVBoxLayout(counts).addWidget(self.counts)
        right = QWidget()
        right.setMinimumWidth(380)
        layout = QVBoxLayout(right)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(sub, 1)
        layout.addWidget(counts)
        layout.addWidget(self.rounds)
        return right

    def set_project(self, path: Path | None) -> None:
        self.project_label.setText(f"<b>Project:</b> {path.name} <small>({path.parent})</small>" if path else
                                   "<b>No labeling project open</b> — open or create one, then import images.")
        self.grid.placeholder = "No image" if path else "Open or create a labeling project"
        self.grid.update()

    def set_image(self, row: ImageRow | None) -> None:
        if row is None:
            self.image_title.setText("")
            return
        subtype = f", {row.subtype}" if row.subtype else ""
        mag = f", {row.magnification}X" if row.magnification else ""
        self.image_title.setText(f"<b>{row.path.name}</b> — patient {row.patient}, image label "
                                 f"<b>{row.label}</b>{subtype}{mag}")

    def set_enabled(self, has_project: bool) -> None:
        for widget in (self.browser, self.review, self.selflearn, self.rounds, self.issues):
            widget.setEnabled(has_project)
