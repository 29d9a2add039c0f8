"""Importing images into a project: each image, cut into sub-images, in its own transaction.

Sources (see :mod:`bcviewer.labels.sources` for the rules): folders of BreakHis files (the names
carry the labels), folders with ``benign/`` and ``malignant/`` sub-folders, single image files
with BreakHis names, ``.txt``/``.lst`` lists of paths, and ``.csv`` files with image, label,
patient and optional magnification columns (as the data set's ``manifest.csv``).
Importing is idempotent: an image already in the project (same path, or same content under
another path) is skipped, so an interrupted import can simply be run again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bcviewer.checksums import sha256_of
from bcviewer.errors import BcviewerError
from bcviewer.labels.records import NewImage, SubImageRect
from bcviewer.labels.sources import WHOLE_SLIDE_SKIPPED, Collection, LabeledImage, collect_sources
from bcviewer.labels.store import LabelStore
from bcviewer.slides import open_slide
from bcviewer.tiling import subimage_grid
from bcviewer.tiling.kind import input_kind, kind_reason

Progress = Callable[[int, int], None]


class WholeSlideSkipped(BcviewerError):
    """A file that is a whole slide, which a label project does not hold: skipped, not unreadable."""


@dataclass
class ImportReport:
    """What an import did, and what it assumed (``notes``: one sentence each, for the user)."""

    added: list[int] = field(default_factory=list)  # image ids
    already_present: list[Path] = field(default_factory=list)
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)  # (skipped, copy already held)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # unreadable
    conflicts: list[tuple[Path, str]] = field(default_factory=list)  # left out: its sources disagree
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # found in a folder, not imported (whole slides ...)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth a look: missing CSV rows, two spellings of a class folder
    missing: list[tuple[Path, str]] = field(default_factory=list)  # CSV rows whose file does not exist: (path, row)


def collect_images(sources: Iterable[str | os.PathLike[str]]) -> Collection:
    """The labelled images named by folders, files, lists and CSVs, with the import's notes.

    Raises :class:`~bcviewer.labels.errors.ImportSourceError` (one line) for a source that
    cannot be used: missing, unreadable, a bad CSV row, or images without any label source.
    """
    return collect_sources(sources)


def read_image(item: LabeledImage, rows: int = 3, cols: int = 3) -> tuple[NewImage, list[SubImageRect]]:
    """Hash, size and sub-image grid of one image."""
    with open_slide(item.path) as slide:
        if input_kind(slide) == "whole-slide":
            raise WholeSlideSkipped(f"{WHOLE_SLIDE_SKIPPED} ({kind_reason(slide)})")
        grid = subimage_grid(slide, rows, cols)
        width, height = slide.dimensions
    image = NewImage(item.path, sha256_of(item.path), item.patient, item.magnification, item.label,
                     width, height, item.subtype)
    return image, [SubImageRect(t.row, t.col, t.x, t.y, t.w, t.h, t.tissue) for t in grid]


def import_images(
    store: LabelStore, sources: Sequence[str | os.PathLike[str]], *, rows: int = 3, cols: int = 3,
    progress: Progress | None = None,
) -> ImportReport:
    """Add the images named by ``sources`` to ``store``; unreadable and contradictory files are reported."""
    return import_collected(store, collect_images(sources), rows=rows, cols=cols, progress=progress)


def import_collected(
    store: LabelStore, collection: Collection | Sequence[LabeledImage], *, rows: int = 3, cols: int = 3,
    progress: Progress | None = None,
) -> ImportReport:
    """Add images found by :func:`collect_images`, each in its own transaction."""
    if isinstance(collection, Collection):
        items: Sequence[LabeledImage] = collection.images
        report = ImportReport(conflicts=list(collection.conflicts), skipped=list(collection.skipped),
                              notes=list(collection.notes), warnings=list(collection.warnings),
                              missing=list(collection.missing))
    else:
        items, report = collection, ImportReport()
    for done, item in enumerate(items, start=1):
        held = store.image_id_for(path=item.path)
        if held is not None:
            row = store.image(held)
            if (row.label, row.patient) != (item.label, item.patient):
                why = (f"the project holds it as {row.label}, patient {row.patient}; "
                       f"the import says {item.label}, patient {item.patient}")
                report.conflicts.append((item.path, why))
            else:
                report.already_present.append(item.path)
        else:
            try:
                image, rects = read_image(item, rows, cols)
            except WholeSlideSkipped as exc:
                report.skipped.append((item.path, str(exc)))
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
