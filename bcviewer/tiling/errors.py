"""The tiling error, apart from the grid code so that a cheap check can raise it without numpy
and scikit-image (``bcviewer predict``'s refusals before the scoring stack loads)."""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class TilingError(BcviewerError):
    """The requested grid cannot be built for this slide."""
