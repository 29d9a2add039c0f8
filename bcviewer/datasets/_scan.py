"""Finding image files below a data-set folder, whatever its layout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from bcviewer.datasets.errors import DatasetError


def existing_folder(root: str | os.PathLike[str], dataset: str) -> Path:
    """Return ``root`` as a Path, or raise :class:`DatasetError` when it is not a readable folder."""
    folder = Path(root).expanduser()
    if not folder.exists():
        raise DatasetError(f"The {dataset} folder {folder} does not exist.")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is a file, but a {dataset} folder was expected.")
    return folder


def png_files(folder: Path) -> Iterator[Path]:
    """Yield every ``.png`` file below ``folder`` (any depth, any letter case), symlinks included."""
    return image_files(folder, (".png",))


def image_files(folder: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Yield every file below ``folder`` whose name ends in one of ``suffixes`` (lower case), symlinks included."""
    # os.walk with followlinks lets a folder of symlinked sub-folders (a common way to assemble a
    # data set without copying) be indexed; pathlib's rglob would silently skip those.
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink cycle would otherwise never end
            dirnames.clear()
            continue
        seen.add(real)
        for filename in filenames:
            if filename.lower().endswith(suffixes):
                path = Path(dirpath, filename)
                if path.is_file():
                    yield path
