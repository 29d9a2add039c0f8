"""``AnalysisController``: runs the core ``Predictor`` over a slide in a worker thread.

One run at a time: a run loads the model (once per name, then cached), builds the default tile
grid for the slide (with the user's pixel size when the file records none; without either the
core raises ``ScaleUnknownError`` and the window asks for it), reports what the model reads and
any scale warnings, the tissue outline for whole slides, and streams score batches back to the
GUI thread as signals. Cancelling sets
the predictor's cancel event, so it stops after the batch in flight and returns the partial
scores. Starting a new run cancels the old one; the single worker thread runs the new one only
after the old one has stopped, and signals of a replaced run are ignored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from bcviewer.errors import BcviewerError
from bcviewer.gui.workers import BackgroundRun
from bcviewer.slides import SlideReader

if TYPE_CHECKING:  # the core's PyTorch half is imported on the worker thread (see gui.core)
    from bcviewer.inference import ScoreBatch, TileScores
    from bcviewer.nets import LoadedModel
    from bcviewer.tiling import TileGrid

AUTOMATIC_MODEL = ""  # the model is chosen per slide: BreakHis for images, IDC for whole slides


def available_models() -> list[str]:
    """Names of the model folders found in the model search path, first occurrence wins."""
    from bcviewer.nets import model_search_dirs
    from bcviewer.nets.store import CARD_NAME

    names: list[str] = []
    for base in model_search_dirs():
        if base.is_dir():
            for card in sorted(base.glob(f"*/{CARD_NAME}")):
                if card.parent.name not in names:
                    names.append(card.parent.name)
    return names


def preview_grid(reader: SlideReader, choice: str, mpp: float | None = None,
                 magnification: int | None = None) -> TileGrid:
    """The grid a run would use, from the model card alone (no weights loaded; worker thread).

    Without an installed model, images still get the 3x3 sub-image grid; whole slides need the
    card's physical tile size and raise the core's TilingError (or ScaleUnknownError).
    """
    from bcviewer.inference import default_grid, default_model_name
    from bcviewer.nets import InputSpec
    from bcviewer.nets.store import read_card, resolve_model_dir

    try:
        spec = InputSpec.from_dict(read_card(resolve_model_dir(choice or default_model_name(reader)))["input"])
    except BcviewerError:  # no model installed, or an unreadable card: the image grid needs none
        spec = None
    return default_grid(reader, spec, mpp=mpp, magnification=magnification)


def run_notes(reader: SlideReader, name: str, card: dict[str, Any] | None, spec: Any, grid: TileGrid | None,
              mpp: float | None, magnification: int | None = None) -> tuple[str, list[str]]:
    """What the model reads ("idc-wsi: whole slide, 200 µm tiles at 4 µm/px"), the magnification
    a microscopy image is read at when it is not the model's own or was assumed, and the warnings
    about this input's scale (core rules; any thread)."""
    from bcviewer.inference import describe_model, level0_mpp, scale_warnings
    from bcviewer.inference.grids import magnification_note

    side0 = float(grid[0].w) if grid is not None and len(grid) and grid.kind == "physical" else None
    notes = scale_warnings(reader, spec, card, name, side0, level0_mpp(reader, mpp))
    note = magnification_note(reader, spec, grid, magnification) if grid is not None else None
    return describe_model(name, card, spec), ([note] if note else []) + list(notes)


def describe_choice(reader: SlideReader, choice: str, mpp: float | None = None,
                    magnification: int | None = None) -> tuple[str, list[str]]:
    """:func:`run_notes` before a run, from the card alone (worker thread)."""
    from bcviewer.inference import ScaleUnknownError, default_grid, default_model_name
    from bcviewer.nets import InputSpec
    from bcviewer.nets.store import read_card, resolve_model_dir

    name = choice or default_model_name(reader)
    card = read_card(resolve_model_dir(name))
    spec = InputSpec.from_dict(card["input"])
    try:
        grid = default_grid(reader, spec, mpp=mpp, magnification=magnification)
    except ScaleUnknownError:
        return run_notes(reader, str(card.get("name", name)), card, spec, None, mpp)[0], [
            "the pixel size of this slide is unknown; Run will ask for it"]
    except BcviewerError as exc:
        return run_notes(reader, str(card.get("name", name)), card, spec, None, mpp)[0], [str(exc)]
    return run_notes(reader, str(card.get("name", name)), card, spec, grid, mpp, magnification)


def read_model_card(reader: SlideReader | None, choice: str) -> dict[str, Any]:
    """The card of the model a run would use (worker thread); no weights are loaded."""
    from bcviewer.inference import DEFAULT_IMAGE_MODEL, default_model_name
    from bcviewer.nets.store import read_card, resolve_model_dir

    name = choice or (default_model_name(reader) if reader is not None else DEFAULT_IMAGE_MODEL)
    return read_card(resolve_model_dir(name))


def batch_size_for(total: int) -> int:
    """Small enough batches that the heatmap fills in over about eight steps, at most 32 tiles."""
    return max(1, min(32, math.ceil(total / 8)))


class NoTilesError(BcviewerError):
    """The grid for this slide has no tile to analyse."""


