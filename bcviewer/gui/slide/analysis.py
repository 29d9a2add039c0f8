"""``AnalysisController``: runs the core ``Predictor`` over a slide in a worker thread.

One run at a time: a run asks the core to plan the slide (:func:`bcviewer.inference.plan.plan_input`:
the model and why, the grid with its tissue mask, the notes; with the user's pixel size when the
file records none, else the core raises ``ScaleUnknownError`` and the workspace asks for it),
loads the model (once per name, then cached), reports what the model reads and any scale
warnings, the tissue outline for whole slides, and streams score batches back to the GUI thread
as signals. Cancelling sets
the predictor's cancel event, so it stops after the batch in flight and returns the partial
scores. Starting a new run cancels the old one; the single worker thread runs the new one only
after the old one has stopped, and signals of a replaced run are ignored.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from bcviewer.errors import BcviewerError
from bcviewer.gui.workers import BackgroundRun
from bcviewer.slides import SlideReader

if TYPE_CHECKING:  # the core's PyTorch half is imported on the worker thread (see gui.core)
    from bcviewer.inference import ScoreBatch, TileScores
    from bcviewer.inference.plan import InputPlan, PlanOptions
    from bcviewer.nets import StoredModel
    from bcviewer.qc import GridQc
    from bcviewer.tiling import TileGrid

AUTOMATIC_MODEL = ""  # the model is chosen per slide by the core (bcviewer.inference.plan.choose_model)


def available_models() -> list[str]:
    """Names of the model folders found in the model search path, first occurrence wins."""
    from bcviewer.nets import model_search_dirs
    from bcviewer.nets import CARD_NAME

    names: list[str] = []
    for base in model_search_dirs():
        if base.is_dir():
            for card in sorted(base.glob(f"*/{CARD_NAME}")):
                if card.parent.name not in names:
                    names.append(card.parent.name)
    return names


def preview_grid(reader: SlideReader, options: PlanOptions) -> TileGrid:
    """The grid a run would use, from the model card alone (no weights loaded; worker thread).

    Without an installed model, images still get their sub-image grid; whole slides need the
    card's physical tile size and raise the core's TilingError (or ScaleUnknownError).
    """
    from bcviewer.inference.plan import choose_model, plan_grid

    try:
        spec = choose_model(reader, options.model).spec
    except BcviewerError:  # no model installed, or an unreadable card: the image grid needs none
        spec = None
    return plan_grid(reader, spec, options)


def describe_choice(reader: SlideReader, options: PlanOptions) -> tuple[str, list[str]]:
    """What the model a run would use reads, and the warnings about this input, before a run
    (worker thread): the core's plan, from the card alone."""
    from bcviewer.inference import ScaleUnknownError
    from bcviewer.inference.plan import choose_model, plan_input

    choice = choose_model(reader, options.model)
    try:
        plan = plan_input(reader, replace(options, qc=False), choice)  # a description reads no tiles
    except ScaleUnknownError:
        return choice.describe(), ["the pixel size of this slide is unknown; Run will ask for it"]
    except BcviewerError as exc:
        return choice.describe(), [str(exc)]
    return plan.description, plan.panel_warnings()


def read_model_card(reader: SlideReader | None, choice: str) -> dict[str, Any]:
    """The card of the model a run would use (worker thread); no weights are loaded."""
    from bcviewer.inference.plan import choose_model

    return choose_model(reader, choice).card


def batch_size_for(total: int) -> int:
    """Small enough batches that the heatmap fills in over about eight steps, at most 32 tiles."""
    return max(1, min(32, math.ceil(total / 8)))


class _RunSignals(QObject):
    plan_ready = Signal(object)  # InputPlan
    model_ready = Signal(object)  # StoredModel
    notes_ready = Signal(str, object)  # model description, list of scale warnings
    tissue_ready = Signal(object)  # level-0 tissue polygons (whole slides), or None
    grid_ready = Signal(object)  # TileGrid
    batch_scored = Signal(object)  # ScoreBatch
    finished = Signal(object)  # TileScores (partial when cancelled) or None if cancelled before scoring
    failed = Signal(object)  # exception


class AnalysisRun(BackgroundRun):
    """One analysis of one slide; ``run`` executes on the controller's worker thread."""

    signals: _RunSignals

    def __init__(self, reader: SlideReader, model: str | StoredModel, options: PlanOptions, batch_size: int | None,
                 loaded: dict[str, StoredModel], runtime: str = "auto", qc: GridQc | None = None) -> None:
        super().__init__(_RunSignals())
        self.qc = qc  # quality control already run on this slide: the plan reuses it
        self.runtime = runtime  # see bcviewer.inference.runtime
        self.runtime_used: str | None = None  # what "auto" resolved to, once the predictor exists
        self.runtime_note = ""  # why "auto" fell back to torch, if it did
        self.reader = reader
        self.model = model  # a name or folder (AUTOMATIC_MODEL: the core chooses), or a loaded model
        self.options = options  # the user's pixel size and magnification, for the core's plan
        self.loaded = loaded  # models loaded by earlier runs, by name
        self.loaded_as: str | None = None  # the name this run loaded its model under
        self.batch_size = batch_size

    def work(self) -> TileScores | None:
        from bcviewer.inference import Predictor
        from bcviewer.inference.plan import ModelChoice, choose_model, plan_input
        from bcviewer.nets import StoredModel, open_model

        if isinstance(self.model, StoredModel):
            loaded: StoredModel | None = self.model
            choice = ModelChoice.of_card(self.model.name, self.model.card, "given")
        else:
            loaded, choice = None, choose_model(self.reader, self.model)
        plan = plan_input(self.reader, self.options, choice, qc=self.qc)  # before any weights: a bad input fails fast
        if loaded is None:
            loaded = self.loaded.get(choice.source) or open_model(choice.source)
            self.loaded_as = choice.source
        self.signals.model_ready.emit(loaded)
        if self.cancel_event.is_set():
            return None
        self.signals.plan_ready.emit(plan)
        self.signals.notes_ready.emit(plan.description, plan.panel_warnings())
        if plan.grid.kind == "physical" and plan.grid.tissue is not None:  # glass inside tiles stays transparent
            from bcviewer.tiling import tissue_polygons

            self.signals.tissue_ready.emit(tissue_polygons(plan.grid.tissue))
        self.signals.grid_ready.emit(plan.grid)
        predictor = Predictor(loaded, device="auto", runtime=self.runtime)
        self.runtime_used, self.runtime_note = predictor.runtime, predictor.runtime_note
        return predictor.run(
            self.reader,
            plan.grid,
            self.batch_size or batch_size_for(len(plan.grid)),
            on_batch=self.signals.batch_scored.emit,
            cancel=self.cancel_event,
            qc_flags=plan.qc_flags,
        )


