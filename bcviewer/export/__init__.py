"""Heatmaps and exports (PNG, overlay, CSV, GeoJSON) from tile scores. Every file is written atomically.

The package imports its submodules lazily (PEP 562): the colormap names and defaults come from
:mod:`.choices` without numpy, so option parsers and menus can list them cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

if TYPE_CHECKING:
    from bcviewer.export.choices import COLORMAPS, DEFAULT_COLORMAP, DEFAULT_OPACITY
    from bcviewer.export.colormaps import (
        UnknownColormapError,
        apply_colormap,
        colormap_lut,
    )
    from bcviewer.export.files import (
        ExportError,
        atomic_write_bytes,
        atomic_write_text,
        png_bytes,
        write_png,
    )
    from bcviewer.export.geojson import (
        CLASS_COLORS,
        geojson_dict,
        geojson_text,
        read_geojson,
        write_geojson,
    )
    from bcviewer.export.heatmap import (
        blend,
        colorize,
        heatmap_for_level,
        heatmap_rgba,
        level_rects,
        level_size,
        mask_to_tissue,
        overlay_rgb,
        rects_smooth_map,
        rects_value_map,
        smooth_value_map,
        value_map,
    )
    from bcviewer.export.legend import (
        annotated_overlay,
        legend_band,
        nice_length_um,
        with_legend,
    )
    from bcviewer.export.outputs import (
        EXPORT_KINDS,
        render_export,
        tissue_for,
        write_export,
    )
    from bcviewer.export.tables import read_tiles_csv, tiles_csv_text, write_tiles_csv

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.export.choices": ("COLORMAPS", "DEFAULT_COLORMAP", "DEFAULT_OPACITY"),
    "bcviewer.export.colormaps": ("UnknownColormapError", "apply_colormap", "colormap_lut"),
    "bcviewer.export.files": ("ExportError", "atomic_write_bytes", "atomic_write_text", "png_bytes", "write_png"),
    "bcviewer.export.geojson": ("CLASS_COLORS", "geojson_dict", "geojson_text", "read_geojson", "write_geojson"),
    "bcviewer.export.heatmap": ("blend", "colorize", "heatmap_for_level", "heatmap_rgba", "level_rects", "level_size",
                                "mask_to_tissue", "overlay_rgb", "rects_smooth_map", "rects_value_map",
                                "smooth_value_map", "value_map"),
    "bcviewer.export.legend": ("annotated_overlay", "legend_band", "nice_length_um", "with_legend"),
    "bcviewer.export.outputs": ("EXPORT_KINDS", "render_export", "tissue_for", "write_export"),
    "bcviewer.export.tables": ("read_tiles_csv", "tiles_csv_text", "write_tiles_csv"),
}

__all__ = [
    "COLORMAPS", "DEFAULT_COLORMAP", "DEFAULT_OPACITY", "annotated_overlay", "legend_band", "nice_length_um",
    "with_legend", "mask_to_tissue", "rects_smooth_map", "rects_value_map", "smooth_value_map", "EXPORT_KINDS",
    "render_export", "tissue_for", "write_export", "UnknownColormapError", "apply_colormap", "colormap_lut",
    "ExportError", "atomic_write_bytes", "atomic_write_text", "png_bytes", "write_png",
    "CLASS_COLORS", "geojson_dict", "geojson_text", "read_geojson", "write_geojson",
    "blend", "colorize", "heatmap_for_level", "heatmap_rgba", "level_rects", "level_size", "overlay_rgb",
    "value_map", "read_tiles_csv", "tiles_csv_text", "write_tiles_csv",
]


__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
