"""``export_file``: writes one export of the current scores with the core's writers (worker thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bcviewer.export import (
    heatmap_rgba,
    overlay_rgb,
    write_geojson,
    write_png,
    write_tiles_csv,
)
from bcviewer.inference import TileScores
from bcviewer.slides import SlideReader

HEATMAP_MAX_SIDE = 4096  # longest side of an exported heatmap PNG, in pixels
OVERLAY_MAX_SIDE = 2048


def export_file(kind: str, scores: TileScores, slide: SlideReader, path: str | Path, options: dict[str, Any]) -> Path:
    """Write ``kind`` ("heatmap", "overlay", "csv" or "geojson") to ``path``; returns the path.

    ``options`` holds the overlay's look (cmap, opacity, threshold), so a saved PNG matches the
    screen. The heatmap PNG covers the whole image, downsampled to at most HEATMAP_MAX_SIDE.
    """
    target = Path(path)
    if kind == "heatmap":
        width, height = slide.dimensions
        downsample = max(1.0, max(width, height) / HEATMAP_MAX_SIDE)
        return write_png(target, heatmap_rgba(scores, downsample, **options))
    if kind == "overlay":
        return write_png(target, overlay_rgb(slide, scores, OVERLAY_MAX_SIDE, **options))
    if kind == "csv":
        return write_tiles_csv(scores, target)
    if kind == "geojson":
        return write_geojson(scores, target)
    raise ValueError(f"unknown export kind {kind!r}")
