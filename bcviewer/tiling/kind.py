"""Whole slide or microscopy image, decided from the file itself (not from its pixel size).

A whole slide has a pyramid (more than one level), comes in a scanner vendor's format (Aperio,
Hamamatsu, MIRAX ...), or is too large for one microscope field (:data:`WHOLE_SLIDE_MIN_SIDE`
px). Everything else, e.g. a 700 x 460 BreakHis PNG, is a microscopy image. Whole slides are
never cut into the sub-image scheme of microscopy images.
"""

from __future__ import annotations

from typing import Literal

from bcviewer.slides import SlideReader

InputKind = Literal["whole-slide", "image"]
WHOLE_SLIDE_MIN_SIDE = 10_000  # px: no camera field of a microscope is this wide
# OpenSlide's format for a plain tiled TIFF: it says nothing about the scanner, so only its levels
# or its size can make it a whole slide.
_GENERIC_FORMATS = frozenset({"generic-tiff"})


def input_kind(slide: SlideReader) -> InputKind:
    """'whole-slide' for pyramids, vendor slide formats and very large images; 'image' otherwise."""
    if slide.level_count > 1:
        return "whole-slide"
    if slide.is_pyramid and slide.format not in _GENERIC_FORMATS:
        return "whole-slide"
    return "whole-slide" if max(slide.dimensions) >= WHOLE_SLIDE_MIN_SIDE else "image"


def kind_reason(slide: SlideReader) -> str:
    """Why :func:`input_kind` decided as it did, in a few words ("2 pyramid levels", "aperio format")."""
    if slide.level_count > 1:
        return f"{slide.level_count} pyramid levels"
    if slide.is_pyramid and slide.format not in _GENERIC_FORMATS:
        return f"{slide.format} format"
    w, h = slide.dimensions
    if max(w, h) >= WHOLE_SLIDE_MIN_SIDE:
        return f"{w} x {h} px"
    return f"one level, {w} x {h} px"


def unknown_scale_message(slide: SlideReader) -> str:
    """Why a whole slide that records no pixel size cannot be cut in micrometres (the core's
    ScaleUnknownError and predict's early refusal say it in the same words)."""
    return (f"{slide.path.name} is a whole slide ({kind_reason(slide)}, {slide.format}) that does not record "
            "its pixel size, so tiles cannot be cut in micrometres")
