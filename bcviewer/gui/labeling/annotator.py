"""Who labels, and why: the panel's annotator name and the reason added to one's last change.

The name is remembered in QSettings; until one is set, changes carry the OS user. It becomes
the process's annotator (:func:`bcviewer.labels.audit.set_session_annotator`), so every store
the panel and its workers open (imports, self-learning runs) writes as that person. A reason
is never asked for while labelling: "Reason for the last change…" adds one afterwards to the
last change this person made, which keeps one-key labelling one key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QPushButton

from bcviewer.gui.labeling.writes import CANCELLED, write_with_retry
from bcviewer.labels.audit import (
    clean_annotator,
    default_annotator,
    os_annotator,
    set_session_annotator,
)

if TYPE_CHECKING:
    from bcviewer.gui.labeling.panel import LabelingPanel

SETTINGS_KEY = "labeling/annotator"


class AnnotatorControl(QObject):
    """The "Annotator name…" and "Reason for the last change…" actions, and a button showing the name."""

    def __init__(self, panel: LabelingPanel, settings: QSettings | None = None) -> None:
        super().__init__(panel)
        self.panel = panel
        self.settings = settings if settings is not None else QSettings("bcviewer", "bcviewer")
        self.name_action = QAction("Annotator &Name…", panel)
        self.name_action.setStatusTip("The name the audit log gives your changes (default: the OS user)")
        self.reason_action = QAction("Reason for the &Last Change…", panel)
        self.reason_action.setStatusTip("Add a free-text reason to your last change; it is kept in the audit log")
        self.button = QPushButton()
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the grid or the list
        self.button.clicked.connect(self.name_action.trigger)
        self.reason_button = QPushButton("Reason…")
        self.reason_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reason_button.setToolTip(self.reason_action.statusTip())
        self.reason_button.clicked.connect(self.reason_action.trigger)
        self.name_action.triggered.connect(self.ask_name)
        self.reason_action.triggered.connect(self.ask_reason)
        panel.project_changed.connect(lambda _path: self._apply())
        self.set_name(str(self.settings.value(SETTINGS_KEY, "") or ""), remember=False)

    @property
    def actions(self) -> list[QAction]:
        """For a Labels menu."""
        return [self.name_action, self.reason_action]

    @property
    def name(self) -> str:
        return default_annotator()

    def set_name(self, name: str, *, remember: bool = True) -> str:
        """Write as ``name`` from now on ('' : the OS user again); returns the name in use."""
        chosen = clean_annotator(name)
        set_session_annotator(chosen or None)
        if remember:
            self.settings.setValue(SETTINGS_KEY, chosen)
        self._apply()
        shown = self.name or "not recorded"
        self.button.setText(f"Annotator: {shown}")
        self.button.setToolTip(f"Your changes are recorded as {shown!r}"
                               + (" (the OS user)" if not chosen else "") + "; click to change the name")
        return self.name

    def _apply(self) -> None:
        store = self.panel.store
        if store is not None:
            store.annotator = self.name
        for widget in (self.reason_action, self.reason_button):
            widget.setEnabled(store is not None)

    def ask_name(self) -> None:
        text, ok = QInputDialog.getText(
            self.panel, "Annotator name", f"Name recorded with your changes (empty: the OS user, {os_annotator()!r}):",
            QLineEdit.EchoMode.Normal, clean_annotator(str(self.settings.value(SETTINGS_KEY, "") or "")))
        if ok:
            self.panel.say(f"Changes are now recorded as {self.set_name(text) or 'an unknown person'}.")

    def add_reason(self, reason: str) -> bool:
        """Add ``reason`` to the last change this annotator made; False (said why) when there is none."""
        store = self.panel.store
        if store is None or not reason.strip():
            return False
        what = store.last_change()
        if what is None:
            self.panel.say(f"{self.name or 'This annotator'} has made no change in this project to add a reason to.")
            return False
        if write_with_retry(self.panel, lambda: store.annotate_last_change(reason), "the reason") is CANCELLED:
            return False
        self.panel.after_write(f"Reason added to {what}.")
        return True

    def ask_reason(self) -> None:
        store = self.panel.store
        what = store.last_change() if store is not None else None
        if what is None:
            self.panel.say("No change of yours to add a reason to in this project.")
            return
        text, ok = QInputDialog.getText(self.panel, "Reason for the last change", f"Why {what}?")
        if ok:
            self.add_reason(text)
