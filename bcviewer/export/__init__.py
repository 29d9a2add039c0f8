"""Heatmaps and exports (PNG, overlay, CSV, GeoJSON) from tile scores. Every file is written atomically."""

from bcviewer.export.colormaps import COLORMAPS, DEFAULT_COLORMAP, UnknownColormapError, apply_colormap, colormap_lut
from bcviewer.export.files import ExportError, atomic_write_bytes, atomic_write_text, png_bytes, write_png
from bcviewer.export.geojson import CLASS_COLORS, geojson_dict, geojson_text, read_geojson, write_geojson
from bcviewer.export.heatmap import (
    blend,
    colorize,
    heatmap_for_level,
    heatmap_rgba,
    level_rects,
    level_size,
    overlay_rgb,
    value_map,
)
from bcviewer.export.tables import read_tiles_csv, tiles_csv_text, write_tiles_csv

__all__ = [
    "COLORMAPS", "DEFAULT_COLORMAP", "UnknownColormapError", "apply_colormap", "colormap_lut",
    "ExportError", "atomic_write_bytes", "atomic_write_text", "png_bytes", "write_png",
    "CLASS_COLORS", "geojson_dict", "geojson_text", "read_geojson", "write_geojson",
    "blend", "colorize", "heatmap_for_level", "heatmap_rgba", "level_rects", "level_size", "overlay_rgb",
    "value_map", "read_tiles_csv", "tiles_csv_text", "write_tiles_csv",
]
