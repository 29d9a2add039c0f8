"""What every screenshot script shares: a headless-safe application with a throw-away data folder
(the user's own regions and settings are neither read nor changed), and waiting for the window.

The scripts import it by name: Python puts their own folder (scripts/) first on the path.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread


def start_app(data_home: str | Path | None = None) -> QApplication:
    """The application, with XDG_DATA_HOME pointed at ``data_home`` (default: a new temporary folder)."""
    os.environ["XDG_DATA_HOME"] = str(data_home or tempfile.mkdtemp(prefix="bcviewer-shot-"))
    app = QApplication.instance() or QApplication([])
    collect_garbage_on_gui_thread()
    return app  # type: ignore[return-value]


def shot_window() -> tuple[QApplication, Any]:
    """The application and a shown 1400x880 main window on the shipped models, with throw-away
    settings and data folders."""
    from PySide6.QtCore import QSettings

    from bcviewer.gui.main_window import MainWindow
    from bcviewer.gui.settings import ViewerSettings

    scratch = Path(tempfile.mkdtemp(prefix="bcviewer-shot-"))
    os.environ.pop("BCVIEWER_MODELS", None)  # the shipped models
    app = start_app(scratch)
    window = MainWindow(ViewerSettings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(1400, 880)
    window.show()
    return app, window


def wait(app: QApplication, until: Callable[[], object], timeout_s: float = 300) -> None:
    """Process events until ``until()`` is true or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)

