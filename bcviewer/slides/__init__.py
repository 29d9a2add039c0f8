"""Reading whole slides and plain images (``open_slide``, ``SlideReader``, ``SlideError``)."""

from bcviewer.slides.errors import (
    CorruptSlideError,
    EmptySlideFileError,
    ImageTooLargeError,
    RegionReadError,
    SlideClosedError,
    SlideError,
    SlideIsDirectoryError,
    SlideNotFoundError,
    SlidePermissionError,
    UnsupportedFormatError,
)
from bcviewer.slides.reader import SUPPORTED_FORMATS, Level, SlideReader, composite_over_white, open_slide

__all__ = [
    "SUPPORTED_FORMATS", "Level", "SlideReader", "composite_over_white", "open_slide",
    "SlideError", "SlideNotFoundError", "SlidePermissionError", "SlideIsDirectoryError",
    "EmptySlideFileError", "UnsupportedFormatError", "CorruptSlideError", "RegionReadError",
    "ImageTooLargeError", "SlideClosedError",
]
