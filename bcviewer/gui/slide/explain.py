"""Explain a tile from the viewer: which tile, the background run, and the panel it feeds.

The tile is chosen by right-clicking it in the view (a menu offers *Explain this tile*) or by
showing it from the Tiles tab or the review shortcuts; the panel's Explain button then explains
it. The work (:func:`bcviewer.inference.explain.explain_tile`, with the model and runtime of the
analysis that painted the heatmap, so the panel's p is the heatmap's) runs on a worker thread that
reports progress and stops at the next batch when cancelled. Explainers are kept per model and
runtime, so the ONNX session is built once.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QPainter, QPen
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.explain_panel import ExplainPanel
from bcviewer.gui.workers import BackgroundRun, Job, JobRunner

if TYPE_CHECKING:  # the core's analysis half loads after the first frame: imported where used
    from collections.abc import Callable

    from bcviewer.gui.slide.analysis import AnalysisController
    from bcviewer.gui.slide.view import SlideView
    from bcviewer.gui.slide.view_geometry import ViewTransform
    from bcviewer.inference import TileScores
    from bcviewer.inference.explain import Explanation, TileExplainer
    from bcviewer.nets.stored import StoredModel
    from bcviewer.slides import SlideReader
    from bcviewer.tiling import TileGrid


class _ExplainSignals(QObject):
    progress = Signal(int, int)
    finished = Signal(object)  # Explanation
    failed = Signal(object)  # exception (ExplanationCancelled when cancelled)


class ExplainRun(BackgroundRun):
    """Build (or reuse) the explainer, then explain one tile (pool thread)."""

    signals: _ExplainSignals

    def __init__(self, reader: SlideReader, grid: TileGrid, index: int, model: StoredModel, runtime: str,
                 cache: dict[tuple[str, str, str], TileExplainer], lock: threading.Lock) -> None:
        super().__init__(_ExplainSignals())
        self.reader, self.grid, self.index, self.model, self.runtime = reader, grid, index, model, runtime
        self.cache, self.lock = cache, lock

    def work(self) -> Explanation:
        from bcviewer.inference.explain import explain_tile, make_explainer

        key = (str(self.model.directory), self.runtime, repr(self.model.spec))  # a card edit (stain) is another model
        with self.lock:
            explainer = self.cache.get(key)
            if explainer is None:
                explainer = self.cache[key] = make_explainer(self.model, self.runtime)
        return explain_tile(self.reader, self.grid, self.index, explainer, self.cancel_event,
                            lambda done, total: self.signals.progress.emit(done, total))


class ExplainController(QObject):
    """Owns the explain panel; see the module docstring."""

    explained = Signal(object)  # Explanation shown

    def __init__(self, window: QWidget, view: SlideView, jobs: JobRunner, scores: Callable[[], TileScores | None],
                 analysis: AnalysisController, tile_shown: Any) -> None:
        super().__init__(window)
        self._window, self.view, self._scores, self.analysis, self.jobs = window, view, scores, analysis, jobs
        self.panel = ExplainPanel()
        self.selected: int | None = None
        self.outlined: int | None = None  # the tile outlined in the view
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._current: ExplainRun | None = None
        self._runs: set[ExplainRun] = set()
        self._cache: dict[tuple[str, str, str], TileExplainer] = {}
        self._lock = threading.Lock()
        self.panel.explain_requested.connect(self.explain)
        self.panel.cancel_requested.connect(self.cancel)
        self.panel.save_requested.connect(lambda: self.save())
        analysis.started.connect(lambda _m: self.clear())
        tile_shown.connect(lambda _key, _rank, index: self.select(index))
        view.installEventFilter(self)
        view.overlay_painters.append(self.paint)

    @property
    def running(self) -> bool:
        return self._current is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view and event.type() == QEvent.Type.ContextMenu:
            assert isinstance(event, QContextMenuEvent)
            x, y = self.view.transform.to_image(event.pos().x(), event.pos().y())
            index = self.view.heatmap.tile_at(x, y)
            if index is not None and self._scores() is not None:
                self.select(index, outline=True)
                menu = QMenu(self.view)
                menu.addAction("Explain this tile", self.explain)
                self.open_menu(menu, event.globalPos())
                return True
        return False

    def open_menu(self, menu: QMenu, at: QPoint) -> None:
        """Show the tile's menu and wait for the user's choice (tests replace this)."""
        menu.exec(at)

    def select(self, index: int | None, outline: bool = False) -> None:
        """Choose the tile Explain explains (an index of the analysed grid); ``outline`` it in the
        view (a right-click: the review tools already outline the tiles they show)."""
        scores = self._scores()
        self.outlined = index if outline else None
        if index is None or scores is None or not 0 <= index < len(scores.grid):
            self.selected = None
            self.panel.set_selected(None)
            return
        self.selected = index
        tile = scores.grid[index]
        p = float(scores.p_malignant[index])
        shown = "not scored" if math.isnan(p) else f"p {p:.3f}"
        self.panel.set_selected(f"Tile {index} (row {tile.row + 1}, column {tile.col + 1}; x {tile.x}, y {tile.y}, "
                                f"{tile.w} x {tile.h} level-0 px): {shown}")
        self.view.update()

    def explain(self) -> bool:
        """Explain the selected tile in the background; False (and a message) when it cannot."""
        scores, model, reader = self._scores(), self.analysis.model, self.view.reader
        index = self.selected
        if scores is None or model is None or reader is None or index is None:
            report_error(self._window, "Nothing to explain",
                         BcviewerError("Run the analysis, then choose a tile (right-click it in the view)."))
            return False
        if math.isnan(float(scores.p_malignant[index])):  # NaN: never scored (QC, cancelled run)
            report_error(self._window, "Nothing to explain",
                         BcviewerError("This tile has no p: the analysis did not score it."))
            return False
        self.cancel()
        runtime = self.analysis.runtime_used or "onnx"
        run = ExplainRun(reader, scores.grid, index, model, runtime, self._cache, self._lock)
        s = run.signals
        s.progress.connect(lambda done, total, r=run: self._on_progress(r, done, total))
        s.finished.connect(lambda result, r=run: self._on_finished(r, result))
        s.failed.connect(lambda exc, r=run: self._on_failed(r, exc))
        self._current = run
        self._runs.add(run)
        method = "Grad-CAM" if runtime == "torch" else "occlusion"
        self.panel.show_running(f"explaining with {method} ({model.name}, {runtime} runtime) …")
        self._pool.start(run)
        return True

    def cancel(self) -> bool:
        if self._current is None:
            return False
        self._current.cancel()
        return True

    def clear(self) -> None:
        """Forget the tile and its explanation (a new run or a new slide)."""
        if self._current is not None:
            self._current.cancel()
            self._current = None
        self.selected = self.outlined = None
        self.panel.clear()
        self.view.update()

    def save(self, path: str | None = None) -> Job | None:
        """Write the shown explanation as the explain PNG (the same figure as ``bcviewer explain``),
        in the background; None when there is none or the user cancels."""
        explanation = self.panel.explanation
        if explanation is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self._window, "Save explanation", "explanation.png", "PNG (*.png)")
            if not path:
                return None
        from bcviewer.export.explanation import write_explanation_png

        return self.jobs.submit(write_explanation_png, explanation, path, self.panel.opacity_value,
                                on_error=lambda e: report_error(self._window, "Could not save the explanation", e))

    def wait(self, timeout_ms: int = 30_000) -> bool:
        if self._current is not None:
            self._current.cancel()
        return self._pool.waitForDone(timeout_ms)

    def paint(self, painter: QPainter, transform: ViewTransform) -> None:
        """Outline the tile right-clicked for Explain (dashed white, unlike the review tools' yellow)."""
        scores = self._scores()
        if self.outlined is None or scores is None or self.outlined >= len(scores.grid):
            return
        tile = scores.grid[self.outlined]
        rect = transform.screen_rect(float(tile.x), float(tile.y), float(tile.w), float(tile.h))
        painter.save()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 5))
        painter.drawRect(rect.adjusted(-3, -3, 2, 2))
        painter.setPen(QPen(QColor(255, 255, 255), 3, Qt.PenStyle.DashLine))
        painter.drawRect(rect.adjusted(-3, -3, 2, 2))
        painter.restore()

    def _on_progress(self, run: ExplainRun, done: int, total: int) -> None:
        if run is self._current:
            self.panel.show_progress(done, total)

    def _on_finished(self, run: ExplainRun, explanation: Explanation) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self._current = None
        self.panel.show_explanation(explanation)
        self.explained.emit(explanation)

    def _on_failed(self, run: ExplainRun, exc: BaseException) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self._current = None
        from bcviewer.inference.occlusion import ExplanationCancelled

        if isinstance(exc, ExplanationCancelled):
            self.panel.show_stopped("Explanation cancelled.")
            return
        self.panel.show_stopped(report_error(self._window, "Could not explain the tile", exc).splitlines()[0])
