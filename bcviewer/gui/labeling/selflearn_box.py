"""Controls of the panel's review tools: bulk accept, and a self-learning run with progress."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.labeling.messages import plural, run_message
from bcviewer.gui.labeling.selflearn_worker import STAGE_TEXT, SelfLearnRequest, SelfLearnWorker
from bcviewer.labels import RoundReport, TauSchedule

STAGES = ("train", "score", "apply", "done")


class ReviewBox(QGroupBox):
    """Pending proposals of the project and a button accepting every one above a confidence."""

    accept_above_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Review proposals", parent)
        self.pending = QLabel("No project")
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(0.5, 1.0)
        self.confidence.setSingleStep(0.01)
        self.confidence.setDecimals(2)
        self.confidence.setValue(0.9)
        self.confidence.setToolTip("The model's probability for the proposed label")
        self.accept = QPushButton("Accept all ≥")
        self.accept.clicked.connect(lambda: self.accept_above_requested.emit(self.confidence.value()))
        row = QHBoxLayout()
        row.addWidget(self.accept)
        row.addWidget(self.confidence)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pending)
        layout.addLayout(row)

    def set_pending(self, count: int | None, above: int | None = None, confidence: float | None = None) -> None:
        if count is None:
            self.pending.setText("No project")
        else:
            at = self.confidence.value() if confidence is None else confidence
            extra = f", {above} at or above {at:.2f}" if above is not None else ""
            self.pending.setText(f"{count} proposal{'s' if count != 1 else ''} pending{extra}")
        self.accept.setEnabled(bool(count))


class SelfLearnBox(QGroupBox):
    """Rounds, mode and tau schedule of a run; Run and Cancel; a progress bar."""

    run_clicked = Signal()  # the panel reads request() and reports a bad schedule
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Self-learning", parent)
        self.rounds = QSpinBox()
        self.rounds.setRange(1, 20)
        self.rounds.setValue(1)
        self.mode = QComboBox()
        self.mode.addItem("Review (propose changes)", "review")
        self.mode.addItem("Automatic (apply changes)", "auto")
        self.tau = QLineEdit(",".join(f"{t:g}" for t in TauSchedule().taus))
        self.tau.setToolTip("Relabel threshold per round: a malignant sub-image with p < tau becomes benign "
                            "(the last value repeats)")
        self.run = QPushButton("Run")
        self.run.setToolTip("Train, score and relabel (or propose) in the background. At the first run 20% of "
                            "the patients are held out of training to measure accuracy, as 'bcviewer selflearn' does.")
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.state = QLabel("Idle")
        self.state.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Rounds", self.rounds)
        form.addRow("Mode", self.mode)
        form.addRow("τ schedule", self.tau)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run)
        buttons.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        self.run.clicked.connect(self.run_clicked)
        self.cancel.clicked.connect(self.cancel_clicked)
        self.set_running(False)

    def request(self) -> SelfLearnRequest:
        """The run the controls describe; raises SelfLearningError for a bad tau schedule."""
        return SelfLearnRequest(rounds=self.rounds.value(), mode=self.mode.currentData(),
                                schedule=TauSchedule.parse(self.tau.text()))

    def set_running(self, running: bool, cancelling: bool = False) -> None:
        self.run.setEnabled(not running)
        self.cancel.setEnabled(running and not cancelling)
        for widget in (self.rounds, self.mode, self.tau):
            widget.setEnabled(not running)
        self.progress.setVisible(running)
        if not running:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)

    def set_progress(self, stage: str, position: int, total: int) -> None:
        self.progress.setRange(0, total * len(STAGES))
        self.progress.setValue((position - 1) * len(STAGES) + STAGES.index(stage) + 1)
        self.progress.setFormat(f"round {position} of {total}")
        self.state.setText(f"Round {position} of {total}: {STAGE_TEXT.get(stage, stage)}…"
                           if stage != "done" else f"Round {position} of {total} saved.")

    def set_state(self, text: str) -> None:
        self.state.setText(text)

    def attach(self, worker: SelfLearnWorker) -> None:
        """Follow ``worker``: progress while it runs, its result when it stops."""
        worker.progress.connect(self.set_progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(lambda _exc: self._stopped("Stopped by an error; completed rounds are kept."))

    def show_started(self, request: SelfLearnRequest) -> None:
        self.set_running(True)
        self.set_state(f"Starting {plural(request.rounds, 'round')} ({request.mode})…")

    def show_cancelling(self) -> None:
        self.set_running(True, cancelling=True)
        self.set_state("Cancelling after the current step…")

    def _finished(self, reports: list[RoundReport], cancelled: bool) -> None:
        self._stopped(run_message(reports, cancelled))

    def _stopped(self, text: str) -> None:
        self.set_running(False)
        self.set_state(text)
