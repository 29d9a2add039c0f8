"""File dialogs of the labeling panel: open or create a project, choose images to import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

PROJECT_SUFFIX = ".bcv"
PROJECT_FILTER = f"Labeling projects (*{PROJECT_SUFFIX});;All files (*)"
IMPORT_FILTER = "BreakHis images and image lists (*.png *.txt *.csv *.lst);;All files (*)"


def ask_open_project(parent: QWidget | None, start: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open labeling project", start, PROJECT_FILTER)
    return path or None


def ask_new_project(parent: QWidget | None, start: str = "") -> str | None:
    """A file name for a new project (``.bcv`` added); an existing project is opened, never replaced."""
    path, _ = QFileDialog.getSaveFileName(parent, "New labeling project", start, PROJECT_FILTER,
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    if not path:
        return None
    return path if Path(path).suffix else path + PROJECT_SUFFIX


def ask_import_folder(parent: QWidget | None, start: str = "") -> list[str] | None:
    folder = QFileDialog.getExistingDirectory(parent, "Import the BreakHis images of a folder", start)
    return [folder] if folder else None


def ask_import_files(parent: QWidget | None, start: str = "") -> list[str] | None:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Import BreakHis images or image lists", start, IMPORT_FILTER)
    return paths or None
