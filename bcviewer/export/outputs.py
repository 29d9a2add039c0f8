"""One export of a slide's scores by kind, shared by ``bcviewer predict`` and the viewer, so a
file saved from either looks and reads the same (colormap, opacity, tissue mask, legend, bounds)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bcviewer.export.colormaps import DEFAULT_COLORMAP, DEFAULT_OPACITY
from bcviewer.export.files import write_png
from bcviewer.export.geojson import write_geojson
from bcviewer.export.heatmap import heatmap_rgba
from bcviewer.export.legend import annotated_overlay
from bcviewer.export.tables import write_tiles_csv
from bcviewer.inference import TileScores
from bcviewer.qupath import ObjectType, slide_bounds
from bcviewer.slides import SlideReader
from bcviewer.tiling import TissueMask, detect_tissue

EXPORT_KINDS = ("heatmap", "overlay", "csv", "geojson")
HEATMAP_MAX_SIDE = 4096  # longest side of a heatmap PNG, in pixels
OVERLAY_MAX_SIDE = 2048


def tissue_for(scores: TileScores, slide: SlideReader) -> TissueMask | None:
    """The tissue mask that keeps glass transparent, for whole-slide grids; None for sub-image
    grids (microscopy images are tissue from edge to edge, and every sub-image is kept)."""
    return detect_tissue(slide) if scores.grid.kind == "physical" else None


def write_export(kind: str, scores: TileScores, slide: SlideReader, path: str | os.PathLike[str], *,
                 cmap: str = DEFAULT_COLORMAP, opacity: float = DEFAULT_OPACITY, threshold: float = 0.0,
                 smooth: bool = False, mpp: float | None = None, object_type: ObjectType = "tile",
                 notes: Sequence[str] = (), tissue: TissueMask | None = None,
                 max_side: int | None = None) -> Path:
    """Write ``kind`` (see :data:`EXPORT_KINDS`) to ``path`` and return it.

    ``mpp`` is the level-0 pixel size in use (the file's or the user's) for the overlay's scale bar.
    ``tissue`` defaults to :func:`tissue_for`. ``max_side`` caps the PNG's longer side.
    """
    target = Path(path)
    if kind in ("heatmap", "overlay") and tissue is None:
        tissue = tissue_for(scores, slide)
    look = {"cmap": cmap, "threshold": threshold, "smooth": smooth, "tissue": tissue}
    if kind == "heatmap":
        width, height = slide.dimensions
        downsample = max(1.0, max(width, height) / (max_side or HEATMAP_MAX_SIDE))
        return write_png(target, heatmap_rgba(scores, downsample, opacity=opacity, **look))  # type: ignore[arg-type]
    if kind == "overlay":
        image = annotated_overlay(slide, scores, max_side or OVERLAY_MAX_SIDE, mpp=mpp or slide.mpp,
                                  opacity=opacity, **look)
        return write_png(target, image)
    if kind == "csv":
        return write_tiles_csv(scores, target)
    if kind == "geojson":
        return write_geojson(scores, target, object_type, slide_name=slide.path.name,
                             bounds=slide_bounds(slide.properties, slide.dimensions), notes=notes)
    raise ValueError(f"unknown export kind {kind!r}")
