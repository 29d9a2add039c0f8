"""``CompareController``: two slides side by side, with synchronised pan and zoom.

Two uses, the two the pathologist asks for:

* **Open beside…**: another slide (a re-cut, another stain) on the right, linked to the left
  view by µm (:mod:`bcviewer.gui.slide.view_link`). Run analyses the left slide; *Swap* moves the
  right slide to the left to analyse it.
* **Compare thresholds**: the slide on the left again, on the right, with the same heatmap at
  its own threshold; it follows the left heatmap as a run fills it in.

The right view reads its own tiles on its own reader threads, so neither view waits on the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QSplitter, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.compare_pane import ComparePane, LeftHeading, mirror_heatmap
from bcviewer.gui.slide.opening import OPEN_FILTER, open_for_view
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.slide.view_link import ViewLink
from bcviewer.gui.workers import Job, JobRunner
from bcviewer.slides import SlideReader

CompareMode = Literal["closed", "slide", "thresholds"]
SECOND_THRESHOLD = 0.5  # the models' decision threshold: what "malignant" means in every output
FOLLOW_INTERVAL_MS = 500


class CompareController(QObject):
    """Owns the splitter that holds the left view and the :class:`ComparePane`, and the link."""

    def __init__(self, window: QWidget, left: SlideView, jobs: JobRunner,
                 left_path: Callable[[], Path | None], left_mpp: Callable[[], float | None],
                 open_left: Callable[[str], object], last_folder: Callable[[], str]) -> None:
        super().__init__(window)
        self._window, self.left, self.jobs = window, left, jobs
        self._left_path, self._left_mpp, self._open_left, self._last_folder = left_path, left_mpp, open_left, last_folder
        self.pane = ComparePane()
        self.pane.hide()
        self.canvas = QSplitter(Qt.Orientation.Horizontal)
        self.canvas.setChildrenCollapsible(False)
        self.left_heading = LeftHeading(left)
        self.canvas.addWidget(self.left_heading)
        self.canvas.addWidget(self.pane)
        self.link = ViewLink(left, self.pane.view, self)
        self.mode: CompareMode = "closed"
        self.right_path: Path | None = None
        self._open_job: Job | None = None
        self.open_beside_action = QAction("Open &Beside…", window)
        self.open_beside_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_beside_action.setToolTip("Open a second slide to the right, panned and zoomed with this one")
        self.thresholds_action = QAction("Compare &Thresholds", window)
        self.thresholds_action.setToolTip("Show this slide twice, side by side, each heatmap at its own threshold")
        self.close_action = QAction("Close Side by Side", window)
        self.close_action.setEnabled(False)
        self.open_beside_action.triggered.connect(lambda: self.ask_open_beside())
        self.thresholds_action.triggered.connect(lambda: self.compare_thresholds())
        self.close_action.triggered.connect(self.close)
        self.pane.link_toggled.connect(self._on_link_toggled)
        self.pane.swap_requested.connect(self.swap)
        self.pane.close_requested.connect(self.close)
        self.link.changed.connect(self._show_heading)
        # A run streams thousands of batches on a large slide: copy its heatmap at most twice a second.
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(FOLLOW_INTERVAL_MS)
        self._follow_timer.timeout.connect(self.follow_scores)

    def install(self, view_menu: QMenu) -> None:
        """Add the comparison's actions to the window's View menu."""
        view_menu.addSeparator()
        for action in (self.open_beside_action, self.thresholds_action, self.close_action):
            view_menu.addAction(action)

    # ---- starting a comparison ----------------------------------------------------------------
    def ask_open_beside(self) -> None:
        """Let the user pick the slide to show beside the open one."""
        if not self._require_left():
            return
        path, _ = QFileDialog.getOpenFileName(self._window, "Open a slide beside this one", self._last_folder(),
                                              OPEN_FILTER)
        if path:
            self.open_beside(path)

    def open_beside(self, path: str | Path) -> Job | None:
        """Open ``path`` on the right (in the background) and link it to the left view."""
        if not self._require_left():
            return None
        return self._open_right(Path(path), "slide")

    def compare_thresholds(self) -> Job | None:
        """Show the left slide again on the right, its heatmap at :data:`SECOND_THRESHOLD` (or
        0.75 when the left one is already at 0.5)."""
        path = self._left_path()
        if not self._require_left() or path is None:
            return None
        return self._open_right(path, "thresholds")

    def _require_left(self) -> bool:
        if self.left.reader is None:
            report_error(self._window, "Nothing to compare",
                         BcviewerError("Open a slide first (File > Open); the comparison shows a second view beside it."))
            return False
        return True

    def _open_right(self, path: Path, mode: CompareMode) -> Job:
        job: Job = self.jobs.submit(open_for_view, str(path), on_success=lambda r: self._on_opened(job, path, mode, r),
                                    on_error=lambda e: self._on_open_failed(job, e))
        self._open_job = job
        return job

    def _on_opened(self, job: Job, path: Path, mode: CompareMode, result: tuple[SlideReader, QImage]) -> None:
        reader, thumbnail = result
        if job is not self._open_job or self.left.reader is None:  # replaced, or the left slide closed
            self.pane.view.loader.close_reader_later(reader)
            return
        self._open_job = None
        self.mode, self.right_path = mode, path
        self.pane.show()
        if self.canvas.sizes()[1] == 0 or self.pane.width() < 50:
            half = max(1, self.canvas.width() // 2)
            self.canvas.setSizes([half, half])
        self.pane.view.set_slide(reader, thumbnail)
        if mode == "thresholds":
            self.follow_scores()
            left = self.left.heatmap.threshold
            self.pane.set_threshold(0.75 if abs(left - SECOND_THRESHOLD) < 1e-9 else SECOND_THRESHOLD)
        right_mpp = self._left_mpp() if mode == "thresholds" else reader.mpp
        self.link.reset(self._left_mpp(), right_mpp)
        self.pane.link.setChecked(True)
        self.close_action.setEnabled(True)
        self._show_heading()

    def _on_open_failed(self, job: Job, exc: BaseException) -> None:
        if job is self._open_job:
            self._open_job = None
            report_error(self._window, "Cannot open the slide beside", exc)

    # ---- while comparing ----------------------------------------------------------------------
    def schedule_follow(self, *_args: object) -> None:
        """The left heatmap changed: copy it to the right one soon (see :meth:`follow_scores`)."""
        if self.mode == "thresholds" and not self._follow_timer.isActive():
            self._follow_timer.start()

    def follow_scores(self) -> None:
        """Copy the left heatmap to the right one when comparing thresholds (after each update)."""
        if self.mode == "thresholds":
            threshold = self.pane.view.heatmap.threshold
            mirror_heatmap(self.left.heatmap, self.pane.view.heatmap)
            self.pane.view.heatmap.set_threshold(threshold)
            self.pane.view.update()

    def left_opened(self) -> None:
        """A new slide on the left: a threshold comparison of the old one ends; a slide beside
        stays, linked afresh by the two pixel sizes."""
        if self.mode == "thresholds":
            self.close()
        elif self.mode == "slide" and self.pane.view.reader is not None:
            self.link.reset(self._left_mpp(), self.pane.view.reader.mpp)
            self.pane.link.setChecked(True)

    def swap(self) -> None:
        """Move the right slide to the left (where Run analyses it) and the left one to the right."""
        left, right = self._left_path(), self.right_path
        if self.mode != "slide" or left is None or right is None:
            return
        self._open_left(str(right))
        self._open_right(left, "slide")

    def close(self) -> None:
        """End the comparison; the right view's reader is closed in the background."""
        self._open_job = None
        self.mode, self.right_path = "closed", None
        self.pane.view.clear_slide()
        self.pane.hide()
        self.left_heading.show_heading(None)
        self.close_action.setEnabled(False)

    def _on_link_toggled(self, on: bool) -> None:
        self.link.set_linked(on)

    def refresh_heading(self) -> None:
        """Say again what the views show (the left heatmap's threshold changed)."""
        self._show_heading()

    def _show_heading(self) -> None:
        if self.mode == "closed" or self.right_path is None:
            return
        what = "same slide, own threshold" if self.mode == "thresholds" else self.right_path.name
        note = self.link.frame.note if self.link.linked else "not linked: pan and zoom this view alone"
        self.pane.show_heading(what, str(self.right_path), note, has_heatmap=self.mode == "thresholds")
        left = self._left_path()
        self.left_heading.show_heading(
            None if left is None else left.name + (f" · threshold {self.left.heatmap.threshold:.2f}"
                                                  if self.mode == "thresholds" else ""))
        self.pane.swap.setVisible(self.mode == "slide")

    def shutdown(self) -> bool:
        """Stop the right view's reader threads; True when they finished."""
        return self.pane.view.shutdown()
