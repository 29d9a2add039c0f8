"""Errors in the desktop viewer: human dialogs, a log file, and a hook that keeps tracebacks away.

Expected failures (:class:`~bcviewer.errors.BcviewerError`) become a dialog with their message.
Anything else is written with its traceback to ``bcviewer.log`` in the user's data folder and the
dialog says where; the user never sees a traceback and the app keeps running.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

import platformdirs
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from bcviewer.errors import BcviewerError

log = logging.getLogger("bcviewer.gui")
_HANDLER: RotatingFileHandler | None = None
_HEADLESS = False
shown_messages: list[str] = []  # every message shown in this process (for --screenshot's exit code)


def set_headless(on: bool) -> None:
    """In headless runs (--screenshot) messages go to stderr instead of a modal dialog."""
    global _HEADLESS
    _HEADLESS = on


def is_headless() -> bool:
    """True in scripted runs (--screenshot), where nothing may wait for a user."""
    return _HEADLESS


def log_dir() -> Path:
    """Folder of the log file: ``<user data folder>/bcviewer/logs``."""
    return Path(platformdirs.user_data_dir("bcviewer", appauthor=False)) / "logs"


def log_path() -> Path:
    return log_dir() / "bcviewer.log"


def setup_logging() -> Path:
    """Send bcviewer's log records to the log file (once per process); returns its path."""
    global _HANDLER
    path = log_path()
    if _HANDLER is not None and Path(_HANDLER.baseFilename) == path:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("bcviewer")
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
        _HANDLER.close()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _HANDLER = handler
    return path


def show_error_dialog(parent: QWidget | None, title: str, message: str) -> None:
    """Show a modal error message. Tests replace this function to avoid blocking on the dialog."""
    shown_messages.append(message)
    if _HEADLESS:
        print(f"bcviewer: {title}: {message}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.exec()


def show_notice(parent: QWidget | None, title: str, message: str) -> None:
    """Tell the user what the app assumed, in a box that does not block (the work is done; this is
    for checking it). Not an error: ``shown_messages`` is left alone. Tests replace this function."""
    if _HEADLESS:
        print(f"bcviewer: {title}: {message}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Icon.Information, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def ask_retry(parent: QWidget | None, title: str, message: str) -> bool:
    """Ask Retry / Cancel; True for Retry. Tests replace this function; headless runs cancel."""
    shown_messages.append(message)
    if _HEADLESS:
        print(f"bcviewer: {title}: {message}", file=sys.stderr)
        return False
    buttons = QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Cancel
    box = QMessageBox(QMessageBox.Icon.Question, title, message, buttons, parent)
    box.setDefaultButton(QMessageBox.StandardButton.Retry)
    return box.exec() == QMessageBox.StandardButton.Retry


def report_error(parent: QWidget | None, title: str, exc: BaseException) -> str:
    """Show ``exc`` to the user and return the message shown.

    A :class:`BcviewerError` is shown as is; any other exception is logged with its traceback and
    the dialog points at the log file.
    """
    if isinstance(exc, BcviewerError):
        message = str(exc)
        log.info("%s: %s", title, message)
    else:
        message = unexpected_error_message(exc)
    show_error_dialog(parent, title, message)
    return message


def unexpected_error_message(exc: BaseException, tb: TracebackType | None = None) -> str:
    """Log an unexpected exception with its traceback; the message for the user names the log."""
    path = setup_logging()
    log.error("unexpected error", exc_info=(type(exc), exc, tb or exc.__traceback__))
    return (
        f"Something went wrong that bcviewer did not expect ({type(exc).__name__}: {exc}).\n\n"
        f"The details were written to {path}. The viewer is still usable; please include that "
        "file if you report the problem."
    )


class ExceptionHook:
    """``sys.excepthook`` for the GUI: exceptions escaping Qt slots become a dialog, not a crash."""

    def __init__(self, parent_getter: Callable[[], QWidget | None] | None = None) -> None:
        self._parent_getter = parent_getter
        self._previous = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._showing = False
        self.count = 0

    def install(self) -> None:
        sys.excepthook = self
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self._previous
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread_hook

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        """A background thread died: log it (the job that owned it reports its own failure)."""
        if args.exc_value is not None:
            setup_logging()
            log.error(
                "uncaught exception in thread %s",
                getattr(args.thread, "name", "?"),
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous(exc_type, exc, tb)
            return
        self.count += 1
        if isinstance(exc, BcviewerError):
            message = str(exc)
        else:
            message = unexpected_error_message(exc, tb)
        if self._showing:  # an error inside the dialog's own event loop: log only
            return
        self._showing = True
        try:
            parent = self._parent_getter() if self._parent_getter is not None else None
            show_error_dialog(parent, "bcviewer", message)
        except Exception:  # the hook itself must never raise
            log.error("could not show the error dialog:\n%s", traceback.format_exc())
        finally:
            self._showing = False
