"""``QualityControl``: the slide workspace's quality control — the job (:class:`QcController`),
its layer and panel, and its two actions (Analysis > Check quality, View > QC layer) — in step.

Quality control runs on its own, with its own progress bar and Cancel, before any analysis; the
analysis then takes the finished result (:meth:`usable`) instead of checking the tiles again. When
the workspace asks for QC before an analysis (:meth:`check` with ``then``), the analysis starts
only once every tile is checked: cancelling QC cancels that analysis too, and the panel says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QStatusBar, QWidget

from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.qc_layer import QcLayer, QcPanel
from bcviewer.gui.slide.qc_run import QcController
from bcviewer.gui.slide.view import SlideView
from bcviewer.slides import SlideReader

if TYPE_CHECKING:
    from bcviewer.inference.plan import PlanOptions
    from bcviewer.qc import GridQc


def _menu_of(action: QAction) -> QMenu | None:
    return next((o for o in action.associatedObjects() if isinstance(o, QMenu)), None)


class QualityControl(QObject):
    """Quality control of the open slide in the viewer (see the module docstring)."""

    def __init__(self, window: QWidget, view: SlideView, status: QStatusBar, run_action: QAction,
                 layer_after: QAction) -> None:
        super().__init__(window)
        self._window, self._view, self._status = window, view, status
        self.controller = QcController(self)
        self.layer = QcLayer()
        self.panel = QcPanel()
        self.check_action = QAction("Check &quality", window)
        self.check_action.setStatusTip("Check every tile for glass, pen ink, folds, staining and blur")
        self.layer_action = QAction("&QC layer", window)
        self.layer_action.setCheckable(True)
        self.layer_action.setStatusTip("Paint each tile by its quality-control class")
        # In the window's own menus: Check quality before Run analysis, QC layer after the View toggles.
        analysis_menu, view_menu = _menu_of(run_action), _menu_of(layer_after)
        if analysis_menu is not None:
            analysis_menu.insertAction(run_action, self.check_action)
        if view_menu is not None:
            view_menu.addAction(self.layer_action)
        view.overlay_painters.insert(0, self.layer.paint)  # under the regions' outlines
        self._then: Callable[[], object] | None = None  # the analysis waiting for this QC
        self._reader: Callable[[], SlideReader | None] = lambda: view.reader
        self._options: Callable[[], PlanOptions] | None = None
        c = self.controller
        c.started.connect(lambda: self.panel.show_running(0, 0))
        c.grid_ready.connect(lambda grid: self.panel.show_running(0, len(grid)))
        c.progress.connect(self.panel.show_running)
        c.finished.connect(self._on_finished)
        c.cancelled.connect(self._on_cancelled)
        c.failed.connect(self._on_failed)
        self.panel.check_requested.connect(self.check_action.trigger)
        self.panel.cancel_requested.connect(self.cancel)
        self.panel.layer_toggled.connect(self.layer_action.setChecked)
        self.layer_action.toggled.connect(self.set_layer_visible)
        self.check_action.triggered.connect(lambda: self.check())

    def bind_options(self, options: Callable[[], PlanOptions]) -> None:
        """Where :meth:`check` gets the plan options of the open slide (the workspace's session)."""
        self._options = options

    @property
    def running(self) -> bool:
        return self.controller.running

    def usable(self) -> GridQc | None:
        """The open slide's finished QC (every tile checked), for the analysis's plan."""
        return self.controller.usable()

    def set_slide(self) -> None:
        """A new slide: nothing of the previous one's QC carries over."""
        self._then = None
        self.controller.detach()
        self.layer.set_result(None)
        self.panel.reset()

    def check(self, then: Callable[[], object] | None = None) -> bool:
        """Check the open slide's tiles in the background; ``then`` runs once every tile is checked.
        False without a slide."""
        reader = self._reader()
        if reader is None or self._options is None:
            self._status.showMessage("Open a slide or image first (File > Open), then check its quality", 8000)
            return False
        if self.controller.running and then is not None:  # already checking: the analysis waits for it
            self._then = then
            return True
        self._then = then
        self.layer.set_result(None)
        self.controller.start(reader, self._options())
        return True

    def cancel(self) -> bool:
        """Stop QC (and the analysis waiting for it); False when none runs."""
        if not self.controller.cancel():
            return False
        self._status.showMessage("Cancelling quality control …", 4000)
        return True

    def set_layer_visible(self, on: bool) -> None:
        self.layer.visible = on
        self.panel.layer_box.blockSignals(True)
        self.panel.layer_box.setChecked(on)
        self.panel.layer_box.blockSignals(False)
        self._view.update()

    def _show(self, result: GridQc, status: str) -> None:
        from bcviewer.qc import summarise

        self.layer.set_result(result)
        self.panel.show_summary(summarise(result.grid, result.results), status)
        self._view.update()

    def _on_finished(self, result: GridQc) -> None:
        flagged = sum(not r.ok for r in result.results)
        self._show(result, f"{len(result.results)} tiles checked: {flagged} will be left out of the analysis")
        then, self._then = self._then, None
        if then is not None:
            then()

    def _on_cancelled(self, result: GridQc) -> None:
        waiting, self._then = self._then is not None, None
        status = f"Cancelled after {len(result.results)} of {len(result.grid)} tiles (legend: those checked)."
        if waiting:
            status += " The analysis was not started: Run checks every tile again first."
        self._show(result, status)
        self._status.showMessage(status, 10000)

    def _on_failed(self, exc: BaseException) -> None:
        then, self._then = self._then, None
        if then is not None:  # the analysis plans the same grid and reports the same error its own way
            self.panel.show_summary(None, f"Quality control could not run: {exc}")
            then()
            return
        message = report_error(self._window, "Quality control failed", exc)
        self.panel.show_summary(None, message.splitlines()[0])
