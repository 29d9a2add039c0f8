"""``StainControl``: View > Stain — show the slide stain-normalised (Macenko or Reinhard), to the shipped
reference, to one fitted on an image file, or to the current view, with a before/after toggle (S).

This is the *view's* normalisation, kept apart from the model's: a model sees exactly what its card
prescribes (:mod:`bcviewer.nets.stain`), whatever is shown. The slide's own stain is estimated once
per slide and method, and one fixed mapping (:class:`bcviewer.nets.stain_mapping.StainMapping`) is
applied to every tile on the tile loader's reader threads; fitting a reference or the slide runs in
the workspace's background jobs, never on the GUI thread. Tiles are cached under the mapping's
identity, so showing the original again draws the original pixels, not a re-computation. The status
bar's permanent "Stain" field always says what is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu, QStatusBar, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.opening import OPEN_FILTER, overview_image
from bcviewer.gui.slide.tile_loader import rgb_to_qimage
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.workers import JobRunner
from bcviewer.slides import SlideReader

if TYPE_CHECKING:
    from bcviewer.nets.stain import StainReference
    from bcviewer.nets.stain_mapping import StainMapping

METHOD_LABELS = {"off": "&Off (original colours)", "macenko": "&Macenko", "reinhard": "&Reinhard"}
FIELD_TIP = ("The stain normalisation of the view (View > Stain; S shows the original); the model's input "
             "is normalised only as its card prescribes")
MAX_VIEW_SIDE = 2048  # "use the current view" reads the view at most this large


def prepare_mapping(reader: SlideReader, reference: StainReference) -> tuple[StainMapping, QImage]:
    """The slide's mapping onto ``reference`` and its normalised overview (runs on a worker)."""
    from bcviewer.nets.stain_mapping import slide_mapping

    mapping = slide_mapping(reader, reference)
    return mapping, rgb_to_qimage(mapping(overview_image(reader)))


def view_pixels(reader: SlideReader, level: int, rect: tuple[float, float, float, float]) -> np.ndarray:
    """The view's region at ``level`` (at most :data:`MAX_VIEW_SIDE` px a side), for a reference."""
    x, y, w, h = rect
    ds = reader.level_downsamples[level]
    lw, lh = max(1, round(w / ds)), max(1, round(h / ds))
    shrink = max(lw / MAX_VIEW_SIDE, lh / MAX_VIEW_SIDE, 1.0)
    if shrink > 1.0:  # a coarser level: what is seen, not a multi-gigapixel read
        level = reader.best_level_for_downsample(ds * shrink)
        ds = reader.level_downsamples[level]
        lw, lh = max(1, min(round(w / ds), MAX_VIEW_SIDE)), max(1, min(round(h / ds), MAX_VIEW_SIDE))
    return reader.read_region(level, round(x), round(y), lw, lh)


def view_references(reader: SlideReader, level: int, rect: tuple[float, float, float, float],
                    source: str) -> dict[str, StainReference]:
    from bcviewer.nets.stain_mapping import references_from_image

    return references_from_image(view_pixels(reader, level, rect), source)


def file_references(path: str) -> dict[str, StainReference]:
    from bcviewer.nets.stain_mapping import references_from_file

    return references_from_file(path)


