"""``TileGrid``: an immutable set of tiles in level-0 coordinates, and its two builders.

* :func:`subimage_grid` cuts an image into rows x cols sub-images (the 3x3 scheme of the hybrid
  CNN+RNN paper): no overlap, full coverage, remainder pixels spread one per tile.
* :func:`physical_grid` lays a regular grid for whole slides, with the tile size in µm, in pixels
  at a target mpp, or in pixels at an explicit level, and a stride or overlap. Each tile is read
  from the coarsest pyramid level that still has enough resolution and resized to the output size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterator, Literal

import cv2
import numpy as np

from bcviewer.errors import BcviewerError
from bcviewer.slides import SlideReader
from bcviewer.tiling.budget import check_grid
from bcviewer.tiling.errors import TilingError as TilingError  # defined apart, re-exported here
from bcviewer.tiling.tissue import TissueMask, detect_tissue


@dataclass(frozen=True)
class Tile:
    """One tile: a level-0 rectangle, where to read it, its grid index and tissue fraction."""

    x: int
    y: int
    w: int
    h: int
    level: int
    read_w: int  # size of the region read at ``level``
    read_h: int
    row: int
    col: int
    tissue: float

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class TileGrid:
    """Tiles of one slide, row-major. ``out_size`` is the pixel size tiles are resized to."""

    tiles: tuple[Tile, ...]
    slide_size: tuple[int, int]
    rows: int
    cols: int
    out_size: tuple[int, int] | None = None  # None: keep each tile's native read size
    mpp: float | None = None  # µm per pixel of the output tiles, when known
    kind: Literal["subimage", "physical"] = "subimage"
    # The mask the tiles' tissue fractions were measured on: the heatmap and its exports reuse it
    # to keep glass transparent instead of detecting tissue again.
    tissue: TissueMask | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    def __getitem__(self, i: int) -> Tile:
        return self.tiles[i]

    def read_tile(self, slide: SlideReader, tile: Tile) -> np.ndarray:
        """RGB pixels of ``tile``, read at its level and resized to ``out_size`` when set."""
        region = slide.read_region(tile.level, tile.x, tile.y, tile.read_w, tile.read_h)
        if self.out_size is None or (tile.read_w, tile.read_h) == self.out_size:
            return region
        shrinking = tile.read_w > self.out_size[0]
        return cv2.resize(region, self.out_size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def rects(self) -> np.ndarray:
        """(N, 4) int array of level-0 rectangles x, y, w, h."""
        return np.array([t.rect for t in self.tiles], dtype=np.int64).reshape(-1, 4)

    def subset(self, keep: np.ndarray) -> TileGrid:
        """A grid keeping the tiles where ``keep`` (one bool per tile) is True, in their order."""
        return replace(self, tiles=tuple(t for t, k in zip(self.tiles, keep) if k))

    def with_min_tissue(self, min_tissue: float) -> TileGrid:
        """A grid keeping only tiles whose tissue fraction is at least ``min_tissue``."""
        return replace(self, tiles=tuple(t for t in self.tiles if t.tissue >= min_tissue))


def _refuse_unreadable_scale(slide: SlideReader) -> None:
    # A slide whose recorded pixel size is damaged would otherwise pass for a microscopy image
    # without a scale and be cut into 3x3 sub-images: refuse instead of guessing.
    problem = getattr(slide, "scale_problem", None)
    if problem:
        raise TilingError(problem)


def subimage_grid(
    slide: SlideReader, rows: int = 3, cols: int = 3, tissue: TissueMask | None = None
) -> TileGrid:
    """Cut the whole level-0 image into ``rows`` x ``cols`` non-overlapping sub-images.

    Edges are at ``i * size // n``, so widths differ by at most one pixel and no pixel is lost.
    """
    if rows < 1 or cols < 1:
        raise TilingError(f"a sub-image grid needs at least 1 row and 1 column, got {rows}x{cols}")
    _refuse_unreadable_scale(slide)
    width, height = slide.dimensions
    if cols > width or rows > height:
        raise TilingError(f"a {width}x{height} image cannot be cut into {rows}x{cols} sub-images")
    xs = [i * width // cols for i in range(cols + 1)]
    ys = [j * height // rows for j in range(rows + 1)]
    rects = [(xs[c], ys[r], xs[c + 1] - xs[c], ys[r + 1] - ys[r], r, c) for r in range(rows) for c in range(cols)]
    mask = tissue if tissue is not None else detect_tissue(slide)
    fractions = mask.fractions(np.array([r[:4] for r in rects], dtype=np.float64))
    tiles = tuple(
        Tile(x, y, w, h, 0, w, h, r, c, round(float(f), 4)) for (x, y, w, h, r, c), f in zip(rects, fractions)
    )
    return TileGrid(tiles, (width, height), rows, cols, None, slide.mpp, "subimage", mask)


def physical_grid(
    slide: SlideReader,
    *,
    tile_um: float | None = None,
    tile_px: int | None = None,
    mpp: float | None = None,
    level: int | None = None,
    overlap: float = 0.0,
    stride_px: int | None = None,
    min_tissue: float = 0.0,
    tissue: TissueMask | None = None,
    slide_mpp: float | None = None,
) -> TileGrid:
    """A regular grid over the whole slide.

    Exactly one way of sizing tiles:

    * ``tile_um`` (µm per tile side), output ``tile_um / mpp`` pixels when ``mpp`` is given, else
      the tile keeps the resolution of level 0;
    * ``tile_px`` with ``mpp``: ``tile_px`` pixels at ``mpp`` µm/px;
    * ``tile_px`` with ``level``: ``tile_px`` pixels of that pyramid level, read without resizing;
    * ``tile_px`` alone: pixels of level 0.

    ``overlap`` is the fraction of a tile shared with its neighbour (0 <= overlap < 1);
    ``stride_px`` (in output pixels) sets the step directly instead. Tiles whose tissue fraction is
    below ``min_tissue`` are left out. Tiles on the right and bottom edges may extend past the
    image; the part outside reads as white and counts as no tissue. ``slide_mpp`` is the level-0
    pixel size to use when the file records none (the user's value); the file's own value wins.
    """
    _refuse_unreadable_scale(slide)
    level0_mpp = slide.mpp if slide.mpp is not None else slide_mpp
    out_px, side0 = _tile_sizes(slide, tile_um, tile_px, mpp, level, level0_mpp)
    if not 0.0 <= overlap < 1.0:
        raise TilingError(f"overlap must be at least 0 and below 1, got {overlap}")
    if stride_px is not None and stride_px <= 0:
        raise TilingError(f"stride must be a positive number of pixels, got {stride_px}")
    stride_out = stride_px if stride_px is not None else out_px * (1.0 - overlap)
    stride0 = side0 * stride_out / out_px
    if stride0 < 1:
        raise TilingError(f"the stride is below one level-0 pixel ({stride0:.3g}){_user_mpp_note(slide, slide_mpp)}; "
                          "use a larger tile or less overlap")

    downsample0 = side0 / out_px  # level-0 pixels per output pixel
    read_level = level if level is not None else slide.best_level_for_downsample(downsample0)
    read_ds = slide.level_downsamples[read_level]
    width, height = slide.dimensions
    cols = max(1, math.ceil((width - 0.5) / stride0)) if width > 0 else 0
    rows = max(1, math.ceil((height - 0.5) / stride0)) if height > 0 else 0
    w0 = max(1, round(side0))
    read_side = max(1, round(side0 / read_ds))
    # Before a single tile is made. A tile size in µm over the user's pixel size: that size is what to check.
    user_mpp = slide.mpp is None and slide_mpp is not None and (tile_um is not None or mpp is not None)
    check_grid(rows, cols, out_px, read_side, (width, height),
               f"check the pixel size given for the slide ({slide_mpp:.3g} µm/px, --mpp)" if user_mpp else "")

    rects = np.array(
        [(round(c * stride0), round(r * stride0), w0, w0) for r in range(rows) for c in range(cols)], dtype=np.float64
    ).reshape(-1, 4)
    mask = tissue if tissue is not None else detect_tissue(slide)
    fractions = mask.fractions(rects) if len(rects) else np.zeros(0)
    tiles = []
    for i, (x, y, w, h) in enumerate(rects.astype(np.int64)):
        frac = round(float(fractions[i]), 4)
        if frac >= min_tissue:
            tiles.append(Tile(int(x), int(y), int(w), int(h), read_level, read_side, read_side, i // cols, i % cols, frac))
    out_mpp = level0_mpp * downsample0 if level0_mpp else None
    return TileGrid(tuple(tiles), (width, height), rows, cols, (out_px, out_px), out_mpp, "physical", mask)


def _tile_sizes(
    slide: SlideReader, tile_um: float | None, tile_px: int | None, mpp: float | None, level: int | None,
    level0_mpp: float | None,
) -> tuple[int, float]:
    """(output tile side in pixels, tile side in level-0 pixels) for the requested sizing."""
    if (tile_um is None) == (tile_px is None):
        raise TilingError("give the tile size either in µm (tile_um) or in pixels (tile_px), not both or neither")
    if level is not None and not 0 <= level < slide.level_count:
        raise TilingError(f"level {level} does not exist; {slide.path.name} has levels 0..{slide.level_count - 1}")
    if mpp is not None and mpp <= 0:
        raise TilingError(f"the target mpp must be positive, got {mpp}")
    needs_mpp = tile_um is not None or mpp is not None
    if needs_mpp and level0_mpp is None:
        raise TilingError(
            f"{slide.path.name} does not record its pixel size (mpp), so a tile size in µm or at a "
            "target mpp cannot be converted to pixels; give the pixel size (--mpp) or the tile size in pixels "
            "(--tile-px)"
        )
    if tile_um is not None:
        if tile_um <= 0:
            raise TilingError(f"the tile size must be positive, got {tile_um} µm")
        if level is not None:
            raise TilingError("a tile size in µm is read at the best level automatically; do not also give a level")
        side0 = tile_um / level0_mpp  # type: ignore[operator]
        out_px = round(tile_um / mpp) if mpp is not None else round(side0)
    else:
        assert tile_px is not None
        if tile_px <= 0:
            raise TilingError(f"the tile size must be positive, got {tile_px} px")
        if mpp is not None and level is not None:
            raise TilingError("give either a target mpp or a level for a pixel tile size, not both")
        out_px = tile_px
        if mpp is not None:
            side0 = tile_px * mpp / level0_mpp  # type: ignore[operator]
        elif level is not None:
            side0 = tile_px * slide.level_downsamples[level]
        else:
            side0 = float(tile_px)
    if out_px < 1:
        raise TilingError("the tile would be smaller than one pixel at the requested resolution")
    if side0 > max(slide.dimensions) * 4:
        raise TilingError(f"a tile of {side0:.3g} level-0 pixels is far larger than the "
                          f"{slide.dimensions[0]}x{slide.dimensions[1]} image{_user_mpp_note(slide, level0_mpp)}")
    return out_px, side0


def _user_mpp_note(slide: SlideReader, slide_mpp: float | None) -> str:
    # Only the user's pixel size can be fixed by the user: name the option it came from.
    if slide.mpp is None and slide_mpp is not None:
        return f" at the pixel size given with --mpp ({slide_mpp:.3g} µm/px); check --mpp"
    return ""
