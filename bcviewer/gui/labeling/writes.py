"""Label writes from the panel that survive another program holding the project's write lock.

The panel's store waits only :data:`GUI_BUSY_TIMEOUT_S` for a lock (the GUI thread must not
freeze for SQLite's default ten seconds); when another writer (a ``bcviewer selflearn`` run, a
second window) still holds it, the annotator is asked whether to retry instead of being shown a
crash dialog. Nothing is lost either way: the write is one transaction that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtWidgets import QWidget

from bcviewer.gui import errors as gui_errors
from bcviewer.labels.guard import ProjectLockedError

GUI_BUSY_TIMEOUT_S = 1.0
T = TypeVar("T")


class Cancelled:
    """Returned by :func:`write_with_retry` when the annotator gave up."""


CANCELLED = Cancelled()


def write_with_retry(parent: QWidget | None, action: Callable[[], T], what: str) -> T | Cancelled:
    """Run ``action``; on a locked project ask Retry/Cancel until it succeeds or is cancelled."""
    while True:
        try:
            return action()
        except ProjectLockedError as exc:
            question = f"{exc}\n\n{what[0].upper() + what[1:]} was not saved yet. Try again?"
            if not gui_errors.ask_retry(parent, "Project busy", question):
                return CANCELLED
