"""``ReportExport``: File > Export > Report PDF… writes the slide report of the current analysis
(:mod:`bcviewer.export.report`) on a worker thread, with a progress dialog that names each step,
and a dialog when it fails. The viewer hands it what it shows: the scores, the plan, the pixel size
in use, the drawn regions, the heatmap's look and the open labeling project."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui.errors import report_error
from bcviewer.gui.workers import Job, JobRunner

if TYPE_CHECKING:
    from bcviewer.inference import TileScores
    from bcviewer.inference.plan import InputPlan
    from bcviewer.regions import Region
    from bcviewer.slides import SlideReader

STEPS = ("reading the most suspicious tiles", "drawing the heatmap thumbnail", "measuring the regions",
         "reading the label edits", "laying out the pages", "writing the file")


class ReportCancelled(BcviewerError):
    """The user stopped the report before it was written; nothing was written."""


def write_slide_report(target: str, slide: SlideReader, scores: TileScores, plan: InputPlan | None,
                       options: dict[str, Any], progress: Callable[[str], object],
                       stop: threading.Event) -> Path:
    """Gather, render and write the report (worker thread); ``stop`` is checked between steps."""
    from bcviewer.export.files import atomic_write_bytes
    from bcviewer.export.report import render_report, slide_report
    from bcviewer.output_kinds import check_output_file

    def step(text: str) -> None:
        if stop.is_set():
            raise ReportCancelled("the report was cancelled; nothing was written")
        progress(text)

    check_output_file(target, "pdf", "the report", force=True)  # the save dialog asked before replacing
    report = slide_report(slide, scores, plan, progress=step, **options)
    step("laying out the pages")
    data = render_report(report)
    step("writing the file")
    return atomic_write_bytes(target, data)


class ReportExport(QObject):
    """One report at a time, written in the background (see the module docstring)."""

    step = Signal(str)  # emitted on the worker thread; Qt queues it to the dialog

    def __init__(self, window: QWidget, jobs: JobRunner, show_message: Callable[[str, int], object]) -> None:
        super().__init__(window)
        self._window, self._jobs, self._show_message = window, jobs, show_message
        self._stop = threading.Event()
        self.job: Job | None = None
        self.dialog: QProgressDialog | None = None
        self.step.connect(self._on_step)

    def start(self, target: str, slide: SlideReader, scores: TileScores, plan: InputPlan | None, *,
              mpp: float | None, regions: Sequence[Region], project: Path | None, look: dict[str, Any]) -> Job:
        """Write the report of ``scores`` to ``target``; returns the job."""
        self._stop = threading.Event()
        dialog = QProgressDialog("Writing the report …", "Cancel", 0, len(STEPS), self._window)
        dialog.setWindowTitle("Export report")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(self._stop.set)
        self.dialog = dialog
        options = {"mpp": mpp, "regions": list(regions), "project": project, **look}
        stop = self._stop
        self.job = self._jobs.submit(write_slide_report, target, slide, scores, plan, options, self.step.emit, stop,
                                     on_success=self._on_done, on_error=self._on_error)
        return self.job

    def _on_step(self, text: str) -> None:
        if self.dialog is not None:
            self.dialog.setLabelText(f"Writing the report: {text} …")
            self.dialog.setValue(STEPS.index(text) + 1 if text in STEPS else self.dialog.value())

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.deleteLater()
            self.dialog = None
        self.job = None

    def _on_done(self, path: Path) -> None:
        self._close()
        self._show_message(f"Saved the report {path}", 8000)

    def _on_error(self, exc: BaseException) -> None:
        self._close()
        if isinstance(exc, ReportCancelled):
            self._show_message(str(exc).capitalize(), 8000)
            return
        report_error(self._window, "The report could not be written", exc)
