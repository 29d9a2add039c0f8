"""``ModelPicker``: the task, which of its models to run (the default and why), and how to scale the profile."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from bcviewer.genes import GeneTask

STANDARDISE_CHOICES = (
    ("auto", "Automatic: detect the platform"),
    ("model", "Training cohort (same platform)"),
    ("cohort", "Profile's cohort: z-scores (other platform, 10+ samples)"),
    ("quantile", "Profile's cohort: quantiles mapped to training (other platform, 10+ samples)"),
    ("rank", "Profile's cohort: rank-normalised (other platform, 10+ samples)"),
)
RECOMMENDED = " · recommended for another platform"


def default_text(task: GeneTask | None) -> str:
    """"Default: ensemble — highest mean cross-validated AUC …": the task's default model and why."""
    if task is None:
        return ""
    reason = (task.default_reason or "").removeprefix("default = ")
    return f"Default: {task.default}" + (f" — {reason}" if reason else "")


class ModelPicker(QWidget):
    """Task combo box, one check box per architecture (the task's default checked) and the scale."""

    task_changed = Signal(str)
    models_changed = Signal()

    def __init__(self, tasks: list[GeneTask], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = {t.name: t for t in tasks}
        self.task_box = QComboBox()
        self.task_box.setToolTip("What to predict; each task has its own models and genes")
        for task in tasks:
            self.task_box.addItem(task.name, task.name)
        self.model_boxes: dict[str, QCheckBox] = {}
        self._models_row = QHBoxLayout()
        self._models_row.setContentsMargins(0, 0, 0, 0)
        self.scale_box = QComboBox()
        for key, text in STANDARDISE_CHOICES:
            self.scale_box.addItem(text, key)
        self.scale_box.setToolTip("Automatic compares the profile's genes with the training cohort: when they match, "
                                  "genes are z-scored with the training statistics; from another platform, they are "
                                  "scaled by the profile's own cohort the way the task recommends (chosen on external "
                                  "cohorts, docs/genes.md). The other choices force one scaling.")
        self.default_label = QLabel()
        self.default_label.setWordWrap(True)
        self.default_label.setStyleSheet("color: #666")
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        layout = QHBoxLayout()
        column.addLayout(layout)
        column.addWidget(self.default_label)
        layout.addWidget(QLabel("Task"))
        layout.addWidget(self.task_box)
        layout.addSpacing(10)
        layout.addWidget(QLabel("Models"))
        layout.addLayout(self._models_row)
        layout.addSpacing(10)
        layout.addWidget(QLabel("Scale"))
        layout.addWidget(self.scale_box)
        self.task_box.currentIndexChanged.connect(self._on_task)
        self._on_task()

    @property
    def task(self) -> GeneTask | None:
        name = self.task_box.currentData()
        return self.tasks.get(name) if name else None

    @property
    def standardise(self) -> str:
        return str(self.scale_box.currentData())

    def set_standardise(self, key: str) -> None:
        self.scale_box.setCurrentIndex(max(0, self.scale_box.findData(key)))

    def set_task(self, name: str, architectures: list[str] | None = None) -> None:
        """Choose a task and, optionally, which of its architectures to run."""
        index = self.task_box.findData(name)
        if index < 0:
            raise ValueError(f"no gene task {name!r}; installed: {', '.join(self.tasks) or 'none'}")
        self.task_box.setCurrentIndex(index)
        if architectures is not None:
            for arch, box in self.model_boxes.items():
                box.setChecked(arch in architectures)

    def selected_models(self) -> list[str]:
        """``task/architecture`` names of the checked models."""
        task = self.task
        if task is None:
            return []
        return [task.model_name(a) for a, box in self.model_boxes.items() if box.isChecked()]

    def _on_task(self) -> None:
        while self._models_row.count():
            item = self._models_row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.model_boxes = {}
        task = self.task
        for i, (key, text) in enumerate(STANDARDISE_CHOICES):
            self.scale_box.setItemText(i, text + (RECOMMENDED if task is not None and key == task.scaling else ""))
        self.default_label.setText(default_text(task))
        self.default_label.setVisible(task is not None)
        if task is not None:
            for arch in task.architectures:
                box = QCheckBox(arch)
                box.setChecked(arch == task.default)
                box.setToolTip(f"{task.model_name(arch)}" + (f" — {self.default_label.text()}"
                                                             if arch == task.default else ""))
                box.toggled.connect(self.models_changed)
                self.model_boxes[arch] = box
                self._models_row.addWidget(box)
        self.task_changed.emit(task.name if task else "")
        self.models_changed.emit()
