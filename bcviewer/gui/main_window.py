"""``MainWindow``: workspace tabs, the analysis dock, menus, status bar, drag and drop, settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGroupBox,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from bcviewer import __version__
from bcviewer.errors import BcviewerError
from bcviewer.gui import core
from bcviewer.gui.actions import build_actions, check_runtime, fill_model_menu, icon
from bcviewer.gui.dialogs import show_about, show_model_card
from bcviewer.gui.errors import report_error
from bcviewer.gui.opening import OPEN_FILTER, open_for_view
from bcviewer.gui.settings import ViewerSettings
from bcviewer.gui.slide.analysis import (
    AUTOMATIC_MODEL,
    AnalysisController,
    available_models,
    read_model_card,
)
from bcviewer.gui.slide.analysis_events import AnalysisEventsMixin
from bcviewer.gui.slide.analysis_panel import AnalysisPanel
from bcviewer.gui.slide.overlay_binding import OverlayBinding
from bcviewer.gui.slide.overlay_controls import OverlayControls
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.status_bar import ViewerStatusBar
from bcviewer.gui.window_parts import ExportMixin, ScaleMixin
from bcviewer.gui.workers import Job, JobRunner
from bcviewer.gui.workspaces import Workspaces
from bcviewer.slides import SUPPORTED_FORMATS, SlideReader

if TYPE_CHECKING:  # PyTorch-backed core modules load after the first frame (see gui.core)
    from bcviewer.inference import TileScores
    from bcviewer.nets import LoadedModel

log = logging.getLogger(__name__)


class MainWindow(AnalysisEventsMixin, ScaleMixin, ExportMixin, QMainWindow):
    """The viewer window. ``open_path`` and ``run_analysis`` are its scripting entry points."""

    slide_opened = Signal(str)
    open_failed = Signal(str)

    def __init__(self, settings: ViewerSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or ViewerSettings()
        self.setWindowTitle("bcviewer")
        self.setWindowIcon(icon("bcviewer"))
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        self.view = SlideView(self)
        self.jobs = JobRunner(2, self)
        self.analysis = AnalysisController(self)
        self.scores: TileScores | None = None
        self.path: Path | None = None
        self.model_override: str | None = None  # `bcviewer open --model NAME`, for this session only
        self.mpp_override: float | None = None  # `bcviewer open --mpp UM`, for this session only
        self.user_mpp: float | None = None  # the user's µm/px for the open slide when it records none
        self.user_magnification: int | None = None  # Analysis > Magnification for the open image
        self._open_job: Job | None = None
        self.status = ViewerStatusBar(self)
        self.setStatusBar(self.status)
        self.actions = build_actions(self)
        self.workspaces = Workspaces(self, self.view, self.status)
        self.setCentralWidget(self.workspaces)
        self._build_dock()
        self._connect()
        self._restore_settings()
        self._refresh_recent()
        self._core_requested = False
        self.view.frame_painted.connect(self._load_core)

    # ---- construction -----------------------------------------------------------------------
    def _build_dock(self) -> None:
        self.panel = AnalysisPanel()
        self.overlay_controls = OverlayControls()
        box = QGroupBox("Heatmap")
        QVBoxLayout(box).addWidget(self.overlay_controls)
        side = QWidget()
        side.setFixedWidth(360)  # results must not resize the slide view when they arrive
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        layout.addWidget(box)
        layout.addStretch(1)
        self.dock = QDockWidget("Analysis", self)
        self.dock.setObjectName("analysis-dock")
        self.dock.setWidget(side)
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

    def _connect(self) -> None:
        a, v = self.actions, self.view
        a.open.triggered.connect(lambda: self.ask_open())
        a.quit.triggered.connect(self.close)
        for kind, action in a.exports.items():
            action.triggered.connect(lambda _=False, k=kind: self.export(k))
        a.zoom_in.triggered.connect(lambda: v.zoom_by(1.5, animate=True))
        a.zoom_out.triggered.connect(lambda: v.zoom_by(1 / 1.5, animate=True))
        a.fit.triggered.connect(v.fit)
        a.actual_size.triggered.connect(v.actual_size)
        a.run.triggered.connect(lambda: self.run_analysis())
        a.cancel.triggered.connect(self.cancel_analysis)
        a.model_card.triggered.connect(self._show_model_card)
        a.pixel_size.triggered.connect(lambda: self.ask_pixel_size())
        a.about.triggered.connect(lambda: show_about(self, __version__))
        a.model_group.triggered.connect(lambda act: self._choose_model(act.data()))
        a.runtime_group.triggered.connect(lambda act: self.set_runtime(act.data()))
        a.magnification_group.triggered.connect(lambda act: self.set_magnification(act.data() or None))
        self.panel.run_requested.connect(lambda: self.run_analysis())
        self.panel.cancel_requested.connect(self.cancel_analysis)
        v.cursor_moved.connect(self.status.set_cursor)
        v.view_changed.connect(lambda: self.status.set_zoom(v.scale))
        v.level_changed.connect(lambda lv: self.status.set_level(lv, v.reader.level_count if v.reader else 0))
        v.tile_hovered.connect(lambda i: self.status.set_tile(None if i is None else v.heatmap.info(i)))
        v.read_failed.connect(lambda msg: report_error(self, "Cannot read the slide", BcviewerError(msg)))
        c = self.analysis
        c.started.connect(self._on_analysis_started)
        c.model_ready.connect(self._on_model_ready)
        c.notes_ready.connect(self._on_notes)
        c.tissue_ready.connect(self.view.heatmap.set_tissue)
        c.grid_ready.connect(self._on_grid_ready)
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_finished)
        c.cancelled.connect(self._on_cancelled)
        c.failed.connect(self._on_failed)

    def _restore_settings(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        self.overlay = OverlayBinding(self.view, self.overlay_controls, self.actions, self.settings)
        self.overlay.grid_shown.connect(self._show_grid_preview)
        self.set_runtime(self.settings.runtime())

    def _load_core(self) -> None:
        """Import the PyTorch half of the core in the background, once the first frame is shown."""
        if self._core_requested:
            return
        self._core_requested = True
        self.view.frame_painted.disconnect(self._load_core)
        self.jobs.submit(
            core.warm_up,
            on_success=lambda _: self._on_core_ready(),
            on_error=lambda e: report_error(self, "The analysis modules cannot be loaded", e),
        )

    def _on_core_ready(self) -> None:
        self._refresh_models()
        self.overlay.refresh_controls()
        if self.view.reader is not None:
            self.status.set_slide(self.view.reader, self.user_mpp)
            self.status.set_zoom(self.view.scale)
            if not self.analysis.running:
                self._describe_model()

    # ---- files ------------------------------------------------------------------------------
    def ask_open(self) -> None:
        """Let the user pick a file to open."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a slide or image", self.settings.last_folder(), OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> Job:
        """Open ``path`` in the background; the view switches when the slide is ready."""
        text = str(Path(path).expanduser())
        self.status.showMessage(f"Opening {Path(text).name} …")
        job = self.jobs.submit(
            open_for_view,
            text,
            on_success=lambda r, p=text: self._on_opened(job, p, r),
            on_error=lambda e, p=text: self._on_open_failed(job, p, e),
        )
        self._open_job = job
        return job

    def _on_opened(self, job: Job, path: str, result: tuple[SlideReader, QImage]) -> None:
        reader, thumbnail = result
        if job is not self._open_job:  # another file was asked for meanwhile
            self.view.loader.close_reader_later(reader)
            return
        self._open_job = None
        self.analysis.detach()
        self.scores = None
        self.path = Path(path)
        self.view.set_slide(reader, thumbnail)
        self.user_mpp = None if reader.mpp else (self.mpp_override or self.settings.pixel_size(path))
        self.reset_magnification()
        self.view.user_mpp = self.user_mpp
        self.view.heatmap.show_grid = self.actions.grid.isChecked()
        self.status.set_slide(reader, self.user_mpp)
        self.status.set_zoom(self.view.scale)
        self.status.set_level(self.view.current_level, reader.level_count)
        self.status.showMessage(
            f"{self.path.name}: {reader.dimensions[0]} x {reader.dimensions[1]} px, "
            f"{reader.level_count} level(s), {reader.format}",
            8000,
        )
        self.setWindowTitle(f"{self.path.name} – bcviewer")
        self.panel.show_ready()
        self.panel.set_warnings([])
        self.panel.set_model_name("automatic (by image type)")
        self._describe_model()
        self._set_exports_enabled(False)
        self._refresh_recent(self.settings.add_recent_file(path))
        if self.actions.grid.isChecked():
            self._show_grid_preview()
        self.slide_opened.emit(path)

    def _on_open_failed(self, job: Job, path: str, exc: BaseException) -> None:
        if job is not self._open_job:
            return
        self._open_job = None
        self.status.clearMessage()
        message = report_error(self, "Cannot open the file", exc)
        self.open_failed.emit(message)

    def _refresh_recent(self, files: list[str] | None = None) -> None:
        menu = self.actions.recent_menu
        menu.clear()
        files = files if files is not None else self.settings.recent_files()
        for f in files:
            menu.addAction(Path(f).name, lambda p=f: self.open_path(p)).setToolTip(f)
        if files:
            menu.addSeparator()
            menu.addAction("Clear list", lambda: (self.settings.clear_recent_files(), self._refresh_recent([])))
        menu.setEnabled(bool(files))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        if self.workspaces.wants_profile(files[0]):
            self.workspaces.expression().open_path(files[0])
        else:
            self.open_path(files[0])

    # ---- analysis ---------------------------------------------------------------------------
    def run_analysis(self, model: str | LoadedModel | None = None) -> bool:
        """Start analysing the open slide (cancelling a run in progress); False without a slide."""
        reader = self.view.reader
        if reader is None:
            report_error(
                self,
                "Nothing to analyse",
                BcviewerError(f"Open a slide or image first (File > Open). Supported: {SUPPORTED_FORMATS}"),
            )
            return False
        choice = model if model is not None else (self.model_override or self.settings.model_name() or AUTOMATIC_MODEL)
        self.scores = None
        self.view.heatmap.clear()
        self.view.update()
        self._set_exports_enabled(False)
        self.analysis.start(reader, choice, mpp=self.user_mpp, magnification=self.user_magnification)
        return True

    def _model_choice(self, reader: SlideReader) -> str:
        return self.model_override or self.analysis.model_for(reader, self.settings.model_name())

    def cancel_analysis(self) -> None:
        if self.analysis.cancel():
            self.status.showMessage("Cancelling after the current batch …", 4000)

    def _refresh_models(self) -> None:
        fill_model_menu(self.actions, available_models(), self.settings.model_name())

    def set_runtime(self, runtime: str) -> None:
        """Run the next analyses on ``runtime`` (auto, onnx, torch, int8) and remember it."""
        self.settings.set_runtime(runtime)
        self.analysis.runtime = self.settings.runtime()
        check_runtime(self.actions, self.analysis.runtime)

    def _choose_model(self, name: str) -> None:
        self.model_override = None
        self.settings.set_model_name(name or AUTOMATIC_MODEL)
        if self.view.reader is not None and core.is_ready():
            self._describe_model()

    def _show_model_card(self) -> None:
        if self.analysis.model is not None:
            show_model_card(self, self.analysis.model.card)
            return
        choice = self.model_override or self.settings.model_name()
        self.jobs.submit(
            read_model_card,
            self.view.reader,
            choice,
            on_success=lambda card: show_model_card(self, card),
            on_error=lambda e: report_error(self, "No model card", e),
        )

    # ---- state & shutdown -------------------------------------------------------------------
    def is_idle(self) -> bool:
        """True when no file is opening, no analysis runs and the visible tiles are all drawn."""
        return (
            self._open_job is None
            and not self.analysis.running
            and self.jobs.pending == 0
            and self.view.is_settled()
            and self.workspaces.is_idle()
        )

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker thread; True when all have finished."""
        self.analysis.detach()
        ok = self.analysis.wait(timeout_ms)
        ok = self.jobs.wait(timeout_ms) and ok
        ok = self.view.shutdown() and ok
        ok = self.workspaces.shutdown(timeout_ms) and ok
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)
