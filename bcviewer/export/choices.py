"""The colormap names, stops and defaults: plain data, so that the command line's options and the
viewer's menus can list them without importing numpy (:mod:`.colormaps` computes the tables)."""

from __future__ import annotations

COLORMAP_STOPS: dict[str, tuple[tuple[float, float, float], ...]] = {
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
COLORMAPS: tuple[str, ...] = tuple(COLORMAP_STOPS)
DEFAULT_COLORMAP = "viridis"
DEFAULT_OPACITY = 0.5
