"""ASAP's annotation XML (``<ASAP_Annotations>``, also the CAMELYON16/17 format), read as regions.

ASAP stores each annotation as ordered level-0 vertices in the slide's full frame (ASAP reads
OpenSlide files without their ``bounds-*`` crop), so these regions are in the slide's frame, not
QuPath's: :func:`read_region_file` says which frame a file's regions are in. What is read:

* ``Polygon`` and ``Rectangle`` annotations, as drawn;
* ``Spline`` annotations, through their control points (the smooth curve ASAP draws between them
  is not rebuilt: the region is the polygon of its vertices);
* annotations of the group ``_2`` or ``Exclusion`` (CAMELYON's non-tumour areas inside a tumour
  outline) are cut out of every other region they overlap, as holes, and are not regions
  themselves;
* ``Dot``, ``PointSet`` and ``Measurement`` (a line) have no area and are left out.

A region's class is its ``PartOfGroup`` (``None`` reads as QuPath's unclassified
:data:`~bcviewer.regions.shapes.DEFAULT_CLASS`). Decimal commas, which ASAP writes under some
locales, are read as points.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Literal

import shapely
from shapely.geometry import Polygon

from bcviewer.regions.shapes import (
    DEFAULT_CLASS,
    Region,
    RegionError,
    as_area,
    read_region_text,
    read_regions,
)

RegionFrame = Literal["qupath", "slide"]
"""``qupath``: relative to the slide's bounds (GeoJSON, as QuPath shows the slide); ``slide``: the
slide's full level-0 frame (ASAP)."""
AREA_TYPES = frozenset({"polygon", "rectangle", "spline"})
EXCLUSION_GROUPS = frozenset({"_2", "exclusion"})


def _number(text: str | None, name: str) -> float:
    try:
        return float((text or "").replace(",", "."))
    except ValueError as exc:
        raise RegionError(f"region {name!r} has a coordinate that is not a number ({text!r})") from exc


def _polygon(annotation: ElementTree.Element, name: str) -> Polygon:
    points: list[tuple[float, float, float]] = []
    for coordinate in annotation.iter("Coordinate"):
        order = _number(coordinate.get("Order", str(len(points))), name)
        points.append((order, _number(coordinate.get("X"), name), _number(coordinate.get("Y"), name)))
    if len(points) < 3:
        raise RegionError(f"region {name!r} has {len(points)} vertices; an area needs at least 3")
    polygon = Polygon([(x, y) for _, x, y in sorted(points)])
    if not polygon.is_valid or polygon.area <= 0:
        raise RegionError(f"region {name!r} is not a valid area ({shapely.is_valid_reason(polygon)})")
    return polygon


def regions_from_asap_xml(text: str) -> list[Region]:
    """The area annotations of an ASAP XML document, in the slide's full level-0 frame (see the
    module docstring for what is read and what is left out)."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise RegionError(f"is not readable XML ({exc})") from exc
    if root.tag != "ASAP_Annotations":
        raise RegionError(f"is XML but not ASAP annotations (its root is <{root.tag}>, expected <ASAP_Annotations>)")
    kept: list[Region] = []
    holes: list[Polygon] = []
    for number, annotation in enumerate(root.iter("Annotation"), 1):
        name = annotation.get("Name") or f"Region {number}"
        if (annotation.get("Type") or "").lower() not in AREA_TYPES:
            continue
        polygon = _polygon(annotation, name)
        group = annotation.get("PartOfGroup") or "None"
        if group.lower() in EXCLUSION_GROUPS:
            holes.append(polygon)
        else:
            kept.append(Region(name, DEFAULT_CLASS if group == "None" else group, polygon))
    if holes:
        cut = shapely.union_all(holes)
        kept = [Region(r.name, r.classification, as_area(r.shape.difference(cut))) for r in kept]
        kept = [r for r in kept if not r.shape.is_empty and r.shape.area > 0]
    if not kept:
        raise RegionError("holds no polygon, rectangle or spline region")
    return kept


def read_region_file(path: str | os.PathLike[str]) -> tuple[list[Region], RegionFrame]:
    """The regions of a QuPath GeoJSON or an ASAP XML file (told apart by their content), and the
    frame their coordinates are in."""
    source = Path(path)
    text = read_region_text(source)
    if not text.lstrip().startswith("<"):
        return read_regions(source), "qupath"
    try:
        return regions_from_asap_xml(text), "slide"
    except RegionError as exc:
        raise RegionError(f"{source}: {exc}") from exc
