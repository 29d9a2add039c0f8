"""The explain panel: one tile with its attribution map over it, an opacity slider, a legend, the
method, p overall and per member, and the branch attention (or why there is none).

Only widgets: the map, its blend and the text come from the core (:mod:`bcviewer.inference.explain`,
:mod:`bcviewer.export.explanation`); :class:`~bcviewer.gui.slide.explain.ExplainController` runs
the work and feeds this panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # the core's export and inference halves load after the first frame
    from bcviewer.inference.explain import Explanation

# export.explanation.DEFAULT_EXPLAIN_OPACITY in percent (tests/test_gui_explain.py checks they agree);
# not imported, so that the window starts without the core's export half.
DEFAULT_OPACITY_PERCENT = 60

HINT = ("Right-click a tile of the heatmap and choose Explain this tile, or pick one in the Tiles tab "
        "and press Explain.")
_PICTURE_PX = 300  # fits the side panel (360 px wide)


def _pixmap(rgb: np.ndarray) -> QPixmap:
    data = np.ascontiguousarray(rgb)
    image = QImage(data.data, data.shape[1], data.shape[0], 3 * data.shape[1], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class ExplainPanel(QWidget):
    """See the module docstring."""

    explain_requested = Signal()
    cancel_requested = Signal()
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.explanation: Explanation | None = None
        self.blend: np.ndarray | None = None  # the picture on screen: the tile with the map blended in
        self.tile_label = QLabel(HINT)
        self.tile_label.setWordWrap(True)
        self.tile_label.setMinimumWidth(100)
        self.explain_button = QPushButton("Explain")
        self.explain_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumHeight(120)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY_PERCENT)
        self.opacity_label = QLabel()
        self.colour_bar = QLabel()  # drawn with the first explanation
        self.colour_bar.setScaledContents(True)
        self.colour_bar.setFixedHeight(12)
        self.scale_label = QLabel()
        self.scale_label.setWordWrap(True)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save explanation…")
        self.save_button.setEnabled(False)
        self._layout()
        self.explain_button.clicked.connect(self.explain_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.opacity.valueChanged.connect(lambda _v: self._redraw())
        self._set_opacity_text()

    def _layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.tile_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.explain_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.picture)
        row = QHBoxLayout()
        row.addWidget(QLabel("Map opacity"))
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        layout.addLayout(row)
        layout.addWidget(self.colour_bar)
        layout.addWidget(self.scale_label)
        layout.addWidget(self.details)
        layout.addWidget(self.save_button)
        layout.addStretch(1)

    @property
    def opacity_value(self) -> float:
        return self.opacity.value() / 100.0

    def set_selected(self, text: str | None) -> None:
        """Name the tile Explain will explain (None: no tile chosen, or no scores yet)."""
        self.tile_label.setText(text or HINT)
        self.explain_button.setEnabled(text is not None and not self.cancel_button.isEnabled())

    def show_running(self, text: str) -> None:
        self.explain_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.details.setText(text)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def show_stopped(self, message: str) -> None:
        """The run ended without an explanation (cancelled or failed): say why."""
        self.cancel_button.setEnabled(False)
        self.explain_button.setEnabled(True)
        self.progress.setVisible(False)
        self.details.setText(message)

    def show_explanation(self, explanation: Explanation) -> None:
        from bcviewer.export.colormaps import colormap_lut
        from bcviewer.export.explanation import MAP_COLORMAP

        self.explanation = explanation
        strip = colormap_lut(MAP_COLORMAP)[np.linspace(0, 255, 300).round().astype(np.intp)]
        self.colour_bar.setPixmap(_pixmap(np.repeat(strip[None], 12, axis=0)))
        self.cancel_button.setEnabled(False)
        self.explain_button.setEnabled(True)
        self.progress.setVisible(False)
        self.save_button.setEnabled(True)
        peak = float(np.max(np.abs(explanation.attribution))) if explanation.attribution.size else 0.0
        self.scale_label.setText(f"blue −{peak:.3g} (pushed p towards benign) · 0 · red +{peak:.3g} "
                                 f"(towards malignant); {explanation.method} map")
        self.details.setText("\n".join(explanation.lines()))
        self._redraw()

    def clear(self) -> None:
        self.explanation = None
        self.blend = None
        self.picture.clear()
        self.details.clear()
        self.scale_label.clear()
        self.save_button.setEnabled(False)
        self.set_selected(None)

    def _set_opacity_text(self) -> None:
        self.opacity_label.setText(f"{self.opacity.value()}%")

    def _redraw(self) -> None:
        self._set_opacity_text()
        if self.explanation is None:
            return

        from bcviewer.export.explanation import explanation_overlay

        self.blend = explanation_overlay(self.explanation, self.opacity_value)
        pixmap = _pixmap(self.blend)
        self.picture.setPixmap(pixmap.scaledToWidth(_PICTURE_PX, Qt.TransformationMode.FastTransformation))
