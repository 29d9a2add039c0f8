"""Atomic file writing: every export goes to a temporary file that replaces the target at once,
so an interrupted run never leaves a half-written PNG, CSV or GeoJSON behind."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from bcviewer import safety
from bcviewer.errors import BcviewerError


class ExportError(BcviewerError):
    """An export could not be written."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, with umask permissions (see :mod:`bcviewer.safety`)."""
    try:
        return safety.atomic_write_bytes(path, data)
    except safety.OutputWriteError as exc:
        raise ExportError(str(exc)) from exc


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG encoding of an RGB ``(h, w, 3)`` or RGBA ``(h, w, 4)`` uint8 array."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB or RGBA uint8 image, got {pixels.dtype} {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if pixels.shape[2] == 4 else "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> Path:
    """Write an RGB or RGBA uint8 array as a PNG, atomically."""
    return atomic_write_bytes(path, png_bytes(pixels))
