"""``SelfLearnControl``: runs, cancels and reverts self-learning rounds for the labeling panel.

It wires the self-learning box (options, Run, Cancel, progress), the rounds view (table, plot,
Revert) and the worker thread to the panel's open project. Training runs on the worker; a revert
is one short transaction on the GUI thread, like every other label write of the panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui import errors as gui_errors
from bcviewer.gui.labeling.jobs import ProjectCounts
from bcviewer.gui.labeling.messages import plural, round_message, run_message
from bcviewer.gui.labeling.rounds_view import RoundsView
from bcviewer.gui.labeling.selflearn_box import SelfLearnBox
from bcviewer.gui.labeling.selflearn_worker import SelfLearnRequest, SelfLearnWorker
from bcviewer.gui.labeling.writes import Cancelled, write_with_retry
from bcviewer.labels.tau_history import project_schedule

if TYPE_CHECKING:
    from pathlib import Path

    from bcviewer.labels import LabelStore, RoundReport


class LabelingHost(Protocol):
    """What the control uses of the labeling panel that owns it (the panel imports this module,
    so the panel is described, not imported)."""

    store: LabelStore | None
    project: Path | None

    def reload(self) -> None: ...
    def after_write(self, text: str) -> None: ...
    def update_enabled(self) -> None: ...
    def say(self, text: str) -> None: ...
    def refuse(self, title: str, message: str) -> bool: ...
    def failed(self, title: str, exc: BaseException) -> None: ...


def waiting_text(waiting: tuple[int, int]) -> str:
    """Why no round may start: an earlier round's proposals wait for a person."""
    number, count = waiting
    return (f"Round {number} has {plural(count, 'proposal')} waiting for review: accept or reject them "
            f"(Space accepts, X rejects, ]\u00a0goes to the next one), or revert round {number}, before the next "
            "round.")  # the no-break space keeps the key with its words when the label wraps


class SelfLearnControl(QObject):
    """Self-learning actions of ``panel``: Run, Cancel, Revert, and the rounds display.

    ``parent`` is the panel's widget (the panel itself): the control's owner and its dialogs' parent.
    """

    def __init__(self, panel: LabelingHost, box: SelfLearnBox, rounds: RoundsView, worker: SelfLearnWorker,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.panel, self.box, self.rounds, self.worker = panel, box, rounds, worker
        self._widget = parent
        box.run_clicked.connect(lambda: self.run())
        box.cancel_clicked.connect(self.cancel)
        box.attach(worker)
        rounds.revert_requested.connect(self.revert)
        worker.detail.connect(box.set_state)
        worker.round_finished.connect(self._round_finished)
        worker.finished.connect(self._run_finished)
        worker.failed.connect(self._run_failed)

    def run(self, request: SelfLearnRequest | None = None) -> bool:
        """Start a run on a worker (default: as the controls describe it)."""
        panel = self.panel
        if panel.project is None:
            return panel.refuse("Self-learning not started", "Open or create a labeling project first.")
        try:
            request = request or self.box.request()
            if request.mode == "review" and request.rounds > 1:
                raise BcviewerError("A review run does one round and then waits for you to accept or reject "
                                    "its proposals; run one round, decide, then run the next.")
            waiting = panel.store.pending_review() if panel.store is not None else None
            if waiting is not None:
                raise BcviewerError(waiting_text(waiting))
        except BcviewerError as exc:
            gui_errors.report_error(self._widget, "Self-learning not started", exc)
            return False
        if not self.worker.start(panel.project, request):
            panel.say("A self-learning run is already going.")
            return False
        self.box.show_started(request)
        panel.update_enabled()
        return True

    def cancel(self) -> None:
        """Stop the run within one training batch; the round in progress is not saved."""
        if self.worker.running:
            self.worker.cancel()
            self.box.show_cancelling()

    def revert(self, round_id: int, number: int) -> bool:
        """Undo round ``number``'s relabels after asking; labels a person set are never touched."""
        panel, store = self.panel, self.panel.store
        if store is None:
            return False
        if self.worker.running:
            return panel.refuse("Round not reverted", "Wait for the self-learning run to finish, or cancel it.")
        answer = QMessageBox.question(
            self._widget, f"Revert round {number}?",
            f"Undo the relabels of round {number} that nobody has changed since, and withdraw its pending "
            "proposals? Labels a person set or accepted stay as they are, and every change stays in the "
            "history. The next round runs at this round's level again.")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            result = write_with_retry(self._widget, lambda: store.revert_round(round_id), "the revert")
        except BcviewerError as exc:
            return panel.refuse("Round not reverted", str(exc))
        if isinstance(result, Cancelled):
            return False
        panel.after_write(f"Reverted round {number}: {plural(result)} back to their earlier labels.")
        panel.reload()
        return True

    def show_project(self, counts: ProjectCounts | None) -> None:
        """Show the project's rounds and what the next run will do (None: no project)."""
        if counts is None:
            self.rounds.set_rounds([], {})
            self.box.show_project_schedule(None, None)
            return
        self.rounds.set_rounds(counts.rounds, counts.decisions)
        newest = max((r.id for r in counts.rounds), default=None)  # a new round (the CLI's) resets the τ box
        self.box.show_project_schedule((self.panel.project, newest), project_schedule(counts.rounds))
        tau = None
        try:
            tau = self.box.request().schedule.tau(counts.next_level)
        except BcviewerError:
            pass  # a schedule being typed; Run reports it
        self.box.set_project_state(counts.heldout, counts.patients, counts.next_level, tau,
                                   waiting_text(counts.waiting) if counts.waiting else None)

    def show_decisions(self) -> None:
        """The rounds table's ✓ and ✗ at once after a decision, read on the panel's own connection (one
        GROUP BY) instead of waiting for the project counts' worker."""
        if self.panel.store is not None:
            self.rounds.set_decisions(self.panel.store.decisions_by_round())

    def _round_finished(self, report: RoundReport) -> None:
        self.panel.say(round_message(report))
        self.panel.reload()

    def _run_finished(self, reports: list[RoundReport], cancelled: bool) -> None:
        self._ended(run_message(reports, cancelled))

    def _run_failed(self, exc: BaseException) -> None:
        self._ended("Stopped by an error.")
        self.panel.failed("Self-learning failed", exc)

    def _ended(self, text: str) -> None:
        self.panel.say(f"Self-learning: {text[0].lower()}{text[1:]}")
        self.panel.update_enabled()
        self.panel.reload()