class StainControl(QObject):
    """The View > Stain menu, its state, and the "Stain" field of the status bar."""

    changed = Signal(str)  # the status field's text, once what is shown has changed

    def __init__(self, window: QWidget, view: SlideView, status: QStatusBar, jobs: JobRunner,
                 view_menu: QMenu) -> None:
        super().__init__(window)
        self._window, self._view, self._status, self._jobs = window, view, status, jobs
        self.method = "off"
        self.user_references: dict[str, StainReference] | None = None  # None: the shipped default
        self.mapping: StainMapping | None = None
        self._original: QImage | None = None  # the overview as opened
        self._normalised: QImage | None = None
        self._pending = 0  # the newest mapping job; older ones are dropped when they arrive
        self.menu = QMenu("&Stain", window)
        self.method_group = QActionGroup(self)
        self.method_actions: dict[str, QAction] = {}
        for method, label in METHOD_LABELS.items():
            act = self.menu.addAction(label)
            act.setCheckable(True)
            act.setChecked(method == "off")
            act.triggered.connect(lambda _=False, m=method: self.set_method(m))
            self.method_group.addAction(act)
            self.method_actions[method] = act
        self.menu.addSeparator()
        self.default_action = self.menu.addAction("Reference: &shipped (BreakHis training image)")
        self.default_action.setCheckable(True)
        self.default_action.setChecked(True)
        self.default_action.triggered.connect(self.use_default_reference)
        self.file_action = self.menu.addAction("Reference from an image &file…")
        self.file_action.triggered.connect(lambda: self.choose_reference_file())
        self.view_action = self.menu.addAction("Reference from the current &view")
        self.view_action.triggered.connect(self.use_view_as_reference)
        self.menu.addSeparator()
        self.original_action = QAction("Show &original colours (before/after)", window)
        self.original_action.setShortcut(QKeySequence("S"))
        self.original_action.setCheckable(True)
        self.original_action.setStatusTip("Switch between the stain-normalised and the original slide (S)")
        self.original_action.toggled.connect(lambda _on: self._apply())
        self.menu.addAction(self.original_action)
        window.addAction(self.original_action)  # a live shortcut while the menu is closed
        view_menu.addSeparator()
        view_menu.addMenu(self.menu)
        self.field = QLabel("Stain: original")
        # A fixed width: a status field that grows with its text would resize the window and the view.
        self.field.setFixedWidth(self.field.fontMetrics().horizontalAdvance("Stain: Reinhard 0000000000000 (S)"))
        self.field.setToolTip(FIELD_TIP)
        status.addPermanentWidget(self.field)

    # ---- choices ---------------------------------------------------------------------------
    def set_method(self, method: str) -> None:
        """Show the slide normalised with ``method`` ("off", "macenko", "reinhard")."""
        self.method = method
        self.method_actions[method].setChecked(True)
        self.original_action.setChecked(False)
        self._refit()

    def use_default_reference(self) -> None:
        """Normalise to the shipped reference (fitted on a training-fold BreakHis image)."""
        self.user_references = None
        self.default_action.setChecked(True)
        self._refit()

    def choose_reference_file(self, path: str | None = None) -> None:
        """Fit a reference on an image file (asked for when ``path`` is None), in the background."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self._window, "Stain reference image", "", OPEN_FILTER)
            if not path:
                return
        self._status.showMessage("Fitting the stain reference …")
        self._jobs.submit(file_references, path, on_success=self._set_user_references,
                          on_error=self._reference_failed)

    def use_view_as_reference(self) -> None:
        """Fit a reference on what the view shows now (its original pixels), in the background."""
        reader = self._view.reader
        if reader is None:
            return
        r = self._view.visible_image_rect()
        level = max(self._view.current_level, 0)
        source = f"a view of {reader.path.name} at ({r.x():.0f}, {r.y():.0f})"
        self._status.showMessage("Fitting the stain reference on the current view …")
        self._jobs.submit(view_references, reader, level, (r.x(), r.y(), r.width(), r.height()), source,
                          on_success=self._set_user_references, on_error=self._reference_failed)

    def _set_user_references(self, references: dict[str, StainReference]) -> None:
        self.user_references = references
        self.default_action.setChecked(False)
        if self.method == "off":
            self.method = "macenko"  # a reference picked is a reference to be seen
            self.method_actions["macenko"].setChecked(True)
        self._refit()

    def _reference_failed(self, exc: BaseException) -> None:
        self._status.clearMessage()
        report_error(self._window, "Cannot use this stain reference", exc)
        self.default_action.setChecked(self.user_references is None)

    def reference(self) -> StainReference | None:
        """The reference of the chosen method (None when off)."""
        if self.method == "off":
            return None
        if self.user_references is not None:
            return self.user_references[self.method]
        from bcviewer.nets.stain import default_reference

        return default_reference(self.method)

    # ---- slide -----------------------------------------------------------------------------
    def slide_opened(self) -> None:
        """A new slide is shown: keep its overview and fit its mapping when normalisation is on."""
        self._original, self._normalised, self.mapping = self._view.overview, None, None
        self._apply()  # the new slide is shown as scanned until its own mapping is fitted: say so
        self._refit()

    def _refit(self) -> None:
        self._pending += 1
        try:
            reference = self.reference()
        except BcviewerError as exc:  # e.g. the shipped reference is missing from a broken install
            self.method = "off"
            self.method_actions["off"].setChecked(True)
            reference = None
            report_error(self._window, "Cannot use this stain reference", exc)
        reader = self._view.reader
        if reader is None or reference is None:
            self.mapping, self._normalised = None, None
            self._apply()
            return
        ticket = self._pending
        self._status.showMessage(f"Estimating the stain of {reader.path.name} …")

        def done(result: tuple[StainMapping, QImage]) -> None:
            if ticket == self._pending and reader is self._view.reader:
                self.mapping, self._normalised = result
                self._apply()

        def failed(exc: BaseException) -> None:
            if ticket == self._pending:
                report_error(self._window, "Cannot normalise the stain of this slide", exc)
                self.set_method("off")

        self._jobs.submit(prepare_mapping, reader, reference, on_success=done, on_error=failed)

    def _apply(self) -> None:
        """Point the loader and the overview at the normalised or the original pixels, and say which."""
        view, loader = self._view, self._view.loader
        normalised = self.mapping is not None and not self.original_action.isChecked()
        if normalised and self.mapping is not None and self._normalised is not None:
            loader.set_stain(self.mapping.identity, self.mapping)
            view.set_overview(self._normalised)
            reference = self.mapping.reference
            text, detail = f"Stain: {reference.method.capitalize()} {reference.sha256[:12]}", self.mapping.describe()
        else:
            loader.set_stain("", None)
            if self._original is not None and view.overview is not self._original and view.reader is not None:
                view.set_overview(self._original)
            text = "Stain: original (S)" if self.mapping is not None else "Stain: original"
            detail = "Original colours (S shows the stain-normalised view)" if self.mapping is not None else \
                "Original colours (View > Stain normalises the view)"
        view.update()
        if text != self.field.text() or self.mapping is not None:  # a slide opened with "off" says nothing new
            self._status.showMessage(detail, 8000)
        self.field.setText(text)
        self.field.setToolTip(f"{detail}\n{FIELD_TIP}")
        self.changed.emit(detail)
