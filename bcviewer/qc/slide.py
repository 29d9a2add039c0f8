"""Quality control of every tile of a grid, read at a resolution fit for the checks, and its
summary: how much of the tissue falls in each class."""

from __future__ import annotations

import csv
import io
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bcviewer.qc.tiles import QC_FLAGS, QC_SIDE, QcFlag, TileQc, qc_tile
from bcviewer.slides import SlideReader
from bcviewer.tiling import Tile, TileGrid


def qc_level(slide: SlideReader, tile: Tile) -> int:
    """The coarsest level that still gives the tile at least QC_SIDE pixels a side."""
    wanted = max(1.0, min(tile.w, tile.h) / QC_SIDE)
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
            cancel: threading.Event | None = None) -> list[TileQc]:
    """Check every tile of ``grid`` (in order); ``on_tile(i)`` after each; stops early on ``cancel``."""
    found = []
    for i, tile in enumerate(grid):
        if cancel is not None and cancel.is_set():
            break
        found.append(qc_tile(read_for_qc(slide, tile)))
        if on_tile is not None:
            on_tile(i)
    return found


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


def flags_of(results: Sequence[TileQc]) -> list[QcFlag]:
    return [r.flag for r in results]
