"""File dialogs of the labeling panel: open or create a project, choose images to import.

Import accepts the three label sources of :mod:`bcviewer.labels.sources`: BreakHis file names,
a labels CSV (chosen as a file), and a folder with benign/ and malignant/ sub-folders.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

PROJECT_SUFFIX = ".bcv"
PROJECT_FILTER = f"Labeling projects (*{PROJECT_SUFFIX});;All files (*)"
IMPORT_FILTER = ("Images, lists and labels CSVs (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.txt *.lst *.csv);;"
                 "Labels CSV: image, label, patient[, magnification] (*.csv);;All files (*)")


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
    folder = QFileDialog.getExistingDirectory(
        parent, "Import a folder of BreakHis images, or one with benign/ and malignant/ sub-folders", start)
    return [folder] if folder else None


def ask_import_files(parent: QWidget | None, start: str = "") -> list[str] | None:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Import BreakHis images, an image list or a labels CSV", start,
                                            IMPORT_FILTER)
    return paths or None
