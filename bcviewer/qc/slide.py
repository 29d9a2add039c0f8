"""Quality control of every tile of a grid, read at a resolution fit for the checks, and its
summary: how much of the tissue falls in each class."""

from __future__ import annotations

import csv
import io
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bcviewer.qc.tiles import QC_FLAGS, QC_SIDE, TileQc, qc_tile
from bcviewer.slides import SlideReader
from bcviewer.tiling import Tile, TileGrid


QC_READ_MIN = 128  # the checks need at least this many pixels a side (the analysis reads 50)


def qc_level(slide: SlideReader, tile: Tile) -> int:
    """The coarsest level that still gives the tile at least QC_READ_MIN pixels a side: reading
    finer would cost more than the analysis's own reads on a large slide."""
    wanted = max(1.0, min(tile.w, tile.h) / QC_READ_MIN)
    level = 0
    for index, downsample in enumerate(slide.level_downsamples):
        if downsample <= wanted:
            level = index
    return level


def read_for_qc(slide: SlideReader, tile: Tile) -> np.ndarray:
    """The tile's RGB pixels at :func:`qc_level` (level-0 rectangle, read at that level)."""
    level = qc_level(slide, tile)
    ds = slide.level_downsamples[level]
    return slide.read_region(level, tile.x, tile.y, max(1, math.ceil(tile.w / ds)), max(1, math.ceil(tile.h / ds)))


def qc_grid(slide: SlideReader, grid: TileGrid, on_tile: Callable[[int], object] | None = None,
            cancel: threading.Event | None = None, threads: int | None = None) -> list[TileQc]:
    """Check every tile of ``grid`` (in order) on ``threads`` threads (default: the CPUs this
    process may use; reads and OpenCV release the GIL); ``on_tile(i)`` after each, on the calling
    thread; stops early on ``cancel``, returning the tiles checked so far."""
    def check(tile: Tile) -> TileQc | None:
        if cancel is not None and cancel.is_set():
            return None
        return qc_tile(read_for_qc(slide, tile))

    workers = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    found: list[TileQc] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bcviewer-qc") as pool:
        for i, result in enumerate(pool.map(check, grid.tiles)):
            if result is None:
                break
            found.append(result)
            if on_tile is not None:
                on_tile(i)
    return found


@dataclass(frozen=True)
class GridQc:
    """Quality control already run on ``grid`` (the viewer's QC job): one result per tile, in the
    grid's order, fewer when it was cancelled."""

    grid: TileGrid
    results: tuple[TileQc, ...]

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.grid)

    def fits(self, grid: TileGrid) -> bool:
        """True when every tile of ``grid`` was checked: the same tiles, all done."""
        return self.complete and self.grid == grid


@dataclass(frozen=True)
class QcSummary:
    """Tiles and share of the grid's tissue in each QC class."""

    tiles: dict[str, int]
    tissue_share: dict[str, float]  # 0..1 of the tiles' tissue area

    def line(self) -> str:
        parts = [f"{self.tiles[f]} {f} ({100 * self.tissue_share[f]:.1f}% of tissue)"
                 for f in QC_FLAGS if self.tiles[f]]
        return ", ".join(parts) if parts else "no tiles"


def summarise(grid: TileGrid, results: Sequence[TileQc]) -> QcSummary:
    """Count the flags, and weigh each tile by its tissue area."""
    tiles: dict[str, int] = {f: 0 for f in QC_FLAGS}
    area: dict[str, float] = {f: 0.0 for f in QC_FLAGS}
    for tile, result in zip(grid, results):
        tiles[result.flag] += 1
        area[result.flag] += tile.tissue * tile.w * tile.h
    total = sum(area.values())
    return QcSummary(tiles, {f: (area[f] / total if total > 0 else 0.0) for f in QC_FLAGS})


QC_FIELDS = ("x", "y", "w", "h", "row", "col", "tissue", "qc_flag", "background", "pen", "dark",
             "laplacian_var", "optical_density")


def qc_csv_text(grid: TileGrid, results: Sequence[TileQc]) -> str:
    """One line per tile: its rectangle, its flag and the measurements behind it."""
    def num(value: float, digits: int) -> str:
        return "" if math.isnan(value) else f"{value:.{digits}f}"

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(QC_FIELDS)
    for t, r in zip(grid, results):
        writer.writerow([t.x, t.y, t.w, t.h, t.row, t.col, f"{t.tissue:.4f}", r.flag, num(r.background, 4),
                         num(r.pen, 4), num(r.dark, 4), num(r.laplacian_var, 6), num(r.optical_density, 4)])
    return buffer.getvalue()
