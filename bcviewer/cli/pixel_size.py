"""The ``--mpp`` argument type: a finite pixel size within :data:`bcviewer.tiling.budget.MPP_RANGE`.

``--mpp 1e-300`` used to reach the tiler and come back as a 419-character line holding a 300-digit
tile size, and ``--mpp 1e6`` as "the stride is below one level-0 pixel" without naming ``--mpp``;
argparse now says ``argument --mpp: ...`` in one short line before anything runs.
"""

from __future__ import annotations

import argparse

from bcviewer.cli.checks import positive_float
from bcviewer.tiling.budget import MPP_RANGE


def pixel_size(text: str) -> float:
    """µm per level-0 pixel, from MPP_RANGE[0] to MPP_RANGE[1]."""
    value = positive_float(text)
    low, high = MPP_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value:.3g} µm/px is not a microscope pixel size; give one from {low:g} "
                                         f"to {high:g} µm/px (e.g. 0.25 at 40x, 0.5 at 20x)")
    return value
