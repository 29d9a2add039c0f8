"""Work the labeling panel hands to worker threads; each call opens its own store on the project file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bcviewer.labels import ImageReview, ImageRow, LabelCounts, LabelStore

if TYPE_CHECKING:  # the importer loads the imaging stack; it is imported on the worker thread
    from bcviewer.labels.importer import ImportReport


@dataclass(frozen=True)
class Overview:
    """Everything the image list and the project counts show, read in one go."""

    images: list[ImageRow]
    reviews: dict[int, ImageReview]
    counts: LabelCounts
    data_version: int


def load_overview(project: Path) -> Overview:
    """The image list with review summaries and the project's counts (worker thread)."""
    with LabelStore.open(project, readonly=True) as store:
        return Overview(store.images(), store.image_reviews(), store.counts(), store.data_version())


def import_into(project: Path, sources: Sequence[str | os.PathLike[str]]) -> ImportReport:
    """Add the BreakHis images named by ``sources`` (folders, files, lists) to the project (worker thread)."""
    from bcviewer.labels.importer import import_images

    with LabelStore.open(project) as store:
        return import_images(store, sources)


def import_summary(report: ImportReport) -> str:
    """One line about an import, e.g. "Imported 4 images; 2 were already in the project"."""
    parts = [f"Imported {len(report.added)} image{'s' if len(report.added) != 1 else ''}"]
    if report.already_present:
        parts.append(f"{len(report.already_present)} were already in the project")
    if report.duplicates:
        parts.append(f"{len(report.duplicates)} duplicated images already held under another name")
    if report.failed:
        parts.append(f"{len(report.failed)} could not be read")
    return "; ".join(parts) + "."


def import_failures(report: ImportReport, limit: int = 8) -> str:
    """The unreadable files of an import, for a message box ("" when none)."""
    if not report.failed:
        return ""
    lines = [f"{Path(path).name}: {why}" for path, why in report.failed[:limit]]
    more = len(report.failed) - limit
    return "\n".join(lines + ([f"… and {more} more"] if more > 0 else []))
