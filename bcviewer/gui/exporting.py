"""``export_file``: writes one export of the current scores with the core's writers (worker thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bcviewer.export import write_export
from bcviewer.inference import TileScores
from bcviewer.slides import SlideReader


def export_file(kind: str, scores: TileScores, slide: SlideReader, path: str | Path, options: dict[str, Any]) -> Path:
    """Write ``kind`` ("heatmap", "overlay", "csv" or "geojson") to ``path``; returns the path.

    ``options`` holds the overlay's look (cmap, opacity, threshold, smooth) and the pixel size in
    use (mpp), so a saved PNG matches the screen; see :func:`bcviewer.export.write_export`.
    """
    return write_export(kind, scores, slide, path, **options)
