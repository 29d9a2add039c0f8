"""``RegionsController``: the open slide's regions of interest — drawn, edited, named, undone,
saved, imported, exported and measured. Part of the slide workspace.

Regions live in the slide's level-0 frame here and in QuPath's frame (relative to the slide's
bounds) in files. Every change is one undoable step and is saved in the background to the
user's data folder, so the regions reopen with the slide (:mod:`bcviewer.regions.store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QFileDialog, QWidget
from shapely.geometry import MultiPolygon, Polygon

from bcviewer.gui.errors import report_error
from bcviewer.gui.slide.region_tools import RegionTool
from bcviewer.gui.slide.regions_layer import RegionLayer
from bcviewer.gui.slide.regions_panel import RegionsPanel
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.workers import JobRunner
from bcviewer.regions import (
    DEFAULT_CLASS,
    Region,
    RegionStats,
    in_file,
    in_slide,
    load_slide_regions,
    RegionFrame,
    read_region_file,
    region_stats,
    save_slide_regions,
    write_regions,
)

if TYPE_CHECKING:
    from bcviewer.inference import TileScores
    from bcviewer.tiling import TissueMask

GEOJSON_FILTER = "GeoJSON regions (*.geojson *.json);;All files (*)"
IMPORT_FILTER = "Regions: QuPath GeoJSON or ASAP XML (*.geojson *.json *.xml);;All files (*)"


class _SetRegions(QUndoCommand):
    """One change of the region list: undo puts the old list back."""

    def __init__(self, controller: RegionsController, before: list[Region], after: list[Region], text: str) -> None:
        super().__init__(text)
        self._controller, self._before, self._after = controller, before, after

    def redo(self) -> None:
        self._controller.apply(self._after)

    def undo(self) -> None:
        self._controller.apply(self._before)


class RegionsController(QObject):
    """See the module docstring."""

    analyse_requested = Signal()

    def __init__(self, window: QWidget, view: SlideView, jobs: JobRunner) -> None:
        super().__init__(window)
        self._window, self._view, self._jobs = window, view, jobs
        self.layer = RegionLayer()
        view.overlay_painters.append(self.layer.paint)
        self.tool = RegionTool(view, self.layer, view.transform)
        self.panel = RegionsPanel()
        self.undo_stack = QUndoStack(self)
        self.saver = JobRunner(1, self)  # one thread: saves land in the order the changes were made
        self.stats: dict[int, RegionStats] = {}
        self.note = ""
        self._slide: Path | None = None
        self._origin = (0, 0)
        self._generation = 0
        self._connect()

    def _connect(self) -> None:
        p, t = self.panel, self.tool
        p.tool_requested.connect(lambda name: t.set_tool(name))
        t.tool_changed.connect(p.show_tool)
        t.drawn.connect(self.add)
        t.reshaped.connect(self.reshape)
        t.selected.connect(self.select)
        p.selection_changed.connect(self.select)
        p.renamed.connect(self.rename)
        p.reclassed.connect(self.reclass)
        p.delete_requested.connect(self.delete_selected)
        p.analyse_requested.connect(self.analyse_requested)
        p.import_requested.connect(self.ask_import)
        p.export_requested.connect(self.ask_export)
        p.undo_button.clicked.connect(self.undo_stack.undo)
        p.redo_button.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(p.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(p.redo_button.setEnabled)
        p.undo_button.setEnabled(False)
        p.redo_button.setEnabled(False)

    @property
    def regions(self) -> list[Region]:
        return list(self.layer.regions)

    # ---- the slide -----------------------------------------------------------------------
    def set_slide(self, path: Path, origin: tuple[int, int]) -> None:
        """A newly opened slide: its saved regions load in the background; undo starts afresh."""
        self._slide, self._origin = path, origin
        self._generation += 1
        generation = self._generation
        self.tool.set_tool("none")
        self.undo_stack.clear()
        self.layer.selected, self.stats, self.note = None, {}, ""
        self.apply([], save=False)

        def loaded(found: list[Region]) -> None:
            if generation == self._generation:
                self.apply(in_slide(found, origin), save=False)

        self._jobs.submit(load_slide_regions, path, on_success=loaded,
                          on_error=lambda e: report_error(self._window, "The saved regions cannot be read", e))

    def in_file_frame(self) -> tuple[Region, ...]:
        """The regions in QuPath's frame, as the core's plan takes them."""
        return tuple(in_file(self.layer.regions, self._origin))

    # ---- changes (each one undoable) -----------------------------------------------------
    def _change(self, after: list[Region], text: str) -> None:
        self.undo_stack.push(_SetRegions(self, self.regions, after, text))

    def apply(self, regions: list[Region], save: bool = True) -> None:
        """Show ``regions`` (the undo stack calls this) and save them."""
        self.layer.regions = list(regions)
        if self.layer.selected is not None and self.layer.selected >= len(regions):
            self.layer.selected = None
        self.stats = {}
        self._refresh()
        self._view.update()
        if save and self._slide is not None:
            self.saver.submit(save_slide_regions, self._slide, list(self.in_file_frame()),
                              on_error=lambda e: report_error(self._window, "The regions cannot be saved", e))

    def add(self, shape: Polygon | MultiPolygon) -> None:
        names = {r.name for r in self.layer.regions}
        number = len(self.layer.regions) + 1
        while f"Region {number}" in names:
            number += 1
        self.layer.selected = len(self.layer.regions)
        self._change(self.regions + [Region(f"Region {number}", DEFAULT_CLASS, shape)], "Draw a region")
        self.tool.set_tool("none")

    def reshape(self, index: int, shape: Polygon | MultiPolygon) -> None:
        regions = self.regions
        regions[index] = Region(regions[index].name, regions[index].classification, shape)
        self._change(regions, "Move a vertex")

    def rename(self, index: int, name: str) -> None:
        regions = self.regions
        if index < len(regions) and regions[index].name != name:
            regions[index] = Region(name, regions[index].classification, regions[index].shape)
            self._change(regions, "Rename a region")

    def reclass(self, index: int, classification: str) -> None:
        regions = self.regions
        if index < len(regions) and regions[index].classification != classification:
            regions[index] = Region(regions[index].name, classification, regions[index].shape)
            self._change(regions, "Change a region's class")

    def delete_selected(self) -> None:
        index = self.layer.selected
        if index is not None and index < len(self.layer.regions):
            self.layer.selected = None
            self._change([r for i, r in enumerate(self.layer.regions) if i != index], "Delete a region")

    def select(self, index: int | None) -> None:
        if index != self.layer.selected:
            self.layer.selected = index
            self._refresh()
            self._view.update()

    # ---- files ---------------------------------------------------------------------------
    def ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Import regions (QuPath GeoJSON or ASAP XML)", "",
                                              IMPORT_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        """Add the regions of a QuPath GeoJSON (QuPath's frame) or ASAP XML file (the slide's full
        frame), read in the background."""
        generation = self._generation

        def add(found: tuple[list[Region], RegionFrame]) -> None:
            regions, frame = found
            if generation == self._generation:
                placed = in_slide(regions, self._origin) if frame == "qupath" else regions
                self._change(self.regions + placed, f"Import {Path(path).name}")

        self._jobs.submit(read_region_file, path, on_success=add,
                          on_error=lambda e: report_error(self._window, "Cannot import the regions", e))

    def ask_export(self) -> None:
        stem = self._slide.stem if self._slide else "regions"
        path, _ = QFileDialog.getSaveFileName(self._window, "Export regions", f"{stem}-regions.geojson",
                                              GEOJSON_FILTER)
        if path:
            self.export_file(path)

    def export_file(self, path: str) -> None:
        """Write the regions as GeoJSON in QuPath's frame, in the background."""
        name = self._slide.name if self._slide else ""
        self._jobs.submit(write_regions, path, list(self.in_file_frame()), name,
                          on_error=lambda e: report_error(self._window, "Cannot export the regions", e))

    # ---- measurements --------------------------------------------------------------------
    def measure(self, scores: TileScores, mpp: float | None, tissue: TissueMask | None) -> None:
        """Measure every region on ``scores`` in the background; areas need ``mpp``."""
        regions, generation = self.regions, self._generation

        def work() -> dict[int, RegionStats]:
            return {i: region_stats(r, scores, mpp, tissue) for i, r in enumerate(regions)}

        def show(found: dict[int, RegionStats]) -> None:
            if generation == self._generation and regions == self.layer.regions:
                self.stats = found
                self.note = "" if mpp is not None else (
                    "Areas need the pixel size of this slide, which it does not record: Analysis > Pixel size.")
                self._refresh()

        if regions:
            self._jobs.submit(work, on_success=show,
                              on_error=lambda e: report_error(self._window, "Cannot measure the regions", e))

    def _refresh(self) -> None:
        self.panel.show_regions(self.layer.regions, self.stats, self.layer.selected, self.note)

    def wait(self, timeout_ms: int) -> bool:
        """Let the pending saves finish (shutdown); True when they did."""
        return self.saver.wait(timeout_ms)
