"""What a region holds: which tiles it analyses, and its measurements once they are scored.

A tile belongs to a region when its centre lies inside the region or on its edge. Areas are in
mm², from the level-0 pixel size in use; without one they are refused, never guessed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from bcviewer.regions.shapes import Region
from bcviewer.tiling import TileGrid, TissueMask

if TYPE_CHECKING:  # the viewer imports regions before its window shows; inference loads with the first run
    from bcviewer.inference.scores import TileScores
    from bcviewer.inference.verdict import Verdict

UM2_PER_MM2 = 1e6


def tile_centres(grid: TileGrid) -> np.ndarray:
    """(N, 2) level-0 centres of the grid's tiles."""
    rects = grid.rects().astype(np.float64)
    return np.column_stack([rects[:, 0] + rects[:, 2] / 2, rects[:, 1] + rects[:, 3] / 2])


def tiles_inside(grid: TileGrid, area: BaseGeometry) -> np.ndarray:
    """Per tile: True when its centre lies inside ``area`` (slide frame) or on its edge."""
    if len(grid) == 0:
        return np.zeros(0, dtype=bool)
    centres = tile_centres(grid)
    return np.asarray(shapely.intersects_xy(area, centres[:, 0], centres[:, 1]), dtype=bool)


def tissue_px(tissue: TissueMask, area: BaseGeometry) -> float:
    """Level-0 pixels of tissue inside ``area``: the mask's pixels whose centres lie inside."""
    mh, mw = tissue.mask.shape
    minx, miny, maxx, maxy = area.bounds
    x0, x1 = max(0, math.floor(minx * tissue.scale_x)), min(mw, math.ceil(maxx * tissue.scale_x))
    y0, y1 = max(0, math.floor(miny * tissue.scale_y)), min(mh, math.ceil(maxy * tissue.scale_y))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    ys, xs = np.nonzero(tissue.mask[y0:y1, x0:x1])
    if len(xs) == 0:
        return 0.0
    cx = (xs + x0 + 0.5) / tissue.scale_x
    cy = (ys + y0 + 0.5) / tissue.scale_y
    inside = int(np.count_nonzero(shapely.intersects_xy(area, cx, cy)))
    return inside / (tissue.scale_x * tissue.scale_y)


@dataclass(frozen=True)
class RegionStats:
    """One region's measurements (see :func:`region_stats`)."""

    region: str
    classification: str
    area_mm2: float | None  # None: the pixel size is unknown
    tissue_mm2: float | None
    tiles_scored: int
    mean_p: float  # NaN when no tile of the region was scored
    max_p: float
    pct_tissue_above: float  # % of the scored tiles' tissue at or above the threshold (NaN: none)
    verdict: Verdict  # the slide's verdict rule over the region's tiles (no verdict without scored tissue)


def region_stats(region: Region, scores: TileScores, mpp: float | None, tissue: TissueMask | None = None,
                 threshold: float | None = None) -> RegionStats:
    """Measure ``region`` (slide frame) on ``scores``. ``mpp`` is the level-0 µm per pixel in use
    (None: the areas are left out); ``tissue`` the grid's tissue mask (None: the region is all
    tissue, as a microscopy image is). ``threshold`` defaults to the scores' own."""
    from bcviewer.inference.verdict import verdict_of

    cut = scores.threshold if threshold is None else threshold
    within = tiles_inside(scores.grid, region.shape)
    inside = within & scores.done
    p = scores.p_malignant[inside]
    rects = scores.rects()[inside].astype(np.float64)
    # Each tile counts with its tissue area (all of it when there is no mask: a microscopy image).
    fraction = np.array([t.tissue for t, keep in zip(scores.grid, inside) if keep], dtype=np.float64)
    tissue_weight = (fraction if tissue is not None else np.ones(len(p))) * rects[:, 2] * rects[:, 3]
    total = float(tissue_weight.sum())
    above = float(tissue_weight[p >= cut].sum()) / total * 100 if total > 0 else math.nan
    area = tissue_area = None
    if mpp is not None:
        um2 = mpp * mpp
        area = region.shape.area * um2 / UM2_PER_MM2
        tissue_area = (tissue_px(tissue, region.shape) if tissue is not None else region.shape.area) * um2 / UM2_PER_MM2
    return RegionStats(region.name, region.classification, area, tissue_area, int(inside.sum()),
                       float(p.mean()) if len(p) else math.nan, float(p.max()) if len(p) else math.nan, above,
                       verdict_of(scores if threshold is None else scores.with_threshold(cut), within))


def stats_csv_text(stats: Sequence[RegionStats]) -> str:
    """The regions' measurements as CSV (empty cells where a value is unknown)."""
    from bcviewer.inference.verdict import VERDICT_FIELDS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    measured = [f.name for f in fields(RegionStats) if f.name != "verdict"]
    writer.writerow(measured + list(VERDICT_FIELDS))
    for row in stats:
        cells = []
        for value in (getattr(row, name) for name in measured):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                cells.append("")
            elif isinstance(value, float):
                cells.append(f"{value:.6f}")
            else:
                cells.append(str(value))
        writer.writerow(cells + row.verdict.cells())
    return buffer.getvalue()
