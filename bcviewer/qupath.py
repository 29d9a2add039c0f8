"""What bcviewer's GeoJSON exports share so QuPath reads them exactly (predictions and labels).

* ``objectType``: one set of choices, with one meaning, for ``bcviewer predict`` and
  ``bcviewer labels export`` (:data:`OBJECT_TYPES`, :data:`OBJECT_TYPE_HELP`).
* ``id``: a stable UUID per tile (uuid5 of the slide's file name, row and column), so importing the
  same file twice replaces objects instead of duplicating them.
* ``metadata``: QuPath keeps only string values there (since 0.5) and drops unknown properties,
  so grid position and provenance go under ``metadata`` as strings.
* Bounds: QuPath shows OpenSlide images cropped to ``openslide.bounds-*`` (MRXS and others), so
  coordinates are written relative to the bounds' top-left corner and clipped to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Literal

ObjectType = Literal["annotation", "detection", "tile"]
OBJECT_TYPES: tuple[str, ...] = ("annotation", "detection", "tile")
OBJECT_TYPE_HELP = ("QuPath object type of each tile: annotation (editable, can hold children), detection "
                    "(lightweight, many thousands draw fast) or tile (a detection that marks a tile of a grid)")
# Fixed namespace: ids depend only on the slide's name and the grid position.
NAMESPACE = uuid.UUID("6b1c3a52-8f0e-4c7e-a1d2-bc7e0e5e1a11")


def check_object_type(value: str) -> ObjectType:
    """``value`` when it is a QuPath object type bcviewer writes; ValueError otherwise."""
    if value not in OBJECT_TYPES:
        raise ValueError(f"object type must be one of {', '.join(OBJECT_TYPES)}, got {value!r}")
    return value  # type: ignore[return-value]


def tile_id(slide_name: str, row: int, col: int) -> str:
    """The stable UUID of the tile at (row, col) of the slide file ``slide_name``."""
    return str(uuid.uuid5(NAMESPACE, f"{slide_name}/{int(row)}/{int(col)}"))


def string_metadata(values: Mapping[str, object]) -> dict[str, str]:
    """QuPath ``metadata``: every value as a string (booleans lower case, None left out)."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def slide_bounds(properties: Mapping[str, str], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the region QuPath shows: OpenSlide's bounds when present, else the whole image."""
    def num(key: str, default: int) -> int:
        try:
            return int(float(properties[key]))
        except (KeyError, TypeError, ValueError):
            return default

    x, y = num("openslide.bounds-x", 0), num("openslide.bounds-y", 0)
    return x, y, num("openslide.bounds-width", size[0] - x), num("openslide.bounds-height", size[1] - y)


def clipped_ring(rect: tuple[int, int, int, int], bounds: tuple[int, int, int, int]) -> list[list[int]] | None:
    """The closed polygon ring of ``rect`` clipped to ``bounds``, relative to their corner; None if outside."""
    x, y, w, h = rect
    bx, by, bw, bh = bounds
    x0, y0 = max(x, bx) - bx, max(y, by) - by
    x1, y1 = min(x + w, bx + bw) - bx, min(y + h, by + bh) - by
    if x1 <= x0 or y1 <= y0:
        return None
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
