"""Opening a slide for the view: the reader and its overview picture, made on a worker thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from bcviewer.gui.slide.tile_loader import rgb_to_qimage
from bcviewer.slides import SlideError, SlideReader, open_slide

THUMBNAIL_SIDE = 1024
EMBEDDED_THUMBNAIL_ABOVE_PX = 4_000_000
OPEN_FILTER = (
    "Slides and images (*.svs *.tif *.tiff *.ndpi *.vms *.vmu *.mrxs *.scn *.bif *.svslide *.dcm "
    "*.png *.jpg *.jpeg *.bmp);;All files (*)"
)


def overview_image(reader: SlideReader) -> np.ndarray:
    """The picture shown while tiles load and in the minimap.

    Normally the slide's thumbnail from its coarsest level; when even that level is large (a
    single-level slide) and the scanner embedded a thumbnail, that one, which takes a
    fraction of the time of decoding the whole slide.
    """
    w, h = reader.level_dimensions[-1]
    if w * h > EMBEDDED_THUMBNAIL_ABOVE_PX and "thumbnail" in reader.associated_names:
        try:
            return reader.associated_image("thumbnail")
        except SlideError:
            pass  # a damaged embedded thumbnail: fall back to the pixels themselves
    return reader.thumbnail(THUMBNAIL_SIDE)


def open_for_view(path: str) -> tuple[SlideReader, QImage]:
    """Open a slide and make its overview image (runs on a worker thread)."""
    reader = open_slide(path)
    try:
        thumbnail = rgb_to_qimage(overview_image(reader))
    except BaseException:
        reader.close()
        raise
    return reader, thumbnail
