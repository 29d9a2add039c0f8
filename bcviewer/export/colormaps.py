"""Colour look-up tables computed in numpy (no matplotlib): 256 RGB entries each.

Each map is linear interpolation between a few stops. ``viridis`` and ``inferno`` approximate
matplotlib's maps (perceptually uniform, readable by colour-blind users); ``coolwarm`` and
``traffic`` (green, yellow, red) are diverging maps centred on p = 0.5.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bcviewer.errors import BcviewerError
from bcviewer.export.choices import COLORMAP_STOPS
from bcviewer.export.choices import (
    COLORMAPS as COLORMAPS,  # re-exported: they were defined here
)
from bcviewer.export.choices import DEFAULT_COLORMAP as DEFAULT_COLORMAP
from bcviewer.export.choices import DEFAULT_OPACITY as DEFAULT_OPACITY

_STOPS = COLORMAP_STOPS


class UnknownColormapError(BcviewerError):
    """A colormap name that bcviewer does not have."""


@lru_cache(maxsize=None)
def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """The ``(256, 3)`` uint8 table of a colormap; index ``round(v * 255)`` colours value v in 0..1."""
    if name not in _STOPS:
        raise UnknownColormapError(f"unknown colormap '{name}'; choose one of {', '.join(COLORMAPS)}")
    stops = np.asarray(_STOPS[name], dtype=np.float64)
    at = np.linspace(0.0, 1.0, len(stops))
    v = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(v, at, stops[:, c]) for c in range(3)], axis=1)
    table = np.round(lut * 255.0).astype(np.uint8)
    table.flags.writeable = False
    return table


def apply_colormap(values: np.ndarray, name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """RGB uint8 colours ``(..., 3)`` of values in 0..1 (clipped); NaN maps to index 0."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    index = np.round(np.clip(v, 0.0, 1.0) * 255.0).astype(np.intp)
    return colormap_lut(name)[index]
