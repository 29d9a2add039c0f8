"""How the main window follows an analysis run: the controller's signals drawn into the heatmap,
the analysis dock and the actions, and the tile grid a run would score outlined before any run.
Mixed into ``MainWindow``; the run itself lives in :mod:`bcviewer.gui.slide.analysis`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.errors import BcviewerError
from bcviewer.gui.errors import is_headless, report_error
from bcviewer.gui.slide.analysis import AUTOMATIC_MODEL, preview_grid

if TYPE_CHECKING:
    from bcviewer.gui.main_window import MainWindow
    from bcviewer.inference import ScoreBatch, TileScores
    from bcviewer.nets import LoadedModel
    from bcviewer.tiling import TileGrid

    _Base = MainWindow
else:
    _Base = object


class AnalysisEventsMixin(_Base):
    """Slots for :class:`~bcviewer.gui.slide.analysis.AnalysisController`'s signals."""

    def _on_analysis_started(self, model: str) -> None:
        self.panel.set_model_name(model)
        self.panel.show_started(model)
        self.actions.cancel.setEnabled(True)

    def _on_model_ready(self, model: LoadedModel) -> None:
        self.panel.set_model_name(model.name)  # the description follows with the grid

    def _on_grid_ready(self, grid: TileGrid) -> None:
        self.view.heatmap.set_grid(grid.rects(), [t.row for t in grid], [t.col for t in grid])
        self.panel.show_grid(len(grid))
        self.view.update()

    def _on_progress(self, batch: ScoreBatch) -> None:
        pred = batch.prediction
        self.view.heatmap.set_scores(batch.indices, pred.p_malignant, pred.uncertainty)
        self.panel.show_progress(batch)
        self.view.update()

    def _on_finished(self, scores: TileScores) -> None:
        self._show_scores(scores)
        self.panel.show_finished(scores, self.analysis.model.card if self.analysis.model else None)
        if self.analysis.runtime_note:
            self.status.showMessage(self.analysis.runtime_note, 15000)

    def _on_cancelled(self, scores: TileScores | None) -> None:
        if scores is not None:
            self._show_scores(scores)
        self.actions.cancel.setEnabled(False)
        self.panel.show_cancelled(scores)

    def _on_failed(self, exc: BaseException) -> None:
        self.actions.cancel.setEnabled(False)
        if type(exc).__name__ == "ScaleUnknownError" and not is_headless():
            # The core will not guess the pixel size: ask for it, then run again.
            self.panel.show_failed("the pixel size of this slide is unknown")
            if self.ask_pixel_size() is not None:
                self.run_analysis()
            return
        if type(exc).__name__ == "ScaleUnknownError":  # headless: nobody to ask
            exc = BcviewerError(f"{exc}; give it with 'bcviewer open PATH --mpp UM_PER_PX'")
        message = report_error(self, "The analysis failed", exc)
        self.panel.show_failed(message.splitlines()[0])

    def _show_scores(self, scores: TileScores) -> None:
        self.scores = scores
        layer = self.view.heatmap
        if layer.tile_count != len(scores):
            layer.set_grid(scores.rects(), [t.row for t in scores.grid], [t.col for t in scores.grid])
        layer.set_scores(range(len(scores)), scores.p_malignant, scores.uncertainty)  # type: ignore[arg-type]
        layer.set_trust(scores.tile_sets(), scores.tile_outside() if scores.trust.looks is not None else None)
        self.actions.cancel.setEnabled(False)
        self._set_exports_enabled(scores.n_done > 0)
        self.view.update()

    def _show_grid_preview(self) -> None:
        """Before any run, outline the tiles a run would score."""
        reader = self.view.reader
        if reader is None or self.view.heatmap.has_grid or self.analysis.running:
            return
        choice = self.model_override or self.settings.model_name() or AUTOMATIC_MODEL
        generation = self.view.generation

        def show(grid: TileGrid) -> None:
            if self.view.generation == generation and not self.view.heatmap.has_grid and not self.analysis.running:
                self.view.heatmap.set_grid(grid.rects(), [t.row for t in grid], [t.col for t in grid])
                self.view.update()

        self.jobs.submit(
            preview_grid,
            reader,
            choice,
            self.user_mpp,
            self.user_magnification,
            on_success=show,
            on_error=lambda e: self.status.showMessage(f"No tile grid to show: {e}", 8000),
        )
