"""``bcviewer _qtprobe``: start Qt without a window and print its platform as one JSON line.

Run by ``bcviewer doctor`` in a child process (see bcviewer.cli.doctor): if the platform plugin
cannot load, Qt aborts this process, and the doctor reports Qt's own message instead.
"""

from __future__ import annotations

import json

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication


def main() -> int:
    """Print ``{"platform", "qt", "pyside6", "screens"}`` and exit 0."""
    existing = QGuiApplication.instance()
    app = existing if isinstance(existing, QGuiApplication) else QGuiApplication([])
    screens = [f"{s.name() or 'screen'} {s.size().width()}x{s.size().height()}" for s in app.screens()]
    print(json.dumps({"platform": app.platformName(), "qt": qVersion(), "pyside6": PySide6.__version__,
                      "screens": screens}))
    return 0
