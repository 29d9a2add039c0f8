"""Cutting slides into tiles: ``TileGrid``, the sub-image and physical builders, tissue detection."""

from bcviewer.tiling.grid import Tile, TileGrid, TilingError, physical_grid, subimage_grid
from bcviewer.tiling.tissue import TissueMask, detect_tissue, tissue_mask_from_rgb, tissue_polygons

__all__ = [
    "Tile", "TileGrid", "TilingError", "physical_grid", "subimage_grid",
    "TissueMask", "detect_tissue", "tissue_mask_from_rgb", "tissue_polygons",
]
