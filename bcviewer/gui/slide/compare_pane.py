"""``ComparePane``: the right-hand view of the side-by-side comparison, with its header (what it
shows, how it is linked, its own threshold, link, swap and close)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.slide.overlay import HeatmapLayer
from bcviewer.gui.slide.view import SlideView

HEADER_HEIGHT = 30  # both views' headers: the same height keeps the two images level


def mirror_heatmap(source: HeatmapLayer, target: HeatmapLayer) -> None:
    """Give ``target`` the grid, scores, trust marks, QC marks, tissue outline and look of
    ``source``; its threshold stays its own."""
    target.set_grid(source.rects, source.rows, source.cols)
    if source.tile_count:
        target.set_scores(np.arange(source.tile_count), source.probabilities, source.uncertainties)
    target.set_trust(source.sets, source.outside)
    target.set_qc(source.qc_skipped)
    target.tissue_path = source.tissue_path
    target.set_colormap(source.colormap)
    target.set_opacity(source.opacity)
    target.set_smooth(source.smooth)
    target.set_show_uncertainty(source.show_uncertainty)
    target.visible = source.visible


class ComparePane(QWidget):
    """A slide view with a one-line header; hidden until a comparison starts."""

    link_toggled = Signal(bool)
    swap_requested = Signal()
    close_requested = Signal()
    threshold_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = SlideView(self)
        self.view.set_minimap_enabled(False)  # one minimap (the left view's) is enough
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.note = QLabel()
        self.note.setStyleSheet("color: palette(dark)")
        self.link = QCheckBox("Link")
        self.link.setChecked(True)
        self.link.setToolTip("Pan and zoom both views together. Unlink to move this view alone (to line up a "
                             "re-cut); linking again keeps the offset.")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setPrefix("threshold ")
        self.threshold.setToolTip("Tiles below this malignant probability are not coloured in this view")
        self.swap = QToolButton()
        self.swap.setText("Swap")
        self.swap.setToolTip("Show this slide on the left (where Run analyses it) and the left one here")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close the side-by-side view")
        bar = QWidget()
        bar.setFixedHeight(HEADER_HEIGHT)
        header = QHBoxLayout(bar)
        header.setContentsMargins(6, 0, 4, 0)
        header.setSpacing(10)
        header.addWidget(self.title)
        header.addWidget(self.note, 1)
        for widget in (self.threshold, self.link, self.swap, self.close_button):
            header.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(bar)
        layout.addWidget(self.view, 1)
        self.link.toggled.connect(self.link_toggled)
        self.swap.clicked.connect(self.swap_requested)
        self.close_button.clicked.connect(self.close_requested)
        self.threshold.valueChanged.connect(self._on_threshold)

    def show_heading(self, title: str, tooltip: str, note: str, has_heatmap: bool) -> None:
        """What the pane shows (``title``, full path as ``tooltip``) and how it is linked (``note``)."""
        self.title.setText(title)
        self.title.setToolTip(tooltip)
        self.note.setText(note)
        self.threshold.setVisible(has_heatmap)

    def set_threshold(self, value: float) -> None:
        """Set the threshold control (and the heatmap) without a second signal round trip."""
        self.threshold.setValue(value)
        self._on_threshold(self.threshold.value())

    def _on_threshold(self, value: float) -> None:
        self.view.heatmap.set_threshold(value)
        self.view.update()
        self.threshold_changed.emit(value)


class LeftHeading(QWidget):
    """The left view's name above it while comparing, as high as the pane's header."""

    def __init__(self, view: SlideView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setStyleSheet("font-weight: bold")
        self.label.setFixedHeight(HEADER_HEIGHT)
        self.label.setContentsMargins(6, 0, 0, 0)
        self.label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.label)
        layout.addWidget(view, 1)

    def show_heading(self, text: str | None) -> None:
        """Show ``text`` above the view; None hides the heading (no comparison)."""
        self.label.setText(text or "")
        self.label.setVisible(text is not None)
