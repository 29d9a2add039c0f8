"""The labeling panel's actions: project menu items and the labeling keys.

The labeling keys (B, M, Space, X, L, Ctrl+Z, Page Up/Down, ] and [) act while the sub-image grid or the
image list has the keyboard focus (see :class:`LabelingKeys`), even when the window hosting the
panel uses the same keys for its own shortcuts (the viewer's M toggles its minimap); elsewhere
(a filter, the tau field) Space and letters keep their usual meaning. The actions still carry
their keys so that menus show them. The project actions have no key; a window that puts them in
its File menu may give them one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QEvent, QKeyCombination, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QWidget

from bcviewer.gui.labeling.proposal_walk import ProposalHost, go_to_proposal


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
    next_proposal: QAction
    previous_proposal: QAction
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
                self.previous_image, self.next_image, self.previous_proposal, self.next_proposal, self.accept_above, self.run_selflearning,
                self.cancel_selflearning]


def _action(panel: QWidget, text: str, tip: str,
            key: str | QKeySequence | QKeySequence.StandardKey | None = None) -> QAction:
    action = QAction(text, panel)
    if key is not None:
        action.setShortcut(QKeySequence(key))
        # Only menus a window adds it to make it a live shortcut; the panel's widgets use LabelingKeys.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        tip = f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip)
    action.setStatusTip(tip)
    return action


class LabelingKeys(QObject):
    """An event filter that gives the labeling keys to the widget it watches, then triggers the action.

    Accepting the ``ShortcutOverride`` event makes Qt deliver the key to the focused widget
    instead of the window's shortcuts, so a window shortcut on the same key cannot make it
    ambiguous (Qt then triggers neither).
    """

    def __init__(self, actions: LabelingActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._actions = [a for a in actions.labeling_actions if not a.shortcut().isEmpty()]

    def action_for(self, event: QKeyEvent) -> QAction | None:
        """The enabled action whose key this is, if any."""
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        pressed = QKeySequence(QKeyCombination(mods, Qt.Key(event.key())))
        return next((a for a in self._actions if a.isEnabled() and a.shortcut() == pressed), None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            action = self.action_for(event)  # type: ignore[arg-type]
            if action is not None:
                if event.type() == QEvent.Type.ShortcutOverride:
                    event.accept()
                    return False
                action.trigger()
                return True
        return super().eventFilter(watched, event)


def bind_keys(actions: LabelingActions, widgets: list[QWidget]) -> LabelingKeys:
    """Make the labeling keys work while the focus is on one of ``widgets``."""
    keys = LabelingKeys(actions, widgets[0])
    for widget in widgets:
        widget.installEventFilter(keys)
    return keys


def build_labeling_actions(panel: QWidget) -> LabelingActions:
    """Create the actions on ``panel``; the panel connects their triggers."""
    return LabelingActions(
        open_project=_action(panel, "Open Labeling &Project…", "Open a labeling project file (.bcv)"),
        new_project=_action(panel, "&New Labeling Project…", "Create an empty labeling project file"),
        import_folder=_action(panel, "Import Image &Folder…",
                              "Add a folder's images: BreakHis files, or benign/ and malignant/ sub-folders"),
        import_files=_action(panel, "Import Image F&iles…",
                             "Add BreakHis images, a .txt list, or a .csv with image, label, patient columns"),
        label_benign=_action(panel, "Label &benign", "Label the selected sub-images benign", "B"),
        label_malignant=_action(panel, "Label &malignant", "Label the selected sub-images malignant", "M"),
        accept=_action(panel, "&Accept proposal", "Accept the proposals on the selected sub-images", "Space"),
        reject=_action(panel, "&Reject proposal", "Reject the proposals on the selected sub-images", "X"),
        lock=_action(panel, "&Lock / unlock", "Lock the selected sub-images (unlock when all are locked)", "L"),
        undo=_action(panel, "&Undo", "Undo the last labeling action", QKeySequence.StandardKey.Undo),
        next_image=_action(panel, "&Next image", "Go to the next image of the list", "PgDown"),
        previous_image=_action(panel, "&Previous image", "Go to the previous image of the list", "PgUp"),
        # ] and [ clash with no key of the viewer; Ctrl+PgDown would (it switches the window's tabs).
        next_proposal=_action(panel, "Next pro&posal", "Go to the next sub-image with a pending proposal", "]"),
        previous_proposal=_action(panel, "Previous propo&sal", "Go to the previous sub-image with a pending "
                                  "proposal", "["),
        accept_above=_action(panel, "Accept all &above the confidence", "Accept every pending proposal at or above the confidence"),
        run_selflearning=_action(panel, "Run &self-learning", "Run self-learning rounds in the background"),
        cancel_selflearning=_action(panel, "&Cancel self-learning", "Stop the self-learning run after its current step"),
    )


def connect_proposal_walk(panel: ProposalHost) -> None:
    """Connect the next (]) and previous ([) proposal actions to the walk of :mod:`.proposal_walk`."""
    panel.action_set.next_proposal.triggered.connect(lambda: go_to_proposal(panel, True))
    panel.action_set.previous_proposal.triggered.connect(lambda: go_to_proposal(panel, False))
