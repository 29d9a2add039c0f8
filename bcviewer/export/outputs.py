"""One export of a slide's scores by kind, shared by ``bcviewer predict`` and the viewer, so a
file saved from either looks and reads the same (colormap, opacity, tissue mask, legend, bounds).

:func:`render_export` makes a file's bytes once; :func:`write_export` writes them atomically.
``predict`` renders on the worker and writes on the client, so nothing is written twice."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bcviewer.export.colormaps import DEFAULT_COLORMAP, DEFAULT_OPACITY
from bcviewer.export.files import atomic_write_bytes, png_bytes
from bcviewer.export.geojson import geojson_text
from bcviewer.export.heatmap import heatmap_rgba
from bcviewer.filenames import escaped_text
from bcviewer.export.legend import annotated_overlay
from bcviewer.export.tables import tiles_csv_text
from bcviewer.inference import TileScores
from bcviewer.output_kinds import check_output_file
from bcviewer.qupath import ObjectType, slide_bounds
from bcviewer.slides import SlideReader
from bcviewer.tiling import TissueMask, detect_tissue

EXPORT_KINDS = ("heatmap", "overlay", "csv", "geojson")
HEATMAP_MAX_SIDE = 4096  # longest side of a heatmap PNG, in pixels
OVERLAY_MAX_SIDE = 2048


def tissue_for(scores: TileScores, slide: SlideReader) -> TissueMask | None:
    """The tissue mask that keeps glass transparent, for whole-slide grids; None for sub-image
    grids (microscopy images are tissue from edge to edge, and every sub-image is kept). The
    grid's own mask when it has one (it was measured when the grid was cut)."""
    if scores.grid.kind != "physical":
        return None
    return scores.grid.tissue if scores.grid.tissue is not None else detect_tissue(slide)


def render_export(kind: str, scores: TileScores, slide: SlideReader, *,
                  cmap: str = DEFAULT_COLORMAP, opacity: float = DEFAULT_OPACITY, threshold: float = 0.0,
                  smooth: bool = False, mpp: float | None = None, object_type: ObjectType = "tile",
                  notes: Sequence[str] = (), tissue: TissueMask | None = None,
                  max_side: int | None = None) -> bytes:
    """The bytes of export ``kind`` (see :data:`EXPORT_KINDS`).

    ``mpp`` is the level-0 pixel size in use (the file's or the user's) for the overlay's scale bar.
    ``tissue`` defaults to :func:`tissue_for`. ``max_side`` caps the PNG's longer side.
    """
    if kind in ("heatmap", "overlay") and tissue is None:
        tissue = tissue_for(scores, slide)
    look = {"cmap": cmap, "threshold": threshold, "smooth": smooth, "tissue": tissue}
    if kind == "heatmap":
        width, height = slide.dimensions
        downsample = max(1.0, max(width, height) / (max_side or HEATMAP_MAX_SIDE))
        return png_bytes(heatmap_rgba(scores, downsample, opacity=opacity, **look))  # type: ignore[arg-type]
    if kind == "overlay":
        image = annotated_overlay(slide, scores, max_side or OVERLAY_MAX_SIDE, mpp=mpp or slide.mpp,
                                  opacity=opacity, **look)  # type: ignore[arg-type]
        return png_bytes(image)
    if kind == "csv":
        text = tiles_csv_text(scores)
    elif kind == "geojson":
        text = geojson_text(scores, object_type, slide_name=escaped_text(slide.path.name),
                            bounds=slide_bounds(slide.properties, slide.dimensions), notes=notes)
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    return text.encode("utf-8", errors="surrogateescape")


def write_export(kind: str, scores: TileScores, slide: SlideReader, path: str | os.PathLike[str],
                 **options: Any) -> Path:
    """Write ``kind`` to ``path`` atomically and return it; ``options`` as for :func:`render_export`.

    The viewer's save dialog has asked before replacing a file, hence ``force``; a project (any
    SQLite file), a device, pipe or folder is still never replaced.
    """
    data = render_export(kind, scores, slide, **options)  # first: it refuses an unknown kind
    check_output_file(path, "png" if kind in ("heatmap", "overlay") else kind, "the export", force=True)
    return atomic_write_bytes(path, data)
