"""The output formats and retry default of ``bcviewer predict``: plain data, so that its parser
lists them without importing the scoring stack (:mod:`.work`)."""

from __future__ import annotations

FORMATS = ("csv", "geojson", "png")
DEFAULT_RETRIES = 2
"""How many times a slide is submitted again after the worker process scoring it died."""
