"""Which tile grid (and which shipped model) a slide is analysed with by default.

The rule, shared by ``bcviewer predict`` and the desktop viewer:

* A **microscopy image** (no pixel size recorded, e.g. a BreakHis PNG) is cut into sub-images:
  the rows x cols of the model card's ``tile_scheme`` ("breakhis-3x3"), else 3x3. Every
  sub-image is kept, since such images are tissue from edge to edge.
* A **whole slide** (its mpp is known) gets a regular grid of the model card's physical tile
  (``tile_um`` read at ``mpp``, or ``tile_px`` at ``mpp``); tiles with less than
  :data:`DEFAULT_MIN_TISSUE` tissue are skipped.
"""

from __future__ import annotations

import re

from bcviewer.nets import InputSpec
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid, TilingError, physical_grid, subimage_grid

DEFAULT_MIN_TISSUE = 0.25
DEFAULT_IMAGE_MODEL = "breakhis-100x"
DEFAULT_SLIDE_MODEL = "idc-wsi"
_SCHEME = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")


def is_whole_slide(slide: SlideReader) -> bool:
    """True when the slide records its pixel size, so tiles can be cut in micrometres."""
    return slide.mpp is not None


def default_model_name(slide: SlideReader) -> str:
    """The shipped model for this kind of input: BreakHis for images, IDC for whole slides."""
    return DEFAULT_SLIDE_MODEL if is_whole_slide(slide) else DEFAULT_IMAGE_MODEL


def subimage_shape(spec: InputSpec | None) -> tuple[int, int]:
    """(rows, cols) named by the card's ``tile_scheme`` (e.g. "breakhis-3x3"); (3, 3) otherwise."""
    match = _SCHEME.search(spec.tile_scheme or "") if spec is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else (3, 3)


def default_grid(slide: SlideReader, spec: InputSpec | None, *, min_tissue: float | None = None) -> TileGrid:
    """The grid this slide is analysed with by default (see the module docstring)."""
    if not is_whole_slide(slide):
        rows, cols = subimage_shape(spec)
        return subimage_grid(slide, rows, cols).with_min_tissue(min_tissue or 0.0)
    return physical_model_grid(slide, spec, min_tissue=DEFAULT_MIN_TISSUE if min_tissue is None else min_tissue)


def physical_model_grid(slide: SlideReader, spec: InputSpec | None, *, tile_um: float | None = None,
                        min_tissue: float = DEFAULT_MIN_TISSUE) -> TileGrid:
    """A physical grid with the model's tile (or ``tile_um``), read at the model's mpp when known."""
    target_mpp = spec.mpp if spec is not None else None
    if tile_um is not None:
        return physical_grid(slide, tile_um=tile_um, mpp=target_mpp, min_tissue=min_tissue)
    if spec is not None and spec.tile_um is not None:
        return physical_grid(slide, tile_um=spec.tile_um, mpp=target_mpp, min_tissue=min_tissue)
    if spec is not None and spec.tile_px is not None and target_mpp is not None:
        return physical_grid(slide, tile_px=spec.tile_px, mpp=target_mpp, min_tissue=min_tissue)
    raise TilingError(
        f"{slide.path.name} is a whole slide, but the model does not define a physical tile size "
        "(it was trained on microscopy sub-images); give a tile size with --tile-um or use a "
        "whole-slide model such as " + DEFAULT_SLIDE_MODEL)
