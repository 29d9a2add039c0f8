"""Which tile grid an input is analysed with (the model is chosen in :mod:`.plan`).

The rule, shared by ``bcviewer predict`` and the desktop viewer (see :mod:`.scale` for how the
kind of input and its pixel size are decided, never guessed):

* A **microscopy image** is cut into sub-images: the rows x cols of the model card's
  ``tile_scheme`` ("breakhis-3x3"), else 3x3. When the model was trained at one magnification
  (``input.magnification``, e.g. "100X") and the image is at another, the count a side is scaled
  so that each tile covers the tissue field the model was trained on (8x8 at 40X, 2x2 at 200X, 1x1
  at 400X; :mod:`bcviewer.tiling.magnification`). The image's magnification is the user's choice,
  else the BreakHis file name's, else the model's own (an assumption callers must show, see
  :func:`image_magnification`). Every sub-image is kept, since such images are tissue from edge
  to edge.
* A **whole slide** is never cut that way. It gets a regular grid of the model card's physical
  tile (``tile_um`` read at the card's ``mpp``), converted to pixels with the slide's pixel size:
  the file's, else the one the user gave. Without either, a tile size in level-0 pixels
  (``tile_px``) still works; otherwise :class:`~.scale.ScaleUnknownError` is raised. Tiles with
  less than :data:`DEFAULT_MIN_TISSUE` tissue are skipped.
"""

from __future__ import annotations

import re

from bcviewer.inference.choices import DEFAULT_MIN_TISSUE as DEFAULT_MIN_TISSUE  # re-exported: defined here before
from bcviewer.inference.scale import input_kind, kind_reason, level0_mpp, require_scale
from bcviewer.nets import InputSpec
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid, TilingError, physical_grid, subimage_grid
from bcviewer.tiling.magnification import (
    Magnification,
    MagnificationError,
    magnification_of,
    parse_magnification,
    tiles_per_side,
)

DEFAULT_IMAGE_MODEL = "breakhis-100x"
DEFAULT_SLIDE_MODEL = "idc-wsi"
_SCHEME = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")


def is_whole_slide(slide: SlideReader) -> bool:
    """True for pyramids, vendor slide formats and very large images, whether or not the pixel
    size is recorded (see :func:`bcviewer.inference.scale.input_kind`)."""
    return input_kind(slide) == "whole-slide"


def subimage_shape(spec: InputSpec | None) -> tuple[int, int]:
    """(rows, cols) named by the card's ``tile_scheme`` (e.g. "breakhis-3x3"); (3, 3) otherwise."""
    match = _SCHEME.search(spec.tile_scheme or "") if spec is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else (3, 3)


def trained_magnification(spec: InputSpec | None) -> int | None:
    """The single magnification the model was trained at ("100X" -> 100), else None."""
    text = (spec.magnification or "") if spec is not None else ""
    try:
        return parse_magnification(text) if text and "/" not in text else None
    except MagnificationError:
        return None


def image_magnification(slide: SlideReader, spec: InputSpec | None, chosen: int | None = None
                        ) -> Magnification | None:
    """The magnification a microscopy image is analysed at, with where it came from; None for
    whole slides and for models trained at no single magnification."""
    trained = trained_magnification(spec)
    if trained is None or is_whole_slide(slide):
        return None
    return magnification_of(slide.path, chosen, trained)


def microscopy_shape(slide: SlideReader, spec: InputSpec | None, chosen: int | None = None) -> tuple[int, int]:
    """(rows, cols) for a microscopy image: the card's scheme, scaled to the image's magnification."""
    rows, cols = subimage_shape(spec)
    magnification = image_magnification(slide, spec, chosen)
    trained = trained_magnification(spec)
    if magnification is None or trained is None or magnification.value == trained or rows != cols:
        return rows, cols
    side = tiles_per_side(magnification.value, trained, rows)
    return side, side


def magnification_note(slide: SlideReader, spec: InputSpec | None, grid: TileGrid,
                       chosen: int | None = None) -> str | None:
    """One line saying at which magnification a microscopy image was analysed and why, or None
    when that needs no words (the model's own magnification, read from the file name)."""
    magnification = image_magnification(slide, spec, chosen)
    trained = trained_magnification(spec)
    if magnification is None or grid.kind != "subimage":
        return None
    if magnification.value == trained and magnification.source == "file name":
        return None
    return (f"magnification {magnification.describe()}; cut into {grid.rows}x{grid.cols} tiles to match the "
            f"tissue field of the model's {trained}X sub-images")


def analysis_grid(slide: SlideReader, spec: InputSpec | None, *, subimages: tuple[int, int] | None = None,
                  tile_um: float | None = None, tile_px: int | None = None, mpp: float | None = None,
                  min_tissue: float | None = None, magnification: int | None = None) -> TileGrid:
    """The grid for an explicit choice (``subimages`` rows x cols, ``tile_um``, ``tile_px`` level-0
    pixels), or the default one when none is given. ``mpp``: the user's level-0 pixel size;
    ``magnification``: the user's magnification for a microscopy image."""
    whole = is_whole_slide(slide)
    if min_tissue is None:
        min_tissue = DEFAULT_MIN_TISSUE if whole else 0.0
    if subimages is not None or (not whole and tile_um is None and tile_px is None):
        if whole:
            raise TilingError(
                f"{slide.path.name} is a whole slide ({kind_reason(slide)}); it is never cut into sub-images "
                "like a microscopy image; give a tile size in µm or in pixels instead")
        rows, cols = subimages or microscopy_shape(slide, spec, magnification)
        return subimage_grid(slide, rows, cols).with_min_tissue(min_tissue)
    if tile_px is not None:
        return physical_grid(slide, tile_px=tile_px, min_tissue=min_tissue, slide_mpp=level0_mpp(slide, mpp))
    if tile_um is None:
        require_scale(slide, mpp, None)
    return physical_model_grid(slide, spec, tile_um=tile_um, min_tissue=min_tissue, mpp=level0_mpp(slide, mpp))


def physical_model_grid(slide: SlideReader, spec: InputSpec | None, *, tile_um: float | None = None,
                        min_tissue: float = DEFAULT_MIN_TISSUE, mpp: float | None = None) -> TileGrid:
    """A physical grid with the model's tile (or ``tile_um``), read at the model's mpp when known.

    ``mpp`` is the level-0 pixel size to use when the file records none.
    """
    target_mpp = spec.mpp if spec is not None else None
    if tile_um is not None:
        return physical_grid(slide, tile_um=tile_um, mpp=target_mpp, min_tissue=min_tissue, slide_mpp=mpp)
    if spec is not None and spec.tile_um is not None:
        return physical_grid(slide, tile_um=spec.tile_um, mpp=target_mpp, min_tissue=min_tissue, slide_mpp=mpp)
    if spec is not None and spec.tile_px is not None and target_mpp is not None:
        return physical_grid(slide, tile_px=spec.tile_px, mpp=target_mpp, min_tissue=min_tissue, slide_mpp=mpp)
    raise TilingError(
        f"{slide.path.name} is a whole slide, but the model does not define a physical tile size "
        "(it was trained on microscopy sub-images); give a tile size with --tile-um or --tile-px, or use a "
        "whole-slide model such as " + DEFAULT_SLIDE_MODEL)
