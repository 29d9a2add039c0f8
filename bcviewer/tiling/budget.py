"""Limits every tile grid obeys, so a typo cannot make a grid of millions of tiles.

``predict SLIDE --tile-px 1`` on a 2220x2967 slide asked for 6.6 million tiles and ran for
minutes (``tiles --tile-px 1`` took 94 s and 2.8 GB). :func:`check_grid` refuses, before a single
tile is made, tiles smaller than :data:`MIN_TILE_SIDE` pixels (at the level they are read and at
the output size: no network looks at fewer) and grids of more than :data:`MAX_TILES` tiles (each
costs about :data:`BYTES_PER_TILE` bytes while the grid is built and scored). The one line it
raises gives the count and the budget. :data:`MPP_RANGE` bounds a pixel size given by the user.
"""

from __future__ import annotations

from bcviewer.errors import BcviewerError

MIN_TILE_SIDE = 16
MAX_TILES = 2_000_000
# Measured: ``tiles --tile-px 1`` held 6.6 million tiles in 2.8 GB (about 430 bytes each).
BYTES_PER_TILE = 430
MPP_RANGE = (0.01, 1000.0)  # µm per pixel: below optical resolution .. a millimetre per pixel


class GridBudgetError(BcviewerError):
    """The requested grid has tiles too small to score, or too many tiles."""


def check_grid(rows: int, cols: int, out_px: int, read_px: int, image: tuple[int, int], fix: str = "") -> None:
    """Refuse tiles under :data:`MIN_TILE_SIDE` px, or more than :data:`MAX_TILES` of them.

    ``fix``: what the user should change, when it is not the tile size (e.g. the pixel size they gave).
    """
    side = min(out_px, read_px)
    if side < MIN_TILE_SIDE:
        raise GridBudgetError(f"tiles of {side} px are below the minimum of {MIN_TILE_SIDE} px (at the level they are "
                              f"read); a {image[0]}x{image[1]} image would need {rows * cols:,} of them: "
                              f"{fix or 'give a larger --tile-px or --tile-um'}")
    count = rows * cols
    if count > MAX_TILES:
        raise GridBudgetError(f"the grid would hold {count:,} tiles ({rows:,} x {cols:,}, about "
                              f"{count * BYTES_PER_TILE / 1e9:.1f} GB), over the budget of {MAX_TILES:,} tiles "
                              f"({MAX_TILES * BYTES_PER_TILE / 1e9:.1f} GB): {fix or 'give a larger tile or less overlap'}")


def pixel_size_problem(mpp: float, option: str = "--mpp") -> str | None:
    """None for a plausible pixel size in µm/px; else one short line naming ``option``."""
    low, high = MPP_RANGE
    if not low <= mpp <= high:
        return f"{option} {mpp:.3g} µm/px is not a microscope pixel size; give one from {low:g} to {high:g} µm/px " \
               "(e.g. 0.25 at 40x, 0.5 at 20x)"
    return None
