"""``OverlayControls``: style (tiles or smooth), colormap, opacity and threshold of the heatmap,
with its colour bar."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

from bcviewer.gui.slide.overlay import COLORMAPS, DEFAULT_COLORMAP, UNCERTAINTY_COLORMAP, colormap_lut


class ColorBar(QWidget):
    """A horizontal legend: the colormap from 0 to 1, greyed below the threshold, with ticks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lut = colormap_lut(DEFAULT_COLORMAP)
        self._threshold = 0.0
        self.setMinimumHeight(38)
        self.setToolTip("Malignant probability of a tile: colour scale of the heatmap")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(220, 40)

    def set_lut(self, lut: np.ndarray) -> None:
        self._lut = np.ascontiguousarray(lut[:, :3], dtype=np.uint8)
        self.update()

    def set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        bar = QRect(6, 4, self.width() - 12, 14)
        strip = np.ascontiguousarray(self._lut[None, :, :])
        image = QImage(strip.data, strip.shape[1], 1, strip.strides[0], QImage.Format.Format_RGB888)
        painter.drawImage(bar, image)
        if self._threshold > 0:
            hidden = QRect(bar.left(), bar.top(), round(bar.width() * self._threshold), bar.height())
            painter.fillRect(hidden, QColor(128, 128, 128, 170))
        painter.setPen(self.palette().windowText().color())
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        for value in (0.0, 0.25, 0.5, 0.75, 1.0):
            x = bar.left() + round(value * (bar.width() - 1))
            painter.drawLine(x, bar.bottom() + 1, x, bar.bottom() + 4)
            text_rect = QRect(x - 20, bar.bottom() + 4, 40, 16)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, f"{value:g}")
        painter.end()


PROBABILITY_SCALE = "Malignant probability"
UNCERTAINTY_SCALE = "Uncertainty (0 sure, 1 a coin toss)"


class OverlayControls(QWidget):
    """Widgets for the heatmap's look; emits the new value when the user changes one."""

    colormap_changed = Signal(str)
    opacity_changed = Signal(float)
    threshold_changed = Signal(float)
    smooth_changed = Signal(bool)
    uncertainty_changed = Signal(bool)  # the Uncertainty style was chosen (True) or left (False)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.style_box = QComboBox()
        self.style_box.addItems(["Tiles", "Smooth", "Uncertainty"])
        self.style_box.setToolTip("Tiles: one block of colour per scored tile. Smooth: interpolated between tiles. "
                              "Uncertainty: tiles coloured by uncertainty (0 sure, 1 a coin toss); orange outline: "
                              "the prediction set is 'review'; dashed magenta: outside the training data")
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.setToolTip("Colour scale of the heatmap")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the heatmap over the tissue")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setToolTip("Hide tiles whose malignant probability is below this value")
        self._opacity_label = QLabel()
        self._threshold_label = QLabel()
        for label in (self._opacity_label, self._threshold_label):
            label.setMinimumWidth(34)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.colorbar = ColorBar()

        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        form.addRow("Style", self.style_box)
        form.addRow("Colormap", self.colormap)
        form.addRow("Opacity", _row(self.opacity, self._opacity_label))
        form.addRow("Threshold", _row(self.threshold, self._threshold_label))
        self.scale_label = QLabel(PROBABILITY_SCALE)
        form.addRow(self.scale_label)
        form.addRow(self.colorbar)

        self.style_box.currentIndexChanged.connect(self._on_style)
        self.colormap.currentTextChanged.connect(self._on_colormap)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.threshold.valueChanged.connect(self._on_threshold)

    def set_values(self, colormap: str, opacity: float, threshold: float, smooth: bool = False) -> None:
        """Show stored values without emitting change signals."""
        for w in (self.style_box, self.colormap, self.opacity, self.threshold):
            w.blockSignals(True)
        uncertainty = self.style_box.currentIndex() == 2  # not a stored preference: kept while the view lives
        self.style_box.setCurrentIndex(2 if uncertainty else (1 if smooth else 0))
        self.colormap.setCurrentText(colormap if colormap in COLORMAPS else self.colormap.itemText(0))
        self.opacity.setValue(round(opacity * 100))
        self.threshold.setValue(round(threshold * 100))
        for w in (self.style_box, self.colormap, self.opacity, self.threshold):
            w.blockSignals(False)
        self._show_scale()
        self._opacity_label.setText(f"{self.opacity.value()}%")
        self._threshold_label.setText(f"{threshold:.2f}")

    def _show_scale(self) -> None:
        """The legend of what the tiles show: uncertainty has its own colormap and no threshold."""
        uncertainty = self.style_box.currentIndex() == 2
        self.scale_label.setText(UNCERTAINTY_SCALE if uncertainty else PROBABILITY_SCALE)
        self.colorbar.set_lut(colormap_lut(UNCERTAINTY_COLORMAP if uncertainty else self.colormap.currentText()))
        self.colorbar.set_threshold(0.0 if uncertainty else self.threshold.value() / 100)
        for control in (self.colormap, self.threshold):  # they apply to p only
            control.setEnabled(not uncertainty)

    def _on_style(self, index: int) -> None:
        self._show_scale()
        self.uncertainty_changed.emit(index == 2)
        if index != 2:
            self.smooth_changed.emit(index == 1)

    def _on_colormap(self, name: str) -> None:
        self._show_scale()
        self.colormap_changed.emit(name)

    def _on_opacity(self, value: int) -> None:
        self._opacity_label.setText(f"{value}%")
        self.opacity_changed.emit(value / 100)

    def _on_threshold(self, value: int) -> None:
        self._threshold_label.setText(f"{value / 100:.2f}")
        self._show_scale()
        self.threshold_changed.emit(value / 100)


def _row(slider: QSlider, label: QLabel) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(slider, 1)
    layout.addWidget(label)
    return box
