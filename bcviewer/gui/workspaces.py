"""``Workspaces``: the main window's tabs — slide viewer, expression profiles and labeling.

The expression tab (pyqtgraph, pandas) and the labeling panel are built the first time they are
shown or one of their menus is opened, so they add nothing to the time to the first slide frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMainWindow, QMenu, QTabWidget, QWidget

if TYPE_CHECKING:
    from bcviewer.gui.expression import ExpressionTab
    from bcviewer.gui.labeling import LabelingPanel
    from bcviewer.gui.slide.status_bar import ViewerStatusBar

SLIDE, EXPRESSION, LABELING = 0, 1, 2
PROFILE_SUFFIXES = (".csv", ".tsv", ".txt", ".gz")
PROJECT_COMPANIONS = ("-wal", "-shm", "-journal")  # SQLite's files beside a project


def label_project_of(path: str | Path) -> Path | None:
    """The label project a file name means (``P.bcv``, or its ``P.bcv-wal``), else None."""
    file = Path(path)
    name = next((file.name[: -len(c)] for c in PROJECT_COMPANIONS if file.name.lower().endswith(".bcv" + c)),
                file.name)
    return file.with_name(name) if name.lower().endswith(".bcv") else None


class Workspaces(QTabWidget):
    """Tabs of the main window; the slide view is tab 0 and the other two are built on demand."""

    def __init__(self, window: QMainWindow, slide_view: QWidget, status: ViewerStatusBar) -> None:
        super().__init__(window)
        self._window = window
        self._status = status
        self.expression_tab: ExpressionTab | None = None
        self.labeling_panel: LabelingPanel | None = None
        self.setDocumentMode(True)
        self.addTab(slide_view, "Slide")
        self.addTab(QWidget(), "Expression profile")
        self.addTab(QWidget(), "Labeling")
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        self.expression_menu = QMenu("E&xpression", window)
        self.labels_menu = QMenu("&Labels", window)
        for menu in (self.expression_menu, self.labels_menu):
            if help_menu is not None:
                bar.insertMenu(help_menu, menu)
            else:
                bar.addMenu(menu)
        # A placeholder entry keeps the menus openable before their widgets exist.
        self.expression_menu.addAction("Show expression profiles", lambda: self.setCurrentIndex(EXPRESSION))
        self.labels_menu.addAction("Show labeling", lambda: self.setCurrentIndex(LABELING))
        self.expression_menu.aboutToShow.connect(self.expression)
        self.labels_menu.aboutToShow.connect(self.labeling)
        self.currentChanged.connect(self._on_current_changed)

    # ---- lazily built tabs --------------------------------------------------------------------
    def expression(self) -> ExpressionTab:
        """The expression-profile tab, built on first use."""
        if self.expression_tab is None:
            from bcviewer.gui.expression import ExpressionTab

            tab = ExpressionTab(self)
            tab.status_message.connect(self._show_message)
            self.expression_tab = tab
            self._install(EXPRESSION, tab, "Expression profile")
            self.expression_menu.clear()
            for action in (tab.open_action, tab.predict_action, tab.export_action):
                self.expression_menu.addAction(action)
        return self.expression_tab

    def labeling(self) -> LabelingPanel:
        """The labeling panel, built on first use."""
        if self.labeling_panel is None:
            from bcviewer.gui.labeling import LabelingPanel

            panel = LabelingPanel(parent=self)
            panel.message.connect(lambda text: self._show_message(text, 8000))
            panel.project_changed.connect(self._on_project_changed)
            self.labeling_panel = panel
            self._install(LABELING, panel, "Labeling")
            self.labels_menu.clear()
            for action in panel.action_set.project_actions:
                self.labels_menu.addAction(action)
            self.labels_menu.addSeparator()
            for action in panel.action_set.labeling_actions:
                self.labels_menu.addAction(action)
            self.labels_menu.addSeparator()
            self.labels_menu.addActions(panel.annotator.actions)
        return self.labeling_panel

    def _install(self, index: int, widget: QWidget, title: str) -> None:
        current = self.currentIndex()
        placeholder = self.widget(index)
        self.blockSignals(True)  # swapping the page must not look like a tab change
        self.removeTab(index)
        self.insertTab(index, widget, title)
        self.setCurrentIndex(current)
        self.blockSignals(False)
        if placeholder is not None:
            placeholder.deleteLater()

    def open_labeling_project(self, path: str | Path) -> bool:
        """Show the labeling tab and open the project there; False (with a message) when it cannot be."""
        self.setCurrentIndex(LABELING)
        return self.labeling().open_project(path)

    # ---- routing --------------------------------------------------------------------------------
    def wants_profile(self, path: str) -> bool:
        """True when a dropped file should go to the expression tab rather than the slide view."""
        return self.currentIndex() == EXPRESSION and path.lower().endswith(PROFILE_SUFFIXES)

    def is_idle(self) -> bool:
        """False while the expression tab loads or predicts, or the labeling panel reads its project."""
        panel = self.labeling_panel
        labeling = panel is None or not (panel.jobs.pending or panel.overview.busy or panel.project_counts.busy)
        return labeling and (self.expression_tab is None or self.expression_tab.is_idle())

    def shutdown(self, timeout_ms: int) -> bool:
        """Stop the workers of the tabs that were built; True when all finished."""
        ok = True
        if self.expression_tab is not None:
            ok = self.expression_tab.shutdown(timeout_ms) and ok
        if self.labeling_panel is not None:
            ok = self.labeling_panel.shutdown(timeout_ms) and ok
        return ok

    def _on_current_changed(self, index: int) -> None:
        if index == EXPRESSION:
            self.expression()
        elif index == LABELING:
            self.labeling()
        dock = getattr(self._window, "dock", None)
        if dock is not None:
            dock.setVisible(index == SLIDE)  # the analysis dock belongs to the slide view

    def _on_project_changed(self, path: str) -> None:
        title = f"{Path(path).name} – labeling – bcviewer" if path else "bcviewer"
        if self.currentIndex() == LABELING:
            self._window.setWindowTitle(title)

    def _show_message(self, text: str, ms: int = 0) -> None:
        if text:
            self._status.showMessage(text, ms)
        else:
            self._status.clearMessage()
