"""``LabelingPanel``: review and label the sub-images of a labeling project.

Every key press writes through the project's :class:`~bcviewer.labels.LabelStore` at once (one
transaction each), so the panel never holds unsaved labels; after a write it re-reads what it
shows. A timer polls the file's ``data_version`` and reloads the list when another connection
(a self-learning run, an import, ``bcviewer labels`` in a terminal) has committed. The image list
is read on a worker thread; the small per-image queries run on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui import errors as gui_errors
from bcviewer.gui.labeling.actions import bind_keys, build_labeling_actions, connect_proposal_walk
from bcviewer.gui.labeling.annotator import AnnotatorControl
from bcviewer.gui.labeling.dialogs import ask_import_files, ask_import_folder, ask_new_project, ask_open_project
from bcviewer.gui.labeling.jobs import (
    LatestJob,
    Overview,
    ProjectCounts,
    import_assumptions,
    import_failures,
    import_into,
    import_summary,
    load_overview,
    load_project_counts,
)
from bcviewer.gui.labeling.layout import PanelLayout
from bcviewer.gui.labeling.messages import plural, skipped_message
from bcviewer.gui.labeling.label_issues import LabelIssuesControl, LabelIssuesWorker
from bcviewer.gui.labeling.selflearn_control import SelfLearnControl
from bcviewer.gui.labeling.selflearn_worker import SelfLearnRequest, SelfLearnWorker
from bcviewer.gui.labeling.thumbnails import ThumbnailLoader
from bcviewer.gui.labeling.writes import CANCELLED, GUI_BUSY_TIMEOUT_S, Cancelled, write_with_retry
from bcviewer.gui.workers import JobRunner
from bcviewer.labels import DecisionResult, ImageRow, LabelStore, LockedSubImageError, UnknownItemError

if TYPE_CHECKING:  # the importer loads the imaging stack; imports run on a worker thread
    from bcviewer.labels.importer import ImportReport


class LabelingPanel(QWidget):
    """The labeling panel: image list, 3x3 sub-image grid, details, counts and self-learning.

    ``project``: a project file to open at once (``create`` makes it when missing). ``worker``:
    the self-learning worker (default: one with the CLI's small CPU trainer).
    """

    project_changed = Signal(str)  # the project file, "" when none is open
    image_changed = Signal(str)  # the file of the image in the grid, "" when none
    labels_changed = Signal()  # after each change this panel wrote
    overview_loaded = Signal()  # the image list was (re)read
    project_counts_loaded = Signal()  # the project's counts were (re)read
    message = Signal(str)  # one line for a status bar

    def __init__(self, project: str | Path | None = None, parent: QWidget | None = None, *, create: bool = False,
                 worker: SelfLearnWorker | None = None, poll_ms: int = 1000) -> None:
        super().__init__(parent)
        self.store: LabelStore | None = None
        self.project: Path | None = None
        self.image: ImageRow | None = None
        self.jobs = JobRunner(2, self)
        self.thumbs = ThumbnailLoader(self.jobs, self)
        self.worker = worker or SelfLearnWorker(self)
        self.worker.setParent(self)
        self.action_set = build_labeling_actions(self)
        self.ui = PanelLayout(self, self.action_set)
        self.browser, self.grid, self.details = self.ui.browser, self.ui.grid, self.ui.details
        self.keys = bind_keys(self.action_set, [self.grid, self.browser.table])
        self.selflearn = SelfLearnControl(self, self.ui.selflearn, self.ui.rounds, self.worker, self)
        self.annotator = AnnotatorControl(self)  # who the audit log names; a reason for the last change
        for i, button in enumerate((self.annotator.button, self.annotator.reason_button), 1):
            self.ui.top.insertWidget(i, button)
        self.issues = LabelIssuesControl(self.ui.issues, self.browser, lambda: self.project,
                                         LabelIssuesWorker(self), self.failed)
        self.overview = LatestJob(self.jobs, load_overview, self)
        self.project_counts = LatestJob(self.jobs, load_project_counts, self)
        self._seen_version = 0
        self.poll = QTimer(self)
        self.poll.setInterval(poll_ms)
        self.poll.timeout.connect(self.check_for_changes)
        self._connect()
        self.update_enabled()
        if project is not None:
            self.open_project(project, create=create)

    def _connect(self) -> None:
        a = self.action_set
        a.open_project.triggered.connect(lambda: self.open_project(ask_open_project(self)))
        a.new_project.triggered.connect(lambda: self.open_project(ask_new_project(self), create=True))
        a.import_folder.triggered.connect(lambda: self.import_images(ask_import_folder(self)))
        a.import_files.triggered.connect(lambda: self.import_images(ask_import_files(self)))
        a.label_benign.triggered.connect(lambda: self.label_selection("benign"))
        a.label_malignant.triggered.connect(lambda: self.label_selection("malignant"))
        a.accept.triggered.connect(lambda: self.decide_selection(True))
        a.reject.triggered.connect(lambda: self.decide_selection(False))
        a.lock.triggered.connect(self.toggle_lock)
        a.undo.triggered.connect(self.undo)
        a.next_image.triggered.connect(lambda: self.browser.step(1))
        a.previous_image.triggered.connect(lambda: self.browser.step(-1))
        connect_proposal_walk(self)  # ] and [
        a.accept_above.triggered.connect(lambda: self.accept_above(self.ui.review.confidence.value()))
        a.run_selflearning.triggered.connect(lambda: self.run_selflearning())
        a.cancel_selflearning.triggered.connect(self.cancel_selflearning)
        self.browser.image_selected.connect(self.show_image)
        self.thumbs.ready.connect(self._thumbnails_ready)
        self.thumbs.failed.connect(lambda _image, text: self.say(text[0].upper() + text[1:]))
        self.grid.selection_changed.connect(self._show_details)
        self.ui.review.accept_above_requested.connect(self.accept_above)
        self.ui.review.confidence.valueChanged.connect(self.refresh_project_counts)
        self.overview.ready.connect(self._overview_ready)
        self.overview.failed.connect(lambda exc: self.failed("Cannot read the project", exc))
        self.project_counts.ready.connect(self._project_counts_ready)
        self.project_counts.failed.connect(lambda exc: self.failed("Cannot count the labels", exc))

    # ---- project ------------------------------------------------------------------------------
    def open_project(self, path: str | Path | None, *, create: bool = False) -> bool:
        """Open (``create``: or create) a project file; False, with a message, when it cannot be."""
        if not path:
            return False  # the file dialog was cancelled
        if self.worker.running:
            return self.refuse("Project not opened", "A self-learning run is using the current project; "
                                "wait for it or cancel it before opening another project.")
        try:
            store = LabelStore.open(path, create=create, busy_timeout_s=GUI_BUSY_TIMEOUT_S)
        except BcviewerError as exc:
            gui_errors.report_error(self, "Cannot open the labeling project", exc)
            return False
        self.close_project()
        self.store, self.project = store, store.path
        self._seen_version = store.data_version()
        self.ui.set_project(store.path)
        self.update_enabled()
        self.reload()
        self.poll.start()
        self.project_changed.emit(str(store.path))
        self.say(f"Opened {store.path.name}.")
        return True

    def close_project(self) -> None:
        """Close the open project (every label is already saved)."""
        if self.store is None:
            return
        self.poll.stop()
        self.overview.cancel()
        self.project_counts.cancel()
        self.thumbs.cancel()
        self.thumbs.cache.clear()
        self.store.close()
        self.store, self.project, self.image = None, None, None
        self.browser.set_images([], {})
        self.issues.clear()
        self.selflearn.show_project(None)
        self.show_image(-1)
        self.ui.set_project(None)
        self.update_enabled()
        self.project_changed.emit("")

    def import_images(self, sources: list[str] | None) -> bool:
        """Add images (BreakHis names, labels CSVs, class folders) on a worker; the list fills in as they land."""
        if not sources:
            return False
        if self.project is None:
            return self.refuse("Nothing imported", "Open or create a labeling project first.")
        project = self.project
        self.say("Importing images…")
        self.jobs.submit(import_into, project, list(sources),
                         on_success=lambda report: self._imported(project, report),
                         on_error=lambda exc: self.failed("Import failed", exc))
        return True

    def _imported(self, project: Path, report: ImportReport) -> None:
        if project != self.project:
            return
        self.say(import_summary(report))
        failures = import_failures(report)
        if failures:
            gui_errors.show_error_dialog(self, "Some images were not imported", failures)
        assumptions = import_assumptions(report)
        if assumptions:  # the status line keeps them too, but the next action replaces it
            gui_errors.show_notice(self, "What the import assumed", assumptions)
        self.reload()

    # ---- reading ------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the image list and the project counts on a worker."""
        if self.project is not None:
            self.overview.request(self.project)
            self.refresh_project_counts()

    def refresh_project_counts(self) -> None:
        if self.project is not None:
            self.project_counts.request(self.project, self.ui.review.confidence.value())

    def _overview_ready(self, overview: Overview) -> None:
        self.browser.set_images(overview.images, overview.reviews)
        if self.image is not None and self.browser.current_image_id() == self.image.id:
            self.refresh_image()
        self._update_counts(project=False)  # reload() asked for the project's
        self.overview_loaded.emit()

    def _project_counts_ready(self, result: ProjectCounts) -> None:
        self.ui.counts.set_counts("Project", result.counts)
        self.ui.review.set_pending(result.counts.pending, result.above, result.confidence)
        self.selflearn.show_project(result)
        self.project_counts_loaded.emit()

    def check_for_changes(self) -> None:
        """Reload when another connection committed to the project file since the last look."""
        if self.store is None:
            return
        version = self.store.data_version()
        if version != self._seen_version:
            self._seen_version = version
            self.reload()

    def show_image(self, image_id: int) -> None:
        """Show one image's sub-images in the grid (-1: none)."""
        if self.store is None or image_id < 0:
            self.image = None
            self.grid.set_subimages([], (1, 1))
            self.ui.set_image(None)
            self.image_changed.emit("")
            return
        try:
            row = self.store.image(image_id)
        except UnknownItemError:
            self.reload()
            return
        changed = self.image is None or self.image.id != image_id
        self.image = row
        subs = self.store.subimages(image_id)
        self.grid.set_subimages(subs, (row.width, row.height))
        self.ui.set_image(row)
        if changed:
            self.thumbs.request(row.id, row.path, [(s.id, s.x, s.y, s.w, s.h) for s in subs])
            self.image_changed.emit(str(row.path))
            self._update_counts(project=False)

    def refresh_image(self) -> None:
        """Re-read the current image after a change (its list row, grid, details and counts)."""
        if self.store is None or self.image is None:
            return
        self.show_image(self.image.id)  # the grid keeps its selection and re-shows the details
        if self.image is not None:
            self.browser.update_image(self.image, self.store.image_reviews(self.image.id).get(self.image.id))

    def _thumbnails_ready(self, image_id: int, thumbs: dict[int, QImage]) -> None:
        if self.image is not None and self.image.id == image_id:
            self.grid.set_thumbnails(thumbs)

    def _show_details(self) -> None:
        row = self.grid.current_row()
        if self.store is None or row is None or self.image is None:
            self.details.show_subimage(None)
            return
        self.details.show_subimage(row, self.image.path.name, self.store.history(row.id),
                                   self.store.prediction_history(row.id))

    def _update_counts(self, project: bool = True) -> None:
        """The current image's counts and the Undo text at once; the project's on a worker."""
        store = self.store
        if store is None:
            for column in ("Project", "Image"):
                self.ui.counts.set_counts(column, None)
            self.ui.review.set_pending(None)
            self.action_set.undo.setText("&Undo")
            return
        self.ui.counts.set_counts("Image", store.counts(image_id=self.image.id) if self.image is not None else None)
        what = store.undo_description()
        self.action_set.undo.setText(f"&Undo {what}" if what else "&Undo")
        self.action_set.undo.setEnabled(what is not None)
        if project:
            self.refresh_project_counts()

    # ---- labeling (each a single transaction) -------------------------------------------------
    def _selection(self) -> list[int]:
        ids = self.grid.selected_ids() if self.store is not None else []
        if not ids:
            self.say("Select a sub-image first (click it, or use the arrow keys).")
        return ids

    def label_selection(self, label: str) -> bool:
        """B / M: label the selected sub-images as a person's decision."""
        ids, store = self._selection(), self.store
        if not ids or store is None:
            return False
        try:
            if write_with_retry(self, lambda: store.set_label(ids, label), "the label") is CANCELLED:
                return False
        except LockedSubImageError as exc:
            return self.refuse("Label not changed", str(exc))
        self.after_write(f"Labelled {plural(ids)} {label}.")
        return True

    def decide_selection(self, accept: bool) -> bool:
        """Space / X: accept or reject the pending proposals on the selected sub-images."""
        if self.store is None:
            return False
        pids = [r.proposal_id for r in self.grid.selected_rows() if r.proposal_id is not None]
        if not pids:
            self.say("No pending proposal on the selected sub-image(s).")
            return False
        decide = self.store.accept_proposals if accept else self.store.reject_proposals
        result = write_with_retry(self, lambda: decide(pids), "the decision")
        if isinstance(result, Cancelled):
            return False
        self.after_write(f"{'Accepted' if accept else 'Rejected'} {plural(result.applied, 'proposal')}.")
        return self._report_skipped(result, accept)

    def accept_above(self, confidence: float) -> bool:
        """Accept every pending proposal whose confidence is at least ``confidence`` (one undo step)."""
        store = self.store
        if store is None:
            return False
        result = write_with_retry(self, lambda: store.accept_proposals_above(confidence), "the decision")
        if isinstance(result, Cancelled):
            return False
        self.after_write(f"Accepted {plural(result.applied, 'proposal')} at or above {confidence:.2f}.")
        self.reload()
        return self._report_skipped(result, True)

    def _report_skipped(self, result: DecisionResult, accept: bool) -> bool:
        text = skipped_message(result, accept)
        return self.refuse(f"Proposal not {'accepted' if accept else 'rejected'}", text) if text else True

    def toggle_lock(self) -> bool:
        """L: lock the selected sub-images, or unlock them when all are locked already."""
        ids, store = self._selection(), self.store
        if not ids or store is None:
            return False
        rows = self.grid.selected_rows()
        lock = not all(r.locked for r in rows)
        if write_with_retry(self, lambda: store.set_locked(ids, lock), "the lock") is CANCELLED:
            return False
        self.after_write(f"{'Locked' if lock else 'Unlocked'} {plural(rows)}.")
        return True

    def undo(self) -> bool:
        """Ctrl+Z: undo the last labeling action (also one made before the project was last closed)."""
        if self.store is None:
            return False
        what = self.store.undo_description()
        result = write_with_retry(self, self.store.undo, "the undo")
        if isinstance(result, Cancelled):
            return False
        if result is None:
            self.say("Nothing to undo.")
            return False
        image_id = self.store.subimage(result.subimage_ids[0]).image_id
        if self.image is None or image_id != self.image.id:
            if not self.browser.select_image(image_id):
                self.show_image(image_id)
        self.refresh_image()
        self.grid.select_ids([i for i in result.subimage_ids if i in {r.id for r in self.grid.rows}])
        self.after_write(f"Undid {what}.")
        return True

    def after_write(self, text: str) -> None:
        self.refresh_image()
        self.selflearn.show_decisions()
        self._update_counts()
        self.say(text)
        self.labels_changed.emit()

    # ---- self-learning (see SelfLearnControl) --------------------------------------------------
    def run_selflearning(self, request: SelfLearnRequest | None = None) -> bool:
        """Start a self-learning run on a worker (default: as the controls describe it)."""
        return self.selflearn.run(request)

    def cancel_selflearning(self) -> None:
        """Stop the run within one training batch; the round in progress is not saved."""
        self.selflearn.cancel()

    # ---- shared -------------------------------------------------------------------------------
    def update_enabled(self) -> None:
        store = self.store
        self.action_set.set_state(store is not None, self.worker.running,
                               store is not None and store.undo_description() is not None)
        self.ui.set_enabled(store is not None)

    def say(self, text: str) -> None:
        self.ui.status.setText(text)
        self.message.emit(text)

    def refuse(self, title: str, message: str) -> bool:
        """An action the store or the rules refused: say why in a dialog; nothing changed."""
        self.say(message.splitlines()[-1])
        gui_errors.show_error_dialog(self, title, message)
        return False

    def failed(self, title: str, exc: BaseException) -> None:
        self.say(gui_errors.report_error(self, title, exc).splitlines()[0])

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a self-learning run, wait for the worker threads and close the project.

        Returns False when a thread is still busy after ``timeout_ms`` (a training step of a
        self-learning round finishes before the run stops).
        """
        self.poll.stop()
        self.worker.cancel()
        self.issues.worker.cancel()
        done = self.worker.wait(timeout_ms) and self.issues.worker.wait(timeout_ms) and self.jobs.wait(timeout_ms)
        self.close_project()
        return done
