"""Importing BreakHis images into a project: each image, cut into sub-images, in its own transaction.

Sources may be folders (any layout; names carry the labels), single ``.png`` files, or file
lists: a ``.txt`` with one path per line, or a ``.csv`` with a ``file`` or ``path`` column (as the
data set's ``manifest.csv``). Relative paths in a list are relative to the list's folder.
Importing is idempotent: an image already in the project (same path, or same content under
another path) is skipped, so an interrupted import can simply be run again.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bcviewer.checksums import sha256_of
from bcviewer.datasets import BreakHisImage, DatasetError, index_breakhis, parse_breakhis_name
from bcviewer.errors import BcviewerError
from bcviewer.labels.errors import ImportSourceError
from bcviewer.labels.records import NewImage, SubImageRect
from bcviewer.labels.store import LabelStore
from bcviewer.slides import open_slide
from bcviewer.tiling import subimage_grid

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did."""

    added: list[int] = field(default_factory=list)  # image ids
    already_present: list[Path] = field(default_factory=list)
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)  # (skipped, copy already held)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _listed_paths(listing: Path) -> list[Path]:
    base = listing.parent
    try:
        text = listing.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"cannot read the file list {listing}: {exc}") from exc
    if listing.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        column = next((c for c in ("file", "path") if rows and c in rows[0]), None)
        if column is None:
            raise ImportSourceError(f"{listing} needs a 'file' or 'path' column naming the images")
        names = [r[column] for r in rows if r[column]]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [p if p.is_absolute() else base / p for p in (Path(n).expanduser() for n in names)]


def collect_images(sources: Iterable[str | os.PathLike[str]]) -> list[BreakHisImage]:
    """The BreakHis images named by folders, files and file lists, in order, without repeats."""
    try:
        return _collect(sources)
    except DatasetError as exc:
        raise ImportSourceError(str(exc)) from exc


def _collect(sources: Iterable[str | os.PathLike[str]]) -> list[BreakHisImage]:
    found: dict[Path, BreakHisImage] = {}
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            items = index_breakhis(path)
        elif not path.exists():
            raise ImportSourceError(f"{path} does not exist")
        elif not path.is_file():  # reading a named pipe would block the import forever
            raise ImportSourceError(f"{path} is not a regular file (a named pipe, socket or device)")
        elif path.suffix.lower() in (".txt", ".csv", ".lst"):
            items = []
            for listed in _listed_paths(path):
                if not listed.is_file():
                    raise ImportSourceError(f"{listed} (listed in {path.name}) does not exist")
                items.append(BreakHisImage(listed, parse_breakhis_name(listed)))
        else:
            items = [BreakHisImage(path, parse_breakhis_name(path))]
        for item in items:
            found.setdefault(item.path.resolve(), BreakHisImage(item.path.resolve(), item.name))
    if not found:
        raise ImportSourceError("no images were given to import")
    return list(found.values())


def read_image(item: BreakHisImage, rows: int = 3, cols: int = 3) -> tuple[NewImage, list[SubImageRect]]:
    """Hash, size and sub-image grid of one BreakHis image."""
    with open_slide(item.path) as slide:
        grid = subimage_grid(slide, rows, cols)
        width, height = slide.dimensions
    image = NewImage(item.path, sha256_of(item.path), item.patient, item.magnification, item.label,
                     width, height, item.subtype)
    return image, [SubImageRect(t.row, t.col, t.x, t.y, t.w, t.h, t.tissue) for t in grid]


def import_images(
    store: LabelStore, sources: Sequence[str | os.PathLike[str]], *, rows: int = 3, cols: int = 3,
    progress: Progress | None = None,
) -> ImportReport:
    """Add the BreakHis images named by ``sources`` to ``store``; unreadable files are reported."""
    return import_collected(store, collect_images(sources), rows=rows, cols=cols, progress=progress)


def import_collected(
    store: LabelStore, items: Sequence[BreakHisImage], *, rows: int = 3, cols: int = 3,
    progress: Progress | None = None,
) -> ImportReport:
    """Add images found by :func:`collect_images`, each in its own transaction."""
    report = ImportReport()
    for done, item in enumerate(items, start=1):
        if store.image_id_for(path=item.path) is not None:
            report.already_present.append(item.path)
        else:
            try:
                image, rects = read_image(item, rows, cols)
            except (BcviewerError, OSError) as exc:
                report.failed.append((item.path, str(exc)))
            else:
                twin = store.image_id_for(sha256=image.sha256)
                if twin is not None:
                    report.duplicates.append((item.path, store.image(twin).path))
                else:
                    report.added.append(store.add_image(image, rects))
        if progress is not None:
            progress(done, len(items))
    return report
