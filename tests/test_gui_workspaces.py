"""The main window's tabs: expression profiles and labeling live beside the slide view."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import dialogs, settings, window  # noqa: F401
from labels_helpers import fixture_project
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from bcviewer.gui.expression import ExpressionTab
from bcviewer.gui.labeling import LabelingPanel
from bcviewer.gui.workspaces import EXPRESSION, LABELING, SLIDE


def _drop(win, path: Path) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    win.dragEnterEvent(QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                       Qt.KeyboardModifier.NoModifier))
    win.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))


def _menu_titles(win) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.text() for a in win.menuBar().actions()]


def test_tabs_are_built_on_first_show(qtbot, window) -> None:  # noqa: F811
    tabs = window.workspaces
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Slide", "Expression profile", "Labeling"]
    assert tabs.expression_tab is None and tabs.labeling_panel is None  # nothing heavy at start-up
    assert _menu_titles(window) == ["&File", "&View", "&Analysis", "E&xpression", "&Labels", "&Help"]
    assert window.dock.isVisible()

    tabs.setCurrentIndex(EXPRESSION)
    assert isinstance(tabs.widget(EXPRESSION), ExpressionTab) and tabs.currentIndex() == EXPRESSION
    assert not window.dock.isVisible()  # the slide analysis dock is hidden beside profiles
    assert [a.text() for a in tabs.expression_menu.actions()] == [
        a.text() for a in (tabs.expression_tab.open_action, tabs.expression_tab.predict_action,
                           tabs.expression_tab.export_action)]

    tabs.setCurrentIndex(LABELING)
    panel = tabs.widget(LABELING)
    assert isinstance(panel, LabelingPanel) and panel is tabs.labeling()
    labels_actions = [a for a in tabs.labels_menu.actions() if not a.isSeparator()]
    assert labels_actions == [*panel.action_set.project_actions, *panel.action_set.labeling_actions,
                              *panel.annotator.actions]  # Annotator Name…, Reason for the Last Change…

    tabs.setCurrentIndex(SLIDE)
    assert window.dock.isVisible() and tabs.currentWidget() is window.slide.canvas  # the view (and one beside it)


def test_dropping_a_profile_on_the_expression_tab_loads_it(qtbot, window, test_data: Path) -> None:  # noqa: F811
    tabs = window.workspaces
    tabs.setCurrentIndex(EXPRESSION)
    profile = test_data / "genes" / "tcga_er_pam50_160.csv"
    with qtbot.waitSignal(tabs.expression_tab.profile_loaded, timeout=30_000):
        _drop(window, profile)
    assert window.slide.view.reader is None  # the slide view was not asked to open a CSV
    qtbot.waitUntil(window.is_idle, timeout=30_000)


def test_labeling_tab_opens_a_project(qtbot, window, test_data: Path, tmp_path: Path) -> None:  # noqa: F811
    project = tmp_path / "p.bcv"
    with fixture_project(project, test_data / "breakhis"):
        pass
    window.workspaces.setCurrentIndex(LABELING)
    panel = window.workspaces.labeling_panel
    with qtbot.waitSignal(panel.overview_loaded, timeout=30_000):
        assert panel.open_project(project)
    assert window.windowTitle() == "p.bcv – labeling – bcviewer"
    panel.close_project()
