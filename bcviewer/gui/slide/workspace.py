"""``SlideWorkspace``: the slide tab, composed the way napari composes its viewer.

It owns the view, the analysis panel and the heatmap controls (the dock's contents), the
analysis controller and the Qt-free :class:`~bcviewer.gui.slide.session.SlideSession`, and
exposes what the window's actions call: :meth:`open`, :meth:`run`, :meth:`cancel`,
:meth:`export`, :meth:`ask_pixel_size`, :meth:`set_magnification`, :meth:`set_runtime` and
:meth:`choose_model`. The window creates it and connects actions to it; nothing here reaches
back into the window. Every decision about the input (model, grid, notes) is the core's
:func:`bcviewer.inference.plan.plan_input`; file reading, planning and exports run on workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from bcviewer.errors import BcviewerError
from bcviewer.gui import core
from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.gui.actions import Actions, check_runtime, fill_model_menu
from bcviewer.gui.dialogs import ask_export_path, show_model_card
from bcviewer.gui.errors import is_headless, report_error
from bcviewer.gui.settings import ViewerSettings
from bcviewer.gui.slide import pixel_size
from bcviewer.gui.slide.analysis import (
    AnalysisController,
    available_models,
    describe_choice,
    preview_grid,
    read_model_card,
)
from bcviewer.gui.slide.analysis_panel import AnalysisPanel
from bcviewer.gui.slide.compare import CompareController
from bcviewer.gui.slide.explain import ExplainController
from bcviewer.gui.slide.opening import open_for_view
from bcviewer.gui.slide.overlay_binding import OverlayBinding
from bcviewer.gui.slide.overlay_controls import OverlayControls
from bcviewer.gui.slide.quality import QualityControl
from bcviewer.gui.slide.regions import RegionsController
from bcviewer.gui.slide.report_export import ReportExport
from bcviewer.gui.slide.review import ReviewTools
from bcviewer.gui.slide.run_display import RunDisplay, show_grid
from bcviewer.gui.slide.session import SlideSession
from bcviewer.gui.slide.stain_control import StainControl
from bcviewer.gui.slide.status_bar import ViewerStatusBar
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.workers import Job, JobRunner
from bcviewer.qupath import slide_bounds
from bcviewer.slides import SUPPORTED_FORMATS, SlideReader
from bcviewer.tiling.kind import input_kind
from bcviewer.filenames import escaped_text, recovered_path

if TYPE_CHECKING:
    from bcviewer.inference import TileScores
    from bcviewer.nets import StoredModel
    from bcviewer.tiling import TileGrid

SIDE_WIDTH = 360  # results must not resize the slide view when they arrive


class SlideWorkspace(QObject):
    """The slide tab's widgets, its analysis and its session (see the module docstring)."""

    # A slide is on screen (its path, a str). object, not str: a Qt string would drop the bytes of a
    # file name that is not UTF-8, and the path would no longer name the file.
    opened = Signal(object)
    open_failed = Signal(str)  # the message shown to the user

    def __init__(self, window: QWidget, settings: ViewerSettings, actions: Actions, status: ViewerStatusBar) -> None:
        super().__init__(window)
        self._window, self.settings, self.actions, self.status = window, settings, actions, status
        self.session = SlideSession()
        self.view = SlideView(window)
        self.view.pixel_size = self.session.mpp
        self.jobs = JobRunner(2, self)
        self.analysis = AnalysisController(self)
        self.panel = AnalysisPanel()
        self.overlay_controls = OverlayControls()
        self.regions = RegionsController(window, self.view, self.jobs)
        self.compare = CompareController(window, self.view, self.jobs, lambda: self.session.path, self.session.mpp,
                                         self.open, self.settings.last_folder)
        self.canvas = self.compare.canvas  # the tab's contents: the view, and a second one beside it
        self.review = ReviewTools(self.view, self.jobs, status, actions.review, self.overlay_controls,
                                  self.regions.tool, self)
        self.quality = QualityControl(window, self.view, status, actions.run, actions.minimap)
        self.quality.bind_options(lambda: self.session.plan_options(self.settings.model_name()))
        self.explain = ExplainController(window, self.view, self.jobs, lambda: self.session.scores, self.analysis,
                                         self.review.navigator.tile_shown)
        self.side = self._build_side()
        self.display = RunDisplay(self.analysis, self.view, self.panel,
                                  lambda: self.analysis.model.card if self.analysis.model else None, self)
        self.overlay = OverlayBinding(self.view, self.overlay_controls, actions, settings)
        self.stain = StainControl(window, self.view, status, self.jobs, actions.view_menu)  # View > Stain
        self._open_job: Job | None = None
        self.report = ReportExport(window, self.jobs, self.status.showMessage)
        self.labeling_project: Callable[[], Path | None] = lambda: None  # the window's open project, if any
        self._connect()
        self.set_runtime(settings.runtime())

    def _build_side(self) -> QTabWidget:
        box = QGroupBox("Heatmap")
        QVBoxLayout(box).addWidget(self.overlay_controls)
        analysis = QWidget()
        layout = QVBoxLayout(analysis)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        layout.addWidget(box)
        layout.addWidget(self.quality.panel)
        layout.addStretch(1)
        side = QTabWidget()
        side.setFixedWidth(SIDE_WIDTH)
        for page, title in ((analysis, "Analysis"), (self.regions.panel, "Regions"),
                            (self.review.gallery.panel, "Tiles"), (self.explain.panel, "Explain")):
            scroll = QScrollArea()  # on a small screen the page scrolls instead of growing the window
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(page)
            side.addTab(scroll, title)
        return side

    def _connect(self) -> None:
        v, d = self.view, self.display
        self.panel.run_requested.connect(lambda: self.run())
        self.panel.cancel_requested.connect(self.cancel)
        v.cursor_moved.connect(self.status.set_cursor)
        v.view_changed.connect(lambda: self.status.set_zoom(v.scale))
        v.level_changed.connect(lambda lv: self.status.set_level(lv, v.reader.level_count if v.reader else 0))
        v.tile_hovered.connect(lambda i: self.status.set_tile(None if i is None else v.heatmap.info(i)))
        v.read_failed.connect(lambda msg: report_error(self._window, "Cannot read the slide", BcviewerError(msg)))
        d.running_changed.connect(self.actions.cancel.setEnabled)
        d.scores_shown.connect(self._on_scores)
        d.failed.connect(self._on_failed)
        self.analysis.finished.connect(self._on_finished)
        self.overlay.grid_shown.connect(self.show_grid_preview)
        self.regions.analyse_requested.connect(lambda: self.run(inside_regions=True))
        for signal in (self.analysis.grid_ready, self.analysis.progress, d.scores_shown):
            signal.connect(self.compare.schedule_follow)
        self.overlay_controls.threshold_changed.connect(lambda _value: self.compare.refresh_heading())
        self.analysis.started.connect(lambda _model: self.review.clear())
        self.analysis.progress.connect(lambda _batch: self.review.scores_changed())
        d.scores_shown.connect(lambda _scores: self.review.scores_changed(now=True))
        self.opened.connect(lambda _path: self.review.clear())
        self.opened.connect(lambda _path: self.explain.clear())
        self.opened.connect(lambda _path: self.stain.slide_opened())
        q = self.quality.controller  # Esc and the toolbar's Cancel stop quality control too
        q.started.connect(lambda: self.actions.cancel.setEnabled(True))
        for ended in (q.finished, q.cancelled, q.failed):
            ended.connect(lambda _r: self.actions.cancel.setEnabled(self.analysis.running))

    # ---- opening ---------------------------------------------------------------------------
    def open(self, path: str | Path) -> Job:
        """Open ``path`` in the background; the view switches when the slide is ready."""
        text = recovered_path(str(Path(path).expanduser()))  # a name Qt decoded with U+FFFD: the real file
        self.status.showMessage(f"Opening {escaped_text(Path(text).name)} …")
        job: Job = self.jobs.submit(open_for_view, text, on_success=lambda r: self._on_opened(job, text, r),
                                    on_error=lambda e: self._on_open_failed(job, text, e))
        self._open_job = job
        return job

    def _on_opened(self, job: Job, path: str, result: tuple[SlideReader, QImage]) -> None:
        reader, thumbnail = result
        if job is not self._open_job:  # another file was asked for meanwhile
            self.view.loader.close_reader_later(reader)
            return
        self._open_job = None
        self.analysis.detach()
        self.quality.set_slide()
        self.session.open(Path(path), reader, self.settings.pixel_size(path))
        bx, by, _, _ = slide_bounds(reader.properties, reader.dimensions)
        self.regions.set_slide(Path(path), (bx, by))
        self.view.set_slide(reader, thumbnail)
        self._check_magnification(None)
        self.view.heatmap.show_grid = self.actions.grid.isChecked()
        self.status.set_slide(reader, self.session.user_mpp)
        self.status.set_zoom(self.view.scale)
        self.status.set_level(self.view.current_level, reader.level_count)
        self.status.showMessage(f"{escaped_text(Path(path).name)}: {reader.dimensions[0]} x {reader.dimensions[1]} px, "
                                f"{reader.level_count} level(s), {reader.format}", 8000)
        self.panel.show_ready()
        self.panel.set_warnings([])
        self.panel.set_model_name("automatic (by image type)")
        self.describe_model()
        self._set_exports_enabled(False)
        if self.actions.grid.isChecked():
            self.show_grid_preview()
        self.compare.left_opened()
        self.opened.emit(path)

    def _on_open_failed(self, job: Job, path: str, exc: BaseException) -> None:
        if job is not self._open_job:
            return
        self._open_job = None
        self.status.clearMessage()
        self.open_failed.emit(report_error(self._window, "Cannot open the file", exc))

    def on_core_ready(self) -> None:
        """The analysis half of the core is imported: fill the model menu, describe the model."""
        fill_model_menu(self.actions, available_models(), self.settings.model_name())
        self.overlay.refresh_controls()
        if self.view.reader is not None:
            self.status.set_slide(self.view.reader, self.session.user_mpp)
            self.status.set_zoom(self.view.scale)
            if not self.analysis.running:
                self.describe_model()

    # ---- analysis --------------------------------------------------------------------------
    def run(self, model: str | StoredModel | None = None, inside_regions: bool = False) -> bool:
        """Start analysing the open slide (cancelling a run in progress); False without a slide.
        ``inside_regions``: score only the tiles whose centre lies inside the drawn regions."""
        reader = self.view.reader
        if reader is None:
            report_error(self._window, "Nothing to analyse",
                         BcviewerError(f"Open a slide or image first (File > Open). Supported: {SUPPORTED_FORMATS}"))
            return False
        if self.quality.usable() is None and input_kind(reader) == "whole-slide":  # as predict's --qc auto
            again = self.quality.controller.result is not None
            self.status.showMessage("Quality control was cancelled: checking every tile again before the analysis"
                                    if again else "Checking quality before the analysis …", 8000)
            return self.quality.check(then=lambda: self._analyse(reader, model, inside_regions))
        self._analyse(reader, model, inside_regions)
        return True

    def _analyse(self, reader: SlideReader, model: str | StoredModel | None, inside_regions: bool) -> None:
        """Start the analysis with the finished QC, when there is one (else the core's plan checks the
        tiles itself: QC failed, e.g. for want of a pixel size, and the analysis reports why)."""
        if reader is not self.view.reader:  # another slide was opened meanwhile
            return
        regions = self.regions.in_file_frame() if inside_regions else ()
        options = self.session.plan_options(self.settings.model_name(), regions)
        qc = self.quality.usable()
        if qc is not None:
            options = replace(options, qc=True)  # the user's QC of a microscopy image applies too
        self.session.scores = None
        self.view.heatmap.clear()
        self.view.update()
        self._set_exports_enabled(False)
        self.analysis.start(reader, model if model is not None else options.model, options, qc)

    def cancel(self) -> None:
        """Stop the run after its batch in flight (or the quality control an analysis waits for)."""
        if self.quality.cancel():
            return
        if self.analysis.cancel():
            self.status.showMessage("Cancelling after the current batch …", 4000)

    def _on_scores(self, scores: TileScores) -> None:
        self.session.scores = scores
        self.session.plan = self.analysis.plan
        self._set_exports_enabled(scores.n_done > 0)
        tissue = scores.grid.tissue if scores.grid.kind == "physical" else None
        self.regions.measure(scores, self.session.mpp(), tissue)

    def _on_finished(self, _scores: TileScores) -> None:
        if self.analysis.runtime_note:
            self.status.showMessage(self.analysis.runtime_note, 15000)

    def _on_failed(self, exc: BaseException) -> None:
        from bcviewer.inference.scale import ScaleUnknownError

        if isinstance(exc, ScaleUnknownError) and not is_headless():
            # The core will not guess the pixel size: ask for it, then run again.
            self.panel.show_waiting("waiting for the pixel size of this slide (see the dialog)")
            if self.ask_pixel_size() is not None:
                self.run()
            else:
                self.panel.show_failed("the pixel size of this slide is unknown; give it with Analysis > Pixel size…")
            return
        if isinstance(exc, ScaleUnknownError):  # headless: nobody to ask
            exc = BcviewerError(f"{exc}; give it with 'bcviewer open PATH --mpp UM_PER_PX'")
        message = report_error(self._window, "The analysis failed", exc)
        self.panel.show_failed(message.splitlines()[0])

    def set_runtime(self, runtime: str) -> None:
        """Run the next analyses on ``runtime`` (auto, onnx, torch, int8) and remember it; PyTorch,
        remembered from a full install, falls back to auto where it is not installed (and says so)."""
        if runtime == "torch" and not torch_installed():
            self.status.showMessage(torch_missing_message("The PyTorch runtime") + "; using Automatic", 15000)
            runtime = "auto"
        self.settings.set_runtime(runtime)
        self.analysis.runtime = self.settings.runtime()
        check_runtime(self.actions, self.analysis.runtime)

    def choose_model(self, name: str) -> None:
        """The model menu's choice (AUTOMATIC_MODEL: by the kind of input); it replaces --model."""
        self.session.model_override = None
        self.settings.set_model_name(name)
        if self.view.reader is not None and core.is_ready():
            self.describe_model()

    def show_model_card(self) -> None:
        """The card of the model in use, or of the one a run would use."""
        if self.analysis.model is not None:
            show_model_card(self._window, self.analysis.model.card)
            return
        self.jobs.submit(read_model_card, self.view.reader, self.session.requested_model(self.settings.model_name()),
                         on_success=lambda card: show_model_card(self._window, card),
                         on_error=lambda e: report_error(self._window, "No model card", e))

    # ---- what a run would do ---------------------------------------------------------------
    def describe_model(self) -> None:
        """Say what the chosen model reads and warn about this input's scale (before a run)."""
        reader = self.view.reader
        if reader is None or not core.is_ready() or self.analysis.running:
            return
        options = self.session.plan_options(self.settings.model_name())
        generation = self.view.generation

        def show(result: tuple[str, list[str]]) -> None:
            if self.view.generation == generation and not self.analysis.running:
                self.display.show_notes(*result)

        self.jobs.submit(describe_choice, reader, options, on_success=show,
                         on_error=lambda e: self.panel.set_model_name(f"{options.model or 'automatic'} ({e})"))

    def show_grid_preview(self) -> None:
        """Before any run, outline the tiles a run would score."""
        reader = self.view.reader
        if reader is None or self.view.heatmap.has_grid or self.analysis.running:
            return
        generation = self.view.generation

        def show(grid: TileGrid) -> None:
            if self.view.generation == generation and not self.view.heatmap.has_grid and not self.analysis.running:
                show_grid(self.view, grid)

        self.jobs.submit(preview_grid, reader, self.session.plan_options(self.settings.model_name()), on_success=show,
                         on_error=lambda e: self.status.showMessage(f"No tile grid to show: {e}", 8000))

    # ---- scale -----------------------------------------------------------------------------
    def set_magnification(self, value: int | None) -> None:
        """Analyse the open image at ``value``X (None: from the file name, else the model's own)."""
        self.session.magnification = value
        self._check_magnification(value)
        self.describe_model()
        if self.actions.grid.isChecked() and not self.analysis.running:
            self.view.heatmap.clear()
            self.show_grid_preview()

    def _check_magnification(self, value: int | None) -> None:
        for act in self.actions.magnification_group.actions():
            act.setChecked((act.data() or None) == value)

    def ask_pixel_size(self) -> float | None:
        """Ask the open slide's µm/px (remembered for the file); None when cancelled or not needed."""
        reader, path = self.view.reader, self.session.path
        if reader is None or path is None:
            return None
        if reader.mpp:
            self.status.showMessage(f"{path.name} records its pixel size: {reader.mpp:.3f} µm/px", 8000)
            return None
        value = pixel_size.ask_pixel_size(self._window, reader, self.session.user_mpp)
        if value is not None:
            self.session.enter_mpp(value)
            self.settings.set_pixel_size(path, value)
            self.status.set_slide(reader, value)
            self.view.update()
            self.describe_model()
        return value

    # ---- exports ---------------------------------------------------------------------------
    def _set_exports_enabled(self, on: bool) -> None:
        for a in self.actions.exports.values():
            a.setEnabled(on)

    def export(self, kind: str, path: str | None = None) -> Job | None:
        """Write the current scores as ``kind`` (see EXPORT_KINDS) in the background."""
        scores, reader = self.session.scores, self.view.reader
        if scores is None or reader is None:
            report_error(self._window, "Nothing to export",
                         BcviewerError("Run the analysis first; there are no scores to export yet."))
            return None
        stem = self.session.path.stem if self.session.path else "bcviewer"
        target = path or ask_export_path(self._window, kind, Path(self.settings.last_folder() or "."), stem)
        if not target:
            return None
        from bcviewer.gui.exporting import export_file

        layer = self.view.heatmap
        options = {"cmap": layer.colormap, "opacity": layer.opacity, "threshold": layer.threshold,
                   "smooth": layer.smooth, "mpp": self.session.mpp()}
        if kind == "report":
            return self.report.start(target, reader, scores, self.session.plan, mpp=self.session.mpp(),
                                     regions=self.regions.regions, project=self.labeling_project(),
                                     look={k: v for k, v in options.items() if k != "mpp"})
        return self.jobs.submit(export_file, kind, scores, reader, target, options,
                                on_success=lambda p: self.status.showMessage(f"Saved {p}", 8000),
                                on_error=lambda e: report_error(self._window, "Export failed", e))

    # ---- state -----------------------------------------------------------------------------
    def is_idle(self) -> bool:
        """True when no file is opening, no analysis runs and the visible tiles are all drawn."""
        return (self._open_job is None and not self.analysis.running and not self.quality.running
                and self.jobs.pending == 0
                and self.regions.saver.pending == 0 and self.view.is_settled())

    def shutdown(self, timeout_ms: int) -> bool:
        """Stop the analysis, the jobs and the tile readers; True when all finished."""
        self.analysis.detach()
        ok = self.analysis.wait(timeout_ms)
        ok = self.quality.controller.wait(timeout_ms) and ok
        ok = self.explain.wait(timeout_ms) and ok
        ok = self.jobs.wait(timeout_ms) and ok
        ok = self.regions.wait(timeout_ms) and ok
        ok = self.compare.shutdown() and ok
        return self.view.shutdown() and ok
