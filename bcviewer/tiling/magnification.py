"""Microscopy images at any BreakHis magnification, cut so that every tile covers the same tissue.

A model trained on the 3x3 sub-images of 100X images has learnt tissue at one physical scale. At
another magnification M the same field of tissue spans M/100 times as many pixels, so an image is
cut into ``round(3 * 100 / M)`` tiles a side instead: 8x8 at 40X, 3x3 at 100X, 2x2 at 200X and
1x1 at 400X (where one 700x460 image is about one 100X sub-image). Each tile is then resized to
the network input, which brings it to the training scale within about a third.

Where the magnification comes from is always said: the file name (BreakHis names carry it), the
user's choice, or, failing both, the model's training magnification as a stated assumption.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bcviewer.datasets.breakhis import BREAKHIS_MAGNIFICATIONS, parse_breakhis_name
from bcviewer.datasets.errors import DatasetError
from bcviewer.errors import BcviewerError

_MAG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[xX]?\s*$")


class MagnificationError(BcviewerError):
    """A magnification that is not a positive number of times."""


@dataclass(frozen=True)
class Magnification:
    """An image's objective magnification and where that number came from."""

    value: int
    source: str  # "file name", "user" or "assumed"

    def describe(self) -> str:
        """E.g. "400X (from the file name)" or "100X (assumed: the model's training magnification)"."""
        why = {"file name": "from the file name", "user": "chosen by the user",
               "assumed": "assumed: the model's training magnification; set it if it differs"}[self.source]
        return f"{self.value}X ({why})"


def parse_magnification(text: str | int) -> int:
    """``"400X"``, ``"400"`` or 400 to 400; a clear error otherwise."""
    match = _MAG.match(str(text))
    value = float(match.group(1)) if match else 0.0
    if not match or not 1 <= value <= 1000 or value != int(value):
        raise MagnificationError(f"a magnification is a whole number of times such as 40, 100, 200 or 400 "
                                 f"(got {text!r})")
    return int(value)


def magnification_of(path: str | Path, chosen: int | None, trained: int | None) -> Magnification | None:
    """The magnification to analyse ``path`` at: the user's choice, else the BreakHis file name's,
    else the model's training magnification (an assumption the caller must show). None when the
    model has no training magnification."""
    if chosen is not None:
        return Magnification(int(chosen), "user")
    try:
        name = parse_breakhis_name(Path(path).name)
        if name.magnification in BREAKHIS_MAGNIFICATIONS:
            return Magnification(name.magnification, "file name")
    except DatasetError:
        pass
    return Magnification(int(trained), "assumed") if trained is not None else None


def tiles_per_side(magnification: int, trained: int = 100, trained_side: int = 3) -> int:
    """Tiles a side that give each tile the physical field of a ``trained_side``-a-side sub-image
    at the ``trained`` magnification (see the module docstring)."""
    if magnification <= 0 or trained <= 0:
        raise MagnificationError("magnifications must be positive")
    return max(1, int(round(trained_side * trained / magnification)))
