"""The labeling panel's actions: project menu items and the labeling keys.

The labeling keys (B, M, Space, X, L, Ctrl+Z, Page Up/Down) are shortcuts of the sub-image grid
and the image list only (``WidgetWithChildrenShortcut``, see :func:`bind_keys`): they act while
one of those has the keyboard focus, so they never collide with the slide viewer's keys, and
Space or a letter typed in a filter or a schedule field keeps its usual meaning. The project
actions have no shortcut of their own; a window that puts them in its File menu may give them one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass
class LabelingActions:
    """Every action of the panel; connect ``triggered`` or put them in menus."""

    open_project: QAction
    new_project: QAction
    import_folder: QAction
    import_files: QAction
    label_benign: QAction
    label_malignant: QAction
    accept: QAction
    reject: QAction
    lock: QAction
    undo: QAction
    next_image: QAction
    previous_image: QAction
    accept_above: QAction
    run_selflearning: QAction
    cancel_selflearning: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]

    def set_state(self, has_project: bool, running: bool, can_undo: bool) -> None:
        """Enable what makes sense: labeling with a project, opening another when no run uses this one."""
        for action in self.labeling_actions + [self.import_folder, self.import_files]:
            action.setEnabled(has_project)
        self.undo.setEnabled(has_project and can_undo)
        self.run_selflearning.setEnabled(has_project and not running)
        self.cancel_selflearning.setEnabled(running)
        self.open_project.setEnabled(not running)
        self.new_project.setEnabled(not running)

    @property
    def project_actions(self) -> list[QAction]:
        """For a File menu: open, new, import a folder, import files."""
        return [self.open_project, self.new_project, self.import_folder, self.import_files]

    @property
    def labeling_actions(self) -> list[QAction]:
        """For a Labels menu, in menu order."""
        return [self.label_benign, self.label_malignant, self.accept, self.reject, self.lock, self.undo,
                self.previous_image, self.next_image, self.accept_above, self.run_selflearning,
                self.cancel_selflearning]


def _action(panel: QWidget, text: str, tip: str, key: str | QKeySequence | None = None) -> QAction:
    action = QAction(text, panel)
    if key is not None:
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        tip = f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip)
    action.setStatusTip(tip)
    return action


def bind_keys(actions: LabelingActions, widgets: list[QWidget]) -> None:
    """Make the labeling keys work while the focus is in one of ``widgets`` (or their children)."""
    for action in actions.labeling_actions:
        if not action.shortcut().isEmpty():
            for widget in widgets:
                widget.addAction(action)


def build_labeling_actions(panel: QWidget) -> LabelingActions:
    """Create the actions on ``panel``; the panel connects their triggers."""
    return LabelingActions(
        open_project=_action(panel, "Open Labeling &Project…", "Open a labeling project file (.bcv)"),
        new_project=_action(panel, "&New Labeling Project…", "Create an empty labeling project file"),
        import_folder=_action(panel, "Import Image &Folder…", "Add the BreakHis images of a folder to the project"),
        import_files=_action(panel, "Import Image F&iles…", "Add BreakHis images, or the images a .txt/.csv list names"),
        label_benign=_action(panel, "Label &benign", "Label the selected sub-images benign", "B"),
        label_malignant=_action(panel, "Label &malignant", "Label the selected sub-images malignant", "M"),
        accept=_action(panel, "&Accept proposal", "Accept the proposals on the selected sub-images", "Space"),
        reject=_action(panel, "&Reject proposal", "Reject the proposals on the selected sub-images", "X"),
        lock=_action(panel, "&Lock / unlock", "Lock the selected sub-images (unlock when all are locked)", "L"),
        undo=_action(panel, "&Undo", "Undo the last labeling action", QKeySequence.StandardKey.Undo),
        next_image=_action(panel, "&Next image", "Go to the next image of the list", "PgDown"),
        previous_image=_action(panel, "&Previous image", "Go to the previous image of the list", "PgUp"),
        accept_above=_action(panel, "Accept all &above…", "Accept every pending proposal at or above the confidence"),
        run_selflearning=_action(panel, "Run &self-learning", "Run self-learning rounds in the background"),
        cancel_selflearning=_action(panel, "&Cancel self-learning", "Stop the self-learning run after its current step"),
    )
