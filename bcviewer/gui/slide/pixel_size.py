"""Asking the user for the pixel size of a whole slide that does not record it.

The core refuses to guess (``ScaleUnknownError``); the viewer asks once per file, in µm per pixel
or as the objective power the slide was scanned at (its usual µm/px is filled in), and remembers
the answer in the settings under the file's path. ``ask_pixel_size`` is the one entry point, so
tests can answer it without a modal dialog.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from bcviewer.slides import SlideReader


class PixelSizeDialog(QDialog):
    """µm/px spin box and an objective-power shortcut; ``value()`` is the chosen µm/px."""

    def __init__(self, reader: SlideReader, objectives: dict[float, float], current: float | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pixel size")
        self.objectives = objectives
        text = QLabel(
            f"<b>{reader.path.name}</b> is a whole slide ({reader.level_count} level(s), {reader.format}) that "
            "does not record its pixel size. bcviewer does not guess it: tiles are cut in micrometres, so a "
            "wrong value means the model sees tissue at the wrong scale.<br><br>Enter the micrometres per "
            "pixel of the full-resolution level, or pick the objective it was scanned with (its usual pixel "
            "size is used). The answer is remembered for this file."
            + "<br><br>" + suggestion_note(reader, current))
        text.setWordWrap(True)
        self.mpp = QDoubleSpinBox()
        self.mpp.setDecimals(4)
        # 0 stands for "not given yet": the box shows a prompt, not a number nobody chose.
        self.mpp.setRange(0.0, 100.0)
        self.mpp.setSpecialValueText("enter µm/px")
        self.mpp.setSingleStep(0.05)
        self.mpp.setSuffix(" µm/px")
        self.objective = QComboBox()
        self.objective.addItem("–", None)
        for power, mpp in sorted(objectives.items()):
            self.objective.addItem(f"{power:g}x  ({mpp:g} µm/px)", power)
        if reader.objective_power:
            self.objective.setToolTip(f"The file names a {reader.objective_power:g}x objective but no pixel size")
        start = current or (objectives.get(_nearest(objectives, reader.objective_power))
                            if reader.objective_power else None) or 0.0
        self.mpp.setValue(start)
        self.objective.currentIndexChanged.connect(self._on_objective)
        if reader.objective_power and current is None:
            self.objective.setCurrentIndex(self.objective.findData(_nearest(objectives, reader.objective_power)))
        form = QFormLayout()
        form.addRow("Pixel size", self.mpp)
        form.addRow("or objective", self.objective)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.mpp.valueChanged.connect(lambda v: self.ok_button.setEnabled(v >= MIN_MPP))
        self.ok_button.setEnabled(self.mpp.value() >= MIN_MPP)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def _on_objective(self, _index: int) -> None:
        power = self.objective.currentData()
        if power is not None:
            self.mpp.setValue(self.objectives[power])

    def value(self) -> float:
        return float(self.mpp.value())


MIN_MPP = 0.01  # µm/px: finer than any scanner; 0 means "not entered"


def suggestion_note(reader: SlideReader, current: float | None) -> str:
    """Where the value the dialog starts with comes from, or that it starts empty."""
    if current:
        return (f"The box holds {current:g} µm/px, the value given before for this file (or with --mpp): "
                "change it if it was wrong.")
    if reader.objective_power:
        return (f"The file names a {reader.objective_power:g}x objective, so that objective's usual pixel size is "
                "filled in: check it against the scanner's.")
    return "The file names no objective either, so the box starts empty."


def _nearest(objectives: dict[float, float], power: float) -> float:
    return min(objectives, key=lambda p: abs(p - power))


def ask_pixel_size(parent: QWidget | None, reader: SlideReader, current: float | None = None) -> float | None:
    """Show :class:`PixelSizeDialog`; the chosen µm/px, or None when the user cancels."""
    from bcviewer.inference import OBJECTIVE_MPP  # the core is loaded: it raised ScaleUnknownError

    dialog = PixelSizeDialog(reader, OBJECTIVE_MPP, current, parent)
    return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None
