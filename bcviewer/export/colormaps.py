"""Colour look-up tables computed in numpy (no matplotlib): 256 RGB entries each.

Each map is linear interpolation between a few stops. ``viridis`` and ``inferno`` approximate
matplotlib's maps (perceptually uniform, readable by colour-blind users); ``coolwarm`` and
``traffic`` (green, yellow, red) are diverging maps centred on p = 0.5.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bcviewer.errors import BcviewerError

_STOPS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "viridis": ((0.267, 0.005, 0.329), (0.283, 0.141, 0.458), (0.230, 0.322, 0.546), (0.173, 0.449, 0.558),
                (0.128, 0.567, 0.551), (0.135, 0.659, 0.518), (0.369, 0.789, 0.383), (0.678, 0.864, 0.190),
                (0.993, 0.906, 0.144)),
    "inferno": ((0.001, 0.000, 0.014), (0.341, 0.062, 0.429), (0.735, 0.216, 0.330), (0.978, 0.557, 0.035),
                (0.988, 0.998, 0.645)),
    "coolwarm": ((0.230, 0.299, 0.754), (0.552, 0.690, 0.996), (0.865, 0.865, 0.865), (0.956, 0.604, 0.482),
                 (0.706, 0.016, 0.150)),
    "traffic": ((0.102, 0.596, 0.314), (0.651, 0.851, 0.416), (1.000, 1.000, 0.749), (0.992, 0.682, 0.380),
                (0.843, 0.188, 0.153)),
    "gray": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
COLORMAPS: tuple[str, ...] = tuple(_STOPS)
DEFAULT_COLORMAP = "viridis"
DEFAULT_OPACITY = 0.5


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
