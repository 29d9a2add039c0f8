"""The QC layer: each checked tile painted by its quality-control class over the slide, and the
panel that runs quality control and shows its legend (tiles and % of tissue per class, from
:func:`bcviewer.qc.summarise`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.slide.view_geometry import ViewTransform
from bcviewer.qc import QC_FLAGS

if TYPE_CHECKING:
    from bcviewer.qc import GridQc, QcSummary

# Okabe & Ito's colour-blind-safe palette (and neutral grey for glass); "ok" stays transparent.
QC_COLOURS: dict[str, QColor | None] = {
    "ok": None,
    "background": QColor(153, 153, 153),
    "pen": QColor(0, 158, 115),  # bluish green
    "dark": QColor(213, 94, 0),  # vermillion
    "overstained": QColor(204, 121, 167),  # reddish purple
    "understained": QColor(240, 228, 66),  # yellow
    "blur": QColor(86, 180, 233),  # sky blue
}
QC_LABELS = {"ok": "ok (scored)", "background": "background (glass)", "pen": "pen ink", "dark": "dark (fold, debris)",
             "overstained": "overstained", "understained": "understained", "blur": "blur"}
FILL_ALPHA = 150  # the tissue under a flagged tile stays visible


class QcLayer:
    """What is painted: one filled rectangle per flagged tile, in its class's colour."""

    def __init__(self) -> None:
        self.rects = np.zeros((0, 4), dtype=np.int64)
        self.flags: list[str] = []
        self.visible = False

    def set_result(self, result: GridQc | None) -> None:
        """Show ``result`` (complete or partial: only the tiles checked); None clears the layer."""
        if result is None:
            self.rects, self.flags = np.zeros((0, 4), dtype=np.int64), []
            return
        self.rects = result.grid.rects()[:len(result.results)]
        self.flags = [r.flag for r in result.results]

    def paint(self, painter: QPainter, t: ViewTransform) -> None:
        if not self.visible or not self.flags:
            return
        screen = t.screen_rects(self.rects)
        width, height = painter.device().width(), painter.device().height()
        on_screen = ((screen[:, 0] + screen[:, 2] >= 0) & (screen[:, 1] + screen[:, 3] >= 0)
                     & (screen[:, 0] <= width) & (screen[:, 1] <= height))
        painter.save()
        for i in np.flatnonzero(on_screen).tolist():
            base = QC_COLOURS.get(self.flags[i])
            if base is None:
                continue
            colour = QColor(base)
            colour.setAlpha(FILL_ALPHA)
            x, y, w, h = screen[i].tolist()
            painter.fillRect(x, y, w, h, colour)
            painter.setPen(QPen(base.darker(150), 1))  # neighbours of one class stay apart
            painter.drawRect(x, y, w - 1, h - 1)
        painter.restore()


class QcPanel(QGroupBox):
    """Check quality / Cancel, the progress bar, the layer toggle and the legend."""

    check_requested = Signal()
    cancel_requested = Signal()
    layer_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Quality control", parent)
        self.check_button = QPushButton("Check quality")
        self.check_button.setToolTip("Check every tile for glass, pen ink, folds, staining and blur (bcviewer qc)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("QC %v / %m tiles")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.layer_box = QCheckBox("Show QC layer")
        self.status_label = QLabel("Not checked yet")
        self.status_label.setWordWrap(True)
        self._legend = QGridLayout()
        self._counts: dict[str, tuple[QLabel, QLabel]] = {}
        for row, flag in enumerate(QC_FLAGS):
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            colour = QC_COLOURS[flag]
            swatch.setStyleSheet(f"background: {colour.name()}; border: 1px solid #444;" if colour is not None
                                 else "background: transparent; border: 1px solid #888;")
            tiles, share = QLabel("–"), QLabel("–")
            for label in (tiles, share):
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._legend.addWidget(swatch, row + 1, 0)
            self._legend.addWidget(QLabel(QC_LABELS[flag]), row + 1, 1)
            self._legend.addWidget(tiles, row + 1, 2)
            self._legend.addWidget(share, row + 1, 3)
            self._counts[flag] = (tiles, share)
        for col, title in ((1, "class"), (2, "tiles"), (3, "% tissue")):
            head = QLabel(f"<b>{title}</b>")
            head.setAlignment(Qt.AlignmentFlag.AlignRight if col > 1 else Qt.AlignmentFlag.AlignLeft)
            self._legend.addWidget(head, 0, col)
        self._legend.setColumnStretch(1, 1)

        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.layer_box)
        layout.addLayout(self._legend)
        layout.addWidget(self.status_label)
        self.check_button.clicked.connect(self.check_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.layer_box.toggled.connect(self.layer_toggled)

    def legend_rows(self) -> dict[str, tuple[str, str]]:
        """The legend as shown: class -> (tiles, % of tissue) texts."""
        return {flag: (tiles.text(), share.text()) for flag, (tiles, share) in self._counts.items()}

    def show_running(self, done: int, total: int) -> None:
        self.check_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.status_label.setText(f"Checking {total} tiles …" if total else "Planning the tiles …")

    def show_summary(self, summary: QcSummary | None, status: str) -> None:
        """The legend's numbers (None: empty) and a line saying what they cover."""
        self.check_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        for flag, (tiles, share) in self._counts.items():
            tiles.setText("–" if summary is None else str(summary.tiles[flag]))
            share.setText("–" if summary is None else f"{100 * summary.tissue_share[flag]:.1f}")
        self.status_label.setText(status)

    def reset(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.show_summary(None, "Not checked yet")