class _RunSignals(QObject):
    model_ready = Signal(object)  # LoadedModel
    notes_ready = Signal(str, object)  # model description, list of scale warnings
    tissue_ready = Signal(object)  # level-0 tissue polygons (whole slides), or None
    grid_ready = Signal(object)  # TileGrid
    batch_scored = Signal(object)  # ScoreBatch
    finished = Signal(object)  # TileScores (partial when cancelled) or None if cancelled before scoring
    failed = Signal(object)  # exception


class AnalysisRun(BackgroundRun):
    """One analysis of one slide; ``run`` executes on the controller's worker thread."""

    def __init__(
        self, reader: SlideReader, model: str | LoadedModel, batch_size: int | None, loaded: dict[str, LoadedModel],
        mpp: float | None = None, magnification: int | None = None, runtime: str = "auto",
    ) -> None:
        super().__init__(_RunSignals())
        self.runtime = runtime  # see bcviewer.inference.runtime
        self.used_runtime: str | None = None  # what "auto" resolved to, once the predictor exists
        self.runtime_note = ""  # why "auto" fell back to torch, if it did
        self.reader = reader
        self.model = model  # a name or folder; AUTOMATIC_MODEL picks the default for the slide
        self.loaded = loaded  # models loaded by earlier runs, by name
        self.loaded_as: str | None = None  # the name this run loaded its model under
        self.batch_size = batch_size
        self.mpp = mpp  # the user's µm/px, used only when the file records none
        self.magnification = magnification  # the user's magnification of a microscopy image

    def work(self) -> TileScores | None:
        from bcviewer.inference import Predictor, default_grid, default_model_name
        from bcviewer.nets import LoadedModel, load_model

        if isinstance(self.model, LoadedModel):
            model = self.model
        else:
            name = self.model or default_model_name(self.reader)
            model = self.loaded.get(name) or load_model(name)
            self.loaded_as = name
        self.signals.model_ready.emit(model)
        if self.cancel_event.is_set():
            return None
        grid = default_grid(self.reader, model.spec, mpp=self.mpp, magnification=self.magnification)
        if len(grid) == 0:
            raise NoTilesError(f"{self.reader.path.name}: no tile of the analysis grid contains enough tissue")
        self.signals.notes_ready.emit(*run_notes(self.reader, model.name, model.card, model.spec, grid, self.mpp,
                                                 self.magnification))
        if grid.kind == "physical":  # glass inside whole-slide tiles stays transparent
            from bcviewer.tiling import detect_tissue, tissue_polygons

            self.signals.tissue_ready.emit(tissue_polygons(detect_tissue(self.reader)))
        self.signals.grid_ready.emit(grid)
        predictor = Predictor(model, device="auto", runtime=self.runtime)
        self.used_runtime, self.runtime_note = predictor.runtime, predictor.runtime_note
        return predictor.run(
            self.reader,
            grid,
            self.batch_size or batch_size_for(len(grid)),
            on_batch=self.signals.batch_scored.emit,
            cancel=self.cancel_event,
        )


class AnalysisController(QObject):
    """Starts, cancels and reports analysis runs for the main window."""

    started = Signal(str)  # model name or path being loaded
    model_ready = Signal(object)  # LoadedModel
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
        self._models: dict[str, LoadedModel] = {}
        self.model: LoadedModel | None = None
        self.grid: TileGrid | None = None
        self.batch_size: int | None = None  # None: batch_size_for(number of tiles)
        self.runtime = "auto"  # the Predictor's runtime for the next runs
        self.runtime_used: str | None = None  # the runtime of the last finished run
        self.runtime_note = ""  # and why it is not the fast one, when "auto" had to fall back

    @property
    def running(self) -> bool:
        return self._current is not None

    @staticmethod
    def model_for(reader: SlideReader, choice: str) -> str:
        """The model name a run would use: ``choice``, or the default for this kind of slide.

        Imports the inference module; call it once :func:`bcviewer.gui.core.is_ready`.
        """
        from bcviewer.inference import default_model_name

        return choice or default_model_name(reader)

    def start(self, reader: SlideReader, model: str | LoadedModel | Path, mpp: float | None = None,
              magnification: int | None = None) -> None:
        """Cancel any current run and analyse ``reader`` with ``model``: a name, a folder, a loaded
        model, or AUTOMATIC_MODEL for the default model of this kind of slide. ``mpp`` is the
        user's pixel size for a slide that records none; ``magnification`` the user's choice for a
        microscopy image (None: from the file name, else the model's own, which is then stated)."""
        self.cancel()
        self.grid = None
        run = AnalysisRun(
            reader, model if not isinstance(model, Path) else str(model), self.batch_size, dict(self._models), mpp,
            magnification, self.runtime)
        key = getattr(model, "name", None) or str(model) or "the default model"
        s = run.signals
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
    def _on_model(self, run: AnalysisRun, model: LoadedModel) -> None:
        if run.loaded_as:
            self._models[run.loaded_as] = model
        if run is self._current:
            self.model = model
            self.model_ready.emit(model)

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
        self.runtime_used, self.runtime_note = run.used_runtime, run.runtime_note
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
