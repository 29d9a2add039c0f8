"""``ReviewTools``: the tiles that matter, as one part of the slide workspace.

It composes the tile walk (:class:`~bcviewer.gui.slide.tile_queue.TileNavigator`), the "Tiles"
gallery (:class:`~bcviewer.gui.slide.gallery.TileGallery`), the ruler
(:class:`~bcviewer.gui.slide.ruler.RulerTool`) and the uncertainty-layer toggle, and connects them
to their actions. The workspace tells it when scores change (:meth:`scores_changed`) and when a
slide or a run starts afresh (:meth:`clear`).
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QStatusBar

from bcviewer.gui.review_actions import ReviewActions
from bcviewer.gui.slide.gallery import TileGallery
from bcviewer.gui.slide.overlay_controls import OverlayControls
from bcviewer.gui.slide.region_tools import RegionTool
from bcviewer.gui.slide.ruler import RulerTool
from bcviewer.gui.slide.tile_queue import TileNavigator
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.workers import JobRunner

UNCERTAINTY_STYLE = 2  # the "Uncertainty" entry of the heatmap box's Style list


class ReviewTools(QObject):
    """See the module docstring."""

    def __init__(self, view: SlideView, jobs: JobRunner, status: QStatusBar, actions: ReviewActions,
                 controls: OverlayControls, region_tool: RegionTool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.actions, self.controls = view, actions, controls
        self.navigator = TileNavigator(view, status, self)
        self.gallery = TileGallery(view, jobs, self.navigator, self)
        self.ruler = RulerTool(view, view.transform, lambda: view.pixel_size())
        view.overlay_painters.append(self.ruler.paint)
        actions.next_malignant.triggered.connect(lambda: self.navigator.next("p"))
        actions.next_uncertain.triggered.connect(lambda: self.navigator.next("uncertainty"))
        actions.previous_tile.triggered.connect(self.navigator.previous)
        actions.uncertainty.toggled.connect(self.show_uncertainty)
        controls.uncertainty_changed.connect(actions.uncertainty.setChecked)
        actions.ruler.toggled.connect(self.ruler.set_active)
        self.ruler.active_changed.connect(actions.ruler.setChecked)
        self.ruler.measured.connect(lambda text: status.showMessage(text, 30_000))
        # One mouse tool at a time: the ruler and the region drawing tools put each other away.
        self._region_tool = region_tool
        self.ruler.active_changed.connect(self._on_ruler)
        region_tool.tool_changed.connect(self._on_region_tool)

    def _on_ruler(self, on: bool) -> None:
        if on:
            self._region_tool.set_tool("none")

    def _on_region_tool(self, tool: str) -> None:
        if tool != "none":
            self.ruler.set_active(False)

    def show_uncertainty(self, on: bool) -> None:
        """Colour the tiles by uncertainty (True) or by p again, through the heatmap box's Style."""
        style = self.controls.style_box
        if on:
            style.setCurrentIndex(UNCERTAINTY_STYLE)
        elif style.currentIndex() == UNCERTAINTY_STYLE:
            style.setCurrentIndex(1 if self.view.heatmap.smooth else 0)

    def scores_changed(self, now: bool = False) -> None:
        """Scores arrived: enable the tile steps; refresh the gallery now (a run ended) or soon
        (a batch while streaming, so a long run does not redraw it per batch)."""
        scored = self.view.heatmap.scored_count > 0
        for a in self.actions.steps:
            a.setEnabled(scored)
        self.gallery.schedule(now)

    def clear(self) -> None:
        """A new slide or a new run: nothing to walk or show until scores arrive."""
        for a in self.actions.steps:
            a.setEnabled(False)
        self.navigator.reset()
        self.gallery.clear()