class AnalysisController(QObject):
    """Starts, cancels and reports analysis runs for the main window."""

    started = Signal(str)  # model name or path being loaded
    model_ready = Signal(object)  # StoredModel
    notes_ready = Signal(str, object)  # model description, scale warnings
    tissue_ready = Signal(object)  # level-0 tissue polygons
    grid_ready = Signal(object)  # TileGrid
    progress = Signal(object)  # ScoreBatch
    finished = Signal(object)  # complete TileScores
    cancelled = Signal(object)  # partial TileScores, or None when cancelled before scoring
    failed = Signal(object)  # exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._current: AnalysisRun | None = None
        self._runs: set[AnalysisRun] = set()
        self._models: dict[str, StoredModel] = {}
        self.model: StoredModel | None = None
        self.grid: TileGrid | None = None
        self.plan: InputPlan | None = None  # how the current run analyses its slide
        self.batch_size: int | None = None  # None: batch_size_for(number of tiles)
        self.runtime = "auto"  # the Predictor's runtime for the next runs
        self.runtime_used: str | None = None  # the runtime of the last finished run
        self.runtime_note = ""  # and why it is not the fast one, when "auto" had to fall back

    @property
    def running(self) -> bool:
        return self._current is not None

    def start(self, reader: SlideReader, model: str | StoredModel | Path, options: PlanOptions,
              qc: GridQc | None = None) -> None:
        """Cancel any current run and analyse ``reader`` with ``model``: a name, a folder, a loaded
        model, or AUTOMATIC_MODEL for the core's choice for this kind of slide. ``options`` carry
        the user's pixel size (for a slide that records none) and magnification (for a microscopy
        image) to the core's plan; ``qc``, quality control already run, is reused by the plan."""
        self.cancel()
        self.grid = self.plan = None
        run = AnalysisRun(reader, model if not isinstance(model, Path) else str(model), options, self.batch_size,
                          dict(self._models), self.runtime, qc)
        key = getattr(model, "name", None) or str(model) or "the default model"
        s = run.signals
        s.plan_ready.connect(lambda p, r=run: self._on_plan(r, p))
        s.model_ready.connect(lambda m, r=run: self._on_model(r, m))
        s.notes_ready.connect(lambda text, notes, r=run: self._relay(r, self.notes_ready, text, notes))
        s.tissue_ready.connect(lambda polys, r=run: self._relay(r, self.tissue_ready, polys))
        s.grid_ready.connect(lambda g, r=run: self._on_grid(r, g))
        s.batch_scored.connect(lambda b, r=run: self._on_batch(r, b))
        s.finished.connect(lambda sc, r=run: self._on_finished(r, sc))
        s.failed.connect(lambda e, r=run: self._on_failed(r, e))
        self._current = run
        self._runs.add(run)
        self.started.emit(key)
        self._pool.start(run)

    def cancel(self) -> bool:
        """Ask the current run to stop after its batch in flight; False when nothing runs."""
        if self._current is None:
            return False
        self._current.cancel()
        return True

    def detach(self) -> None:
        """Cancel the current run and ignore everything it still reports (a new slide was opened)."""
        if self._current is not None:
            self._current.cancel()
            self._current = None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the worker thread is idle (for shutdown and tests)."""
        if self._current is not None:
            self._current.cancel()
        return self._pool.waitForDone(timeout_ms)

    # ---- run signals (GUI thread) -----------------------------------------------------------
    def _on_model(self, run: AnalysisRun, model: StoredModel) -> None:
        if run.loaded_as:
            self._models[run.loaded_as] = model
        if run is self._current:
            self.model = model
            self.model_ready.emit(model)

    def _on_plan(self, run: AnalysisRun, plan: InputPlan) -> None:
        if run is self._current:
            self.plan = plan

    def _relay(self, run: AnalysisRun, signal: Any, *values: object) -> None:
        if run is self._current:
            signal.emit(*values)

    def _on_grid(self, run: AnalysisRun, grid: TileGrid) -> None:
        if run is self._current:
            self.grid = grid
            self.grid_ready.emit(grid)

    def _on_batch(self, run: AnalysisRun, batch: ScoreBatch) -> None:
        if run is self._current:
            self.progress.emit(batch)

    def _on_finished(self, run: AnalysisRun, scores: TileScores | None) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self.runtime_used, self.runtime_note = run.runtime_used, run.runtime_note
        self._current = None
        if scores is None or scores.cancelled:
            self.cancelled.emit(scores)
        else:
            self.finished.emit(scores)

    def _on_failed(self, run: AnalysisRun, exc: BaseException) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self._current = None
        if run.cancel_event.is_set():
            self.cancelled.emit(None)
        else:
            self.failed.emit(exc)
