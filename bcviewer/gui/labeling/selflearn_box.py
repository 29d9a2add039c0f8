"""Controls of the panel's review tools: bulk accept, and a self-learning run with progress."""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
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

from bcviewer.gui.labeling.messages import notes_message, plural, run_message
from bcviewer.gui.labeling.selflearn_worker import (
    STAGE_TEXT,
    TRAINERS,
    SelfLearnRequest,
    SelfLearnWorker,
)
from bcviewer.labels import RoundReport, TauSchedule
from bcviewer.labels.tau_history import schedule_text
from bcviewer.labels.trainers import DEFAULT_TRAINER, available_trainer_kinds

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
    """Trainer, rounds, mode, tau schedule and held-out share of a run; Run and Cancel; progress.

    A review run is one round (the rounds box is fixed at 1), and no run starts while proposals
    wait for review (:meth:`set_project_state` says so under the buttons).
    """

    run_clicked = Signal()  # the panel reads request() and reports a bad schedule
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Self-learning", parent)
        self.trainer = QComboBox()
        runnable = available_trainer_kinds()
        for key, (text, tip) in TRAINERS.items():
            if key not in runnable:  # the PyTorch trainers of an install without PyTorch
                text, tip = f"{text}: not installed", f"{tip}. This installation has no PyTorch."
            self.trainer.addItem(text, key)
            self.trainer.setItemData(self.trainer.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            if key not in runnable:
                item = cast(QStandardItemModel, self.trainer.model()).item(self.trainer.count() - 1)
                item.setEnabled(False)
        self.trainer.setCurrentIndex(self.trainer.findData(DEFAULT_TRAINER))
        self.trainer.setToolTip(TRAINERS[DEFAULT_TRAINER][1])
        self.trainer.currentIndexChanged.connect(
            lambda: self.trainer.setToolTip(TRAINERS[self.trainer.currentData()][1]))
        self.rounds = QSpinBox()
        self.rounds.setRange(1, 20)
        self.rounds.setValue(1)
        self.mode = QComboBox()
        self.mode.addItem("Review (propose changes)", "review")
        self.mode.addItem("Automatic (apply changes)", "auto")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.holdout = QDoubleSpinBox()
        self.holdout.setRange(0.0, 0.5)
        self.holdout.setSingleStep(0.05)
        self.holdout.setDecimals(2)
        self.holdout.setValue(0.2)
        self.holdout.setToolTip("Share of patients kept out of training to measure each round's accuracy; "
                                "chosen at the project's first run and kept after that")
        self.crossfit = QComboBox()
        for folds in (0, 2, 3, 4, 5):
            self.crossfit.addItem(f"{folds} folds" if folds else "off", folds)
        self.crossfit.setToolTip("Cross-fitted scoring (bcviewer selflearn --crossfit K): K models per round, each "
                                 "scoring the training patients it did not see. It relabels far more, but on the "
                                 "BreakHis dev set it lowered held-out accuracy every round (docs/selflearn.md)")
        self.heldout_note = QLabel("")
        self.heldout_note.setWordWrap(True)
        self._waiting: str | None = None
        self._running = False
        self._heldout_fixed = False
        self._last = ""  # how the last run ended, kept in front of what the next one will do
        self.tau = QLineEdit(schedule_text(TauSchedule()))
        self._schedule_shown: object = None  # (project, newest round id) when the τ box was last set from it
        self.tau.setToolTip("Relabel threshold per round: a malignant sub-image with p < tau becomes benign "
                            "(the last value repeats)")
        self.run = QPushButton("Run")
        self.run.setToolTip("Train, score and relabel (or propose) in the background; τ follows the project's "
                            "completed rounds, so each run continues the schedule")
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.state = QLabel("Idle")
        self.state.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Trainer", self.trainer)
        form.addRow("Mode", self.mode)
        form.addRow("Rounds", self.rounds)
        form.addRow("τ schedule", self.tau)
        form.addRow("Held out", self.holdout)
        form.addRow("Cross-fit", self.crossfit)
        form.addRow("", self.heldout_note)
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
        review = self.mode.currentData() == "review"
        return SelfLearnRequest(rounds=1 if review else self.rounds.value(), mode=self.mode.currentData(),
                                schedule=TauSchedule.parse(self.tau.text()), holdout=self.holdout.value(),
                                trainer=self.trainer.currentData(), crossfit=self.crossfit.currentData())

    def _mode_changed(self) -> None:
        if self.mode.currentData() == "review":
            self.rounds.setValue(1)
        self._enable()

    def show_project_schedule(self, state: object, schedule: TauSchedule | None) -> None:
        """Put the schedule the project's last round ran with (None: the default) in the τ box once per
        ``state`` (the project and its newest round): a CLI run's ``--tau`` shows when its rounds land,
        while a schedule being typed survives refreshes and reverts."""
        if state != self._schedule_shown:
            self._schedule_shown = state
            self.tau.setText(schedule_text(schedule or TauSchedule()))

    def set_project_state(self, heldout: int | None, patients: int, next_level: int, tau: float | None,
                          waiting: str | None) -> None:
        """What the next run will do: held-out patients (None: chosen at the first run), the next
        level and its tau, and ``waiting``: why no round may start now (pending proposals)."""
        if heldout is None:
            self.heldout_note.setText(f"Chosen at the first run from {patients} patients.")
        else:
            self.heldout_note.setText(f"{heldout} of {patients} patients held out (kept from the first run).")
        self._heldout_fixed = heldout is not None
        self._waiting = waiting
        level = f"Next: round {next_level}" + (f", τ = {tau:g}." if tau is not None else ".")
        if not self._running:
            self.state.setText(waiting or f"{self._last} {level}".strip())
        self._enable()

    def _enable(self) -> None:
        running = self._running
        self.run.setEnabled(not running and self._waiting is None)
        for widget in (self.trainer, self.mode, self.tau, self.crossfit):
            widget.setEnabled(not running)
        self.rounds.setEnabled(not running and self.mode.currentData() != "review")
        self.holdout.setEnabled(not running and not self._heldout_fixed)

    def set_running(self, running: bool, cancelling: bool = False) -> None:
        self._running = running
        self._enable()
        self.cancel.setEnabled(running and not cancelling)
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
        self._stopped(f"{run_message(reports, cancelled)} {notes_message(reports)}".strip())

    def _stopped(self, text: str) -> None:
        self.set_running(False)
        self._last = text
        self.set_state(text)
