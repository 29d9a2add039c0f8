"""Regions of interest: named, classified polygons on a slide, read from and written to GeoJSON the
way QuPath reads and writes annotations.

Coordinates in a file are QuPath's: level-0 pixels relative to the top-left corner of the region
QuPath shows (OpenSlide's ``bounds-*`` when the slide has them, see :func:`bcviewer.qupath.slide_bounds`).
:class:`Region` keeps them that way; :func:`in_slide` moves them to the slide's own level-0 frame.
Geometry is shapely's: polygons, multipolygons and holes are read as they are, never re-drawn.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import check_output_file
from bcviewer.safety import FileSafetyError, atomic_write_bytes, read_regular_text

DEFAULT_CLASS = "Region*"  # QuPath's class for an unclassified region of interest
MAX_REGION_FILE_BYTES = 64 * 1024 * 1024


class RegionError(BcviewerError):
    """A region file that cannot be used, or a measurement that cannot be made."""


@dataclass(frozen=True)
class Region:
    """One region: its name, its class, and its area as a (multi)polygon in file coordinates."""

    name: str
    classification: str
    shape: Polygon | MultiPolygon

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.shape.bounds
        return float(minx), float(miny), float(maxx), float(maxy)


def in_slide(regions: Iterable[Region], origin: tuple[int, int]) -> list[Region]:
    """``regions`` moved from QuPath's frame (relative to ``origin``, the bounds' corner) to the
    slide's level-0 frame."""
    dx, dy = origin
    return [Region(r.name, r.classification, as_area(affinity.translate(r.shape, dx, dy))) for r in regions]


def in_file(regions: Iterable[Region], origin: tuple[int, int]) -> list[Region]:
    """The inverse of :func:`in_slide`: from the slide's level-0 frame to QuPath's."""
    return in_slide(regions, (-origin[0], -origin[1]))


def union_of(regions: Sequence[Region]) -> BaseGeometry:
    """All regions as one geometry (their overlaps counted once)."""
    return shapely.union_all([r.shape for r in regions])


def as_area(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    """``geometry`` as a (multi)polygon: the polygons of a collection, lines and points dropped."""
    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    polygons = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(polygons)


def _classification(properties: Mapping[str, Any]) -> str:
    found = properties.get("classification")
    if isinstance(found, Mapping):
        return str(found.get("name") or DEFAULT_CLASS)
    return str(found or DEFAULT_CLASS)


def _features(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, list):  # QuPath's "Export objects" writes a bare list of features
        return [f for f in document if isinstance(f, Mapping)]
    if isinstance(document, Mapping):
        if document.get("type") == "FeatureCollection":
            return [f for f in document.get("features") or [] if isinstance(f, Mapping)]
        if document.get("type") == "Feature":
            return [document]
        if document.get("type") in ("Polygon", "MultiPolygon"):
            return [{"type": "Feature", "geometry": document, "properties": {}}]
    raise RegionError("is not GeoJSON with polygons (expected a FeatureCollection, a list of features or a Feature)")


def regions_from_geojson(document: Any) -> list[Region]:
    """The polygon and multipolygon features of a GeoJSON document (points and lines are left out).

    Each keeps its ``name`` and ``classification`` properties (QuPath's), or is named by its
    position and classed :data:`DEFAULT_CLASS`. An invalid ring is refused, never repaired.
    """
    regions = []
    for number, feature in enumerate(_features(document), 1):
        raw = feature.get("geometry")
        if not isinstance(raw, Mapping) or raw.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        properties = feature.get("properties") or {}
        name = str(properties.get("name") or f"Region {number}")
        try:
            geometry = shape(dict(raw))
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise RegionError(f"region {name!r} has unreadable coordinates ({exc})") from exc
        if geometry.is_empty or not geometry.is_valid or geometry.area <= 0:
            why = shapely.is_valid_reason(geometry) if not geometry.is_empty else "empty"
            raise RegionError(f"region {name!r} is not a valid area ({why})")
        regions.append(Region(name, _classification(properties), as_area(geometry)))
    if not regions:
        raise RegionError("holds no polygon or multipolygon region")
    return regions


def read_region_text(source: Path) -> str:
    """The text of a region file, refused when too large to be one or unreadable."""
    try:
        if source.stat().st_size > MAX_REGION_FILE_BYTES:
            raise RegionError(f"{source}: larger than {MAX_REGION_FILE_BYTES // 2**20} MiB; not a region file")
        return read_regular_text(source, "region file", encoding="utf-8-sig", limit=MAX_REGION_FILE_BYTES)
    except FileSafetyError as exc:
        raise RegionError(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RegionError(f"{source}: cannot read regions ({exc})") from exc


def read_regions(path: str | os.PathLike[str]) -> list[Region]:
    """The regions of a GeoJSON file (QuPath's "Export objects", or bcviewer's own)."""
    source = Path(path)
    text = read_region_text(source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionError(f"{source}: cannot read regions ({exc})") from exc
    try:
        return regions_from_geojson(document)
    except RegionError as exc:
        raise RegionError(f"{source}: {exc}") from exc


def regions_geojson(regions: Sequence[Region], slide_name: str = "") -> dict[str, Any]:
    """A FeatureCollection QuPath imports as annotations (ids stable for a slide and a region name)."""
    features = []
    for region in regions:
        key = f"{slide_name}/region/{region.name}"
        features.append({
            "type": "Feature",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            "geometry": mapping(region.shape),
            "properties": {"objectType": "annotation", "name": region.name,
                           "classification": {"name": region.classification}},
        })
    return {"type": "FeatureCollection", "features": features}


def write_regions(path: str | os.PathLike[str], regions: Sequence[Region], slide_name: str = "") -> Path:
    """Write ``regions`` as GeoJSON, atomically (never over a project, device, pipe or folder)."""
    check_output_file(path, "geojson", "the region file", force=True)  # the save dialog asked already
    text = json.dumps(regions_geojson(regions, slide_name), allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))
