"""The labeling panel's queue of likely label errors: a box with Find and Cancel, a worker that
computes the queue (:func:`bcviewer.labels.label_issues.find_label_errors`, as ``bcviewer labels
issues`` does), and the control that hands the result to the image list's "Likely label errors"
filter. The queue is computed on a worker thread (one model per fold, features cached) and can be
cancelled between images and between models; it changes no label.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.labeling.image_browser import ImageBrowser
from bcviewer.gui.workers import BackgroundRun, SingleRunWorker
from bcviewer.labels import LabelStore, SelfLearningCancelled

TrainerFactory = Callable[[], Any]


class _Signals(QObject):
    progress = Signal(int, int)  # models trained, folds
    finished = Signal(object)  # LabelIssueQueue, or None when cancelled
    failed = Signal(object)


class _Run(BackgroundRun):
    signals: _Signals

    def __init__(self, project: Path, trainer_factory: TrainerFactory | None, stop: threading.Event) -> None:
        super().__init__(_Signals(), stop)
        self.project, self.trainer_factory, self.stop = project, trainer_factory, stop

    def work(self) -> Any:
        from bcviewer.labels.label_issues import find_label_errors
        from bcviewer.labels.trainers import trainer_for

        trainer = self.trainer_factory() if self.trainer_factory is not None else trainer_for(None)
        try:
            with LabelStore.open(self.project, readonly=True) as store:
                return find_label_errors(store, trainer, progress=self.signals.progress.emit,
                                         should_stop=self.stop.is_set)
        except SelfLearningCancelled:
            return None


class LabelIssuesWorker(SingleRunWorker):
    """One queue computation at a time on its own thread; signals arrive on the GUI thread."""

    progress = Signal(int, int)
    finished = Signal(object)  # LabelIssueQueue, or None when cancelled
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None, *, trainer_factory: TrainerFactory | None = None) -> None:
        super().__init__(parent)
        self.trainer_factory = trainer_factory

    def start(self, project: Path) -> bool:
        if self.running:
            return False
        run = _Run(project, self.trainer_factory, self.new_stop())
        run.signals.progress.connect(self.progress)
        run.signals.finished.connect(lambda queue: self.done(run, self.finished, queue))
        run.signals.failed.connect(lambda exc: self.done(run, self.failed, exc))
        self.launch(run)
        return True


class LabelIssuesBox(QGroupBox):
    """Find and Cancel, a progress bar and what the last search found."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Likely label errors", parent)
        self.search = QPushButton("Find likely label errors")
        self.search.setToolTip("Train one model per fold of images, score each image with the model that never saw "
                             "it, and list the images whose label that model contradicts most (confident "
                             "learning, both directions; 'bcviewer labels issues'). Changes no label")
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.state = QLabel("Not searched yet.")
        self.state.setWordWrap(True)
        self.current = QLabel("")  # whether the chosen image is in the queue
        self.current.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.search)
        row.addWidget(self.cancel)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.state)
        layout.addWidget(self.current)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        self.search.setEnabled(not running)
        self.cancel.setEnabled(running)
        self.progress.setVisible(running)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"model {min(done + 1, total)} of {total}")
        self.state.setText(f"Training model {min(done + 1, total)} of {total}…" if done < total else "Ranking…")


def issue_note(issue: Any) -> str:
    """The image list's tooltip line for one queued image."""
    return (f"Likely label error #{issue.rank}: labelled {issue.label}, looks {issue.suggested} "
            f"(self-confidence {issue.self_confidence:.3f})")


class LabelIssuesControl:
    """Wires the box and the worker to the panel's image list."""

    def __init__(self, box: LabelIssuesBox, browser: ImageBrowser, project: Callable[[], Path | None],
                 worker: LabelIssuesWorker, failed: Callable[[str, BaseException], None]) -> None:
        self.box, self.browser, self.project, self.worker, self.failed = box, browser, project, worker, failed
        self._searched: Path | None = None
        box.search.clicked.connect(self.start)
        box.cancel.clicked.connect(self.cancel)
        worker.progress.connect(box.set_progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        browser.image_selected.connect(self.show_image)

    def show_image(self, image_id: int) -> None:
        """Say whether the chosen image is a likely label error, and why."""
        issue = self.browser.model.issues.get(image_id)
        self.box.current.setText(f"<b>This image:</b> {issue[1]}" if issue else "")

    def start(self) -> bool:
        path = self.project()
        if path is None or not self.worker.start(path):
            return False
        self._searched = path
        self.box.set_running(True)
        self.box.state.setText("Starting…")
        return True

    def cancel(self) -> None:
        self.worker.cancel()
        self.box.state.setText("Cancelling after the current image…")

    def clear(self) -> None:
        """A project was opened or closed: the last queue belonged to another one."""
        self.worker.cancel()
        self.browser.set_issues({})
        self.box.state.setText("Not searched yet.")
        self.box.current.setText("")

    def _finished(self, queue: Any) -> None:
        self.box.set_running(False)
        if self._searched != self.project():  # another project was opened meanwhile
            return
        if queue is None:
            self.box.state.setText("Cancelled; the list is unchanged.")
            return
        self.browser.set_issues({i.image_id: (i.rank, issue_note(i)) for i in queue.issues})
        self.show_image(self.browser.current_image_id() or -1)
        shown = " The list shows them, most likely first (untick 'Likely label errors' for all)."
        self.box.state.setText(f"{queue.summary()}.{shown if queue.issues else ''}")
        if queue.issues:
            self.browser.issues.setChecked(True)

    def _failed(self, exc: BaseException) -> None:
        self.box.set_running(False)
        self.box.state.setText("Stopped by an error.")
        self.failed("Finding label errors failed", exc)
