"""Slide and image errors, each with a message a pathologist can act on."""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class SlideError(BcviewerError):
    """Any failure to open or read a slide or image."""


class SlideNotFoundError(SlideError):
    """The path does not exist."""


class SlidePermissionError(SlideError):
    """The file exists but this user may not read it."""


class SlideIsDirectoryError(SlideError):
    """A folder was given where a file was expected."""


class EmptySlideFileError(SlideError):
    """The file has zero bytes (an interrupted copy or download)."""


class UnsupportedFormatError(SlideError):
    """Neither OpenSlide nor the plain-image reader recognises the content."""


class CorruptSlideError(SlideError):
    """The format is recognised but the file is damaged or truncated."""


class RegionReadError(SlideError):
    """The slide opened, but pixels of a region could not be read."""


class ImageTooLargeError(SlideError):
    """A plain image is too large to decode into memory at once."""


class SlideClosedError(SlideError):
    """The reader was used after ``close()``."""
