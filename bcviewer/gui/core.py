"""Deferred loading of the heavy half of the core (PyTorch, scikit-learn).

The window needs only Qt and the slide reader to show a slide, which takes well under a second;
``bcviewer.inference``, ``bcviewer.nets``, ``bcviewer.export`` and ``bcviewer.datasets`` pull in
PyTorch and scikit-learn, which take several seconds to import. The window imports them on a
worker thread once its first frame is on screen (:func:`warm_up`), and GUI code that needs them
asks :func:`is_ready` first or runs on a worker itself.
"""

from __future__ import annotations

import importlib
import sys

HEAVY_MODULES = ("bcviewer.inference", "bcviewer.nets", "bcviewer.export", "bcviewer.datasets")


def is_ready() -> bool:
    """True once every heavy core module has been imported."""
    return all(name in sys.modules for name in HEAVY_MODULES)


def warm_up() -> None:
    """Import the heavy core modules (call on a worker thread)."""
    for name in HEAVY_MODULES:
        importlib.import_module(name)
