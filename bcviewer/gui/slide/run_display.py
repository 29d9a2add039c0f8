"""``RunDisplay``: an analysis run drawn as it happens — the controller's signals into the heatmap
layer, the analysis panel and the run's actions. Part of the slide workspace; owns no state of
its own beyond what it draws (the scores go to the workspace's session)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.slide.analysis import AnalysisController
from bcviewer.gui.slide.analysis_panel import AnalysisPanel
from bcviewer.gui.slide.view import SlideView

if TYPE_CHECKING:
    from bcviewer.inference import ScoreBatch, TileScores
    from bcviewer.nets import StoredModel
    from bcviewer.tiling import TileGrid


def show_grid(view: SlideView, grid: TileGrid) -> None:
    """Outline ``grid``'s tiles on the view's heatmap layer (no scores yet)."""
    view.heatmap.set_grid(grid.rects(), [t.row for t in grid], [t.col for t in grid])
    view.update()


class RunDisplay(QObject):
    """Slots for :class:`~bcviewer.gui.slide.analysis.AnalysisController`'s signals."""

    scores_shown = Signal(object)  # TileScores now on the heatmap (complete or partial)
    running_changed = Signal(bool)  # a run started (True) or stopped (False): the Cancel action follows
    failed = Signal(object)  # the run's exception, for the workspace to report or act on

    def __init__(self, controller: AnalysisController, view: SlideView, panel: AnalysisPanel,
                 card: Callable[[], dict[str, Any] | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view, self._panel, self._card = view, panel, card
        self._plan = lambda: controller.plan
        c = controller
        c.started.connect(self._on_started)
        c.model_ready.connect(self._on_model_ready)
        c.notes_ready.connect(self.show_notes)
        c.tissue_ready.connect(view.heatmap.set_tissue)
        c.grid_ready.connect(self._on_grid_ready)
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_finished)
        c.cancelled.connect(self._on_cancelled)
        c.failed.connect(self._on_failed)

    def show_notes(self, description: str, warnings: list[str]) -> None:
        """What the model reads, and the warnings about this input's scale."""
        self._panel.set_model_name(description)
        self._panel.set_warnings(warnings)

    def show_scores(self, scores: TileScores) -> None:
        layer = self._view.heatmap
        if layer.tile_count != len(scores):
            layer.set_grid(scores.rects(), [t.row for t in scores.grid], [t.col for t in scores.grid])
        layer.set_scores(range(len(scores)), scores.p_malignant, scores.uncertainty)  # type: ignore[arg-type]
        layer.set_trust(scores.tile_sets(), scores.tile_outside() if scores.trust.looks is not None else None)
        layer.set_qc(scores.qc_skipped() if scores.qc_flags is not None else None)
        self.running_changed.emit(False)
        self.scores_shown.emit(scores)
        self._view.update()

    def _on_started(self, model: str) -> None:
        self._panel.set_model_name(model)
        self._panel.show_started(model)
        self.running_changed.emit(True)

    def _on_model_ready(self, model: StoredModel) -> None:
        self._panel.set_model_name(model.name)  # the description follows with the grid

    def _on_grid_ready(self, grid: TileGrid) -> None:
        show_grid(self._view, grid)
        plan = self._plan()
        self._panel.show_grid(len(grid) - (sum(f != "ok" for f in plan.qc_flags or ()) if plan is not None else 0))

    def _on_progress(self, batch: ScoreBatch) -> None:
        pred = batch.prediction
        self._view.heatmap.set_scores(batch.indices, pred.p_malignant, pred.uncertainty)
        self._panel.show_progress(batch)
        self._view.update()

    def _on_finished(self, scores: TileScores) -> None:
        self.show_scores(scores)
        self._panel.show_finished(scores, self._card())

    def _on_cancelled(self, scores: TileScores | None) -> None:
        if scores is not None:
            self.show_scores(scores)
        self.running_changed.emit(False)
        self._panel.show_cancelled(scores)

    def _on_failed(self, exc: BaseException) -> None:
        self.running_changed.emit(False)
        self.failed.emit(exc)
