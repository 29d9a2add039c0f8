"""Cutting slides into tiles: ``TileGrid``, the sub-image and physical builders, tissue detection.

The package imports its submodules lazily (PEP 562), so :mod:`.kind` and :mod:`.errors` (what an
input is) load without the grid and tissue code and its numerical stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

if TYPE_CHECKING:
    from bcviewer.tiling.errors import TilingError
    from bcviewer.tiling.grid import Tile, TileGrid, physical_grid, subimage_grid
    from bcviewer.tiling.tissue import TissueMask, detect_tissue, tissue_mask_from_rgb, tissue_polygons

__all__ = [
    "Tile", "TileGrid", "TilingError", "physical_grid", "subimage_grid",
    "TissueMask", "detect_tissue", "tissue_mask_from_rgb", "tissue_polygons",
]
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.tiling.errors": ("TilingError",),
    "bcviewer.tiling.grid": ("Tile", "TileGrid", "physical_grid", "subimage_grid"),
    "bcviewer.tiling.tissue": ("TissueMask", "detect_tissue", "tissue_mask_from_rgb", "tissue_polygons"),
}
__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
