"""Work the labeling panel hands to worker threads (each call opens its own store on the project file)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.workers import Job, JobRunner
from bcviewer.labels import ImageReview, ImageRow, LabelCounts, LabelStore, RoundRow

if TYPE_CHECKING:  # the importer loads the imaging stack; it is imported on the worker thread
    from bcviewer.labels.importer import ImportReport


@dataclass(frozen=True)
class Overview:
    """Everything the image list shows, read in one go."""

    images: list[ImageRow]
    reviews: dict[int, ImageReview]


@dataclass(frozen=True)
class ProjectCounts:
    """The project's sub-image counts, how many pending proposals reach a confidence, and its rounds."""

    counts: LabelCounts
    confidence: float
    above: int
    rounds: list[RoundRow] = field(default_factory=list)
    decisions: dict[int, dict[str, int]] = field(default_factory=dict)
    heldout: int | None = None  # held-out patients; None until the first self-learning run
    patients: int = 0
    next_level: int = 1
    waiting: tuple[int, int] | None = None  # (round, pending proposals) a person must decide first


def load_overview(project: Path) -> Overview:
    """The image list with review summaries (worker thread)."""
    with LabelStore.open(project, readonly=True) as store:
        return Overview(store.images(), store.image_reviews())


def load_project_counts(project: Path, confidence: float) -> ProjectCounts:
    """Counts of the whole project (worker thread: tens of milliseconds on all of BreakHis)."""
    with LabelStore.open(project, readonly=True) as store:
        counts = store.counts()
        above = len(store.proposals(min_confidence=confidence)) if counts.pending else 0
        heldout = store.heldout_patients()
        return ProjectCounts(counts, confidence, above, store.rounds(), store.decisions_by_round(),
                             None if heldout is None else len(heldout), len(store.patients()),
                             store.next_round_number(), store.pending_review())


class LatestJob(QObject):
    """Runs one function on a :class:`JobRunner`, one call at a time.

    A request while a call runs queues one more call (with the latest arguments), so a burst of
    requests costs at most two calls and the last result always reflects the last request.
    """

    ready = Signal(object)  # the function's result
    failed = Signal(object)  # the exception

    def __init__(self, jobs: JobRunner, fn: Callable[..., Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.fn = jobs, fn
        self._job: Job | None = None
        self._next: tuple[Any, ...] | None = None

    def request(self, *args: Any) -> None:
        if self._job is not None:
            self._next = args
            return
        self._job = self.jobs.submit(self.fn, *args, on_success=self._done, on_error=self._error)

    def cancel(self) -> None:
        """Forget the call in flight (its result is dropped) and the queued one."""
        if self._job is not None:
            self._job.cancelled = True
        self._job, self._next = None, None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _done(self, result: object) -> None:
        self._job = None
        self.ready.emit(result)
        self._again()

    def _error(self, exc: BaseException) -> None:
        self._job = None
        self.failed.emit(exc)
        self._again()

    def _again(self) -> None:
        if self._next is not None:
            args, self._next = self._next, None
            self.request(*args)


def import_into(project: Path, sources: Sequence[str | os.PathLike[str]]) -> ImportReport:
    """Add the images named by ``sources`` (folders, files, lists, labels CSVs) to the project (worker thread)."""
    from bcviewer.labels.importer import import_images

    with LabelStore.open(project) as store:
        return import_images(store, sources)


def import_summary(report: ImportReport) -> str:
    """What an import did and assumed, e.g. "Imported 4 images; 2 were already in the project."

    The import's notes (patients taken from folder names, 0/1 labels, skipped files) follow as
    sentences: the panel shows them under its counts, so no assumption goes unsaid.
    """
    parts = [f"Imported {len(report.added)} image{'s' if len(report.added) != 1 else ''}"]
    if report.already_present:
        parts.append(f"{len(report.already_present)} were already in the project")
    if report.duplicates:
        parts.append(f"{len(report.duplicates)} duplicated images already held under another name")
    if report.failed:
        parts.append(f"{len(report.failed)} could not be read")
    if report.conflicts:
        parts.append(f"{len(report.conflicts)} left out because their labels disagree")
    if report.skipped:
        first, why = report.skipped[0]
        parts.append(f"{len(report.skipped)} other files skipped (e.g. {first.name}: {why})")
    return " ".join(["; ".join(parts) + "."] + [f"Warning: {w}." for w in report.warnings]
                    + [f"Note: {note}." for note in report.notes])


def import_assumptions(report: ImportReport) -> str:
    """What an import assumed, one point a line, for a notice ("" when it assumed nothing)."""
    if not report.notes:
        return ""
    lines = [f"• {note}." for note in report.notes]  # as written: a note may start with a file name
    return "\n".join([f"{len(report.added)} image{'s' if len(report.added) != 1 else ''} imported. "
                      "Please check what the import assumed:"] + lines)


def import_failures(report: ImportReport, limit: int = 8) -> str:
    """The import's warnings, then its unreadable and contradictory files, for a message box ("" when none)."""
    problems = report.failed + report.conflicts
    if not problems and not report.warnings:
        return ""
    lines = [f"{Path(path).name}: {why}" for path, why in problems[:limit]]
    more = len(problems) - limit
    return "\n".join([f"Warning: {w}." for w in report.warnings] + lines + ([f"… and {more} more"] if more > 0 else []))
