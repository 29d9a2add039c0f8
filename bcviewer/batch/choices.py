"""The output formats and retry default of ``bcviewer predict``: plain data, so that its parser
lists them without importing the scoring stack (:mod:`.work`)."""

from __future__ import annotations

FORMATS = ("csv", "geojson", "png")
DEFAULT_RETRIES = 2
"""How many times a slide is submitted again after the worker process scoring it died."""
UNKNOWN_SCALE_HINT = ("give the pixel size with --mpp (e.g. 0.25 at 40x, 0.5 at 20x) or the tile size in level-0 "
                      "pixels with --tile-px")
"""What a whole slide without a pixel size needs, said after the core's reason."""
