"""``MainWindow``: the shell. It creates the workspaces (slide, expression, labeling), the menus,
the status bar and the analysis dock, and connects actions to the workspaces; the workspaces do
the work (see :mod:`bcviewer.gui.slide.workspace` and :mod:`bcviewer.gui.workspaces`)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow

from bcviewer import __version__
from bcviewer.gui import core
from bcviewer.gui.actions import build_actions, icon
from bcviewer.gui.dialogs import show_about
from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.opening import OPEN_FILTER
from bcviewer.gui.settings import ViewerSettings
from bcviewer.gui.slide.analysis import AUTOMATIC_MODEL
from bcviewer.gui.slide.workspace import SlideWorkspace
from bcviewer.gui.slide.status_bar import ViewerStatusBar
from bcviewer.gui.workers import Job, JobRunner
from bcviewer.gui.workspaces import Workspaces, label_project_of
from bcviewer.filenames import escaped_text, is_escaped

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """The viewer window. ``slide`` is the slide workspace (``open``, ``run``, ``export`` ...)."""

    def __init__(self, settings: ViewerSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or ViewerSettings()
        self.setWindowTitle("bcviewer")
        self.setWindowIcon(icon("bcviewer"))
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        self.jobs = JobRunner(1, self)  # the window's own background work: loading the core
        self.status = ViewerStatusBar(self)
        self.setStatusBar(self.status)
        self.action_set = build_actions(self)
        self.slide = SlideWorkspace(self, self.settings, self.action_set, self.status)
        self.workspaces = Workspaces(self, self.slide.canvas, self.status)
        self.slide.labeling_project = lambda: getattr(self.workspaces.labeling_panel, "project", None)
        self.slide.compare.install(self.action_set.view_menu)
        self.setCentralWidget(self.workspaces)
        self.dock = self._build_dock()
        self._connect()
        self._restore_settings()
        self._refresh_recent()
        self._core_requested = False
        self.slide.view.frame_painted.connect(self._load_core)

    def _build_dock(self) -> QDockWidget:
        dock = QDockWidget("Analysis", self)
        dock.setObjectName("analysis-dock")
        dock.setWidget(self.slide.side)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _connect(self) -> None:
        a, s, v = self.action_set, self.slide, self.slide.view
        a.open.triggered.connect(lambda: self.ask_open())
        a.quit.triggered.connect(self.close)
        for kind, action in a.exports.items():
            action.triggered.connect(lambda _=False, k=kind: s.export(k))
        a.zoom_in.triggered.connect(lambda: v.zoom_by(1.5, animate=True))
        a.zoom_out.triggered.connect(lambda: v.zoom_by(1 / 1.5, animate=True))
        a.fit.triggered.connect(v.fit)
        a.actual_size.triggered.connect(v.actual_size)
        a.run.triggered.connect(lambda: s.run())
        a.cancel.triggered.connect(s.cancel)
        a.model_card.triggered.connect(s.show_model_card)
        a.pixel_size.triggered.connect(lambda: s.ask_pixel_size())
        a.about.triggered.connect(lambda: show_about(self, __version__))
        a.model_group.triggered.connect(lambda act: s.choose_model(act.data() or AUTOMATIC_MODEL))
        a.runtime_group.triggered.connect(lambda act: s.set_runtime(act.data()))
        a.magnification_group.triggered.connect(lambda act: s.set_magnification(act.data() or None))
        s.opened.connect(self._on_slide_opened)

    def _restore_settings(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)

    def _load_core(self) -> None:
        """Import the analysis half of the core in the background, once the first frame is shown."""
        if self._core_requested:
            return
        self._core_requested = True
        self.slide.view.frame_painted.disconnect(self._load_core)
        self.jobs.submit(
            core.warm_up,
            on_success=lambda _: self.slide.on_core_ready(),
            on_error=lambda e: report_error(self, "The analysis modules cannot be loaded", e),
        )

    # ---- files ------------------------------------------------------------------------------
    def ask_open(self) -> None:
        """Let the user pick a file to open."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a slide or image", self.settings.last_folder(), OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> Job:
        """Open ``path`` in the slide workspace (scripting entry point)."""
        return self.slide.open(path)

    def _on_slide_opened(self, path: str) -> None:
        self.setWindowTitle(f"{escaped_text(Path(path).name)} – bcviewer")  # Qt drops undecodable bytes
        if is_escaped(path):  # QSettings cannot hold such a name: a recent entry would name another file
            self.statusBar().showMessage(f"{escaped_text(path)}: its name is not UTF-8, so it is not added to "
                                         "the recent files", 10_000)
            return
        self._refresh_recent(self.settings.add_recent_file(path))

    def _refresh_recent(self, files: list[str] | None = None) -> None:
        menu = self.action_set.recent_menu
        menu.clear()
        files = files if files is not None else self.settings.recent_files()
        for f in files:
            menu.addAction(Path(f).name, partial(self.open_path, f)).setToolTip(f)
        if files:
            menu.addSeparator()
            menu.addAction("Clear list", self._clear_recent)
        menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._refresh_recent([])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        project = label_project_of(files[0])  # the slide reader refuses a project by name
        if project is not None:
            self.workspaces.open_labeling_project(project)
        elif self.workspaces.wants_profile(files[0]):
            self.workspaces.expression().open_path(files[0])
        else:
            self.open_path(files[0])

    # ---- state & shutdown -------------------------------------------------------------------
    def is_idle(self) -> bool:
        """True when every workspace is idle and the core is not loading."""
        return self.jobs.pending == 0 and self.slide.is_idle() and self.workspaces.is_idle()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker thread; True when all have finished."""
        ok = self.slide.shutdown(timeout_ms)
        ok = self.jobs.wait(timeout_ms) and ok
        ok = self.workspaces.shutdown(timeout_ms) and ok
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)
