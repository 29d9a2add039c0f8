"""GeoJSON export that QuPath imports (File > Import objects, or drag and drop).

A FeatureCollection with one Feature per **scored** tile: a stable ``id`` (uuid5 of the slide's
file name, row and column), a closed Polygon ring in level-0 pixel coordinates clipped to the
slide and made relative to OpenSlide's bounds when the slide has them (as QuPath shows it; see
:mod:`bcviewer.qupath`), and QuPath's properties ``objectType`` (see
:data:`bcviewer.qupath.OBJECT_TYPES`), ``classification`` (Malignant or Benign by the threshold,
with a colour), ``measurements`` (p_malignant, uncertainty, tissue), ``isLocked`` and
``metadata`` (row, col, source, model: strings, which QuPath keeps). The collection carries
``bcviewer`` metadata (slide, size, origin, model, threshold, image-level score, scale notes) so
:func:`read_geojson` can rebuild :class:`TileScores` in level-0 coordinates.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcviewer.export.files import ExportError, atomic_write_text
from bcviewer.inference import MALIGNANT, TileScores
from bcviewer.inference.scores import QC_OK
from bcviewer.tiling import Tile
from bcviewer.qupath import ObjectType, check_object_type, clipped_ring, string_metadata, tile_id
from bcviewer.safety import FileSafetyError, read_regular_text

CLASS_COLORS: dict[str, list[int]] = {"Malignant": [200, 0, 0], "Benign": [40, 150, 60], "Ignore*": [180, 180, 180]}
QC_CLASS = "Ignore*"  # QuPath's class for objects to leave out: tiles quality control kept from scoring


def _finite(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def geojson_dict(scores: TileScores, object_type: ObjectType = "tile", *, slide_name: str = "",
                 bounds: tuple[int, int, int, int] | None = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The FeatureCollection as a plain dict (scored tiles only).

    ``slide_name`` (the slide's file name) seeds the tile ids; ``bounds`` (x, y, w, h, level 0) is
    the region QuPath shows (:func:`bcviewer.qupath.slide_bounds`), the whole slide by default.
    ``notes`` (e.g. scale warnings) are kept in the collection's metadata.
    """
    try:
        check_object_type(object_type)
    except ValueError as exc:
        raise ExportError(str(exc)) from exc
    width, height = scores.grid.slide_size
    bounds = bounds or (0, 0, width, height)
    # Tiles on the right and bottom edges run past the image; QuPath must see them end at its edge.
    bx, by, bw, bh = bounds
    bounds = (bx, by, max(0, min(bw, width - bx)), max(0, min(bh, height - by)))
    features = []
    sets, outside = scores.tile_sets(), scores.tile_outside()
    qc = scores.qc_flags or (None,) * len(scores)
    for k, (tile, p, u, label) in enumerate(zip(scores.grid.tiles, scores.p_malignant, scores.uncertainty,
                                                scores.labels())):
        flagged = qc[k] not in (None, QC_OK)
        ring = clipped_ring(tile.rect, bounds) if label is not None or flagged else None
        if ring is None:
            continue
        if flagged:  # left out by quality control: no score, QuPath's Ignore* class
            features.append(_tile_feature(slide_name, tile, ring, object_type, f" ({qc[k]})", QC_CLASS,
                                          {"tissue": float(tile.tissue)},
                                          {"source": "quality control", "qc_flag": qc[k]}))
            continue
        name = "Malignant" if label == MALIGNANT else "Benign"
        measurements = {"p_malignant": float(p), "uncertainty": float(u), "tissue": float(tile.tissue)}
        if math.isnan(u):  # QuPath measurements must be numbers
            del measurements["uncertainty"]
        features.append(_tile_feature(slide_name, tile, ring, object_type, "", name, measurements, {
            "source": "model", "model": scores.model_name or None, "prediction_set": sets[k],
            "outside_training": _yes_no(bool(outside[k])) if scores.trust.looks is not None else None,
            "qc_flag": qc[k]}))
    return {
        "type": "FeatureCollection",
        "bcviewer": {"slide": slide_name, "slide_size": [width, height], "origin": [bounds[0], bounds[1]],
                     "model": scores.model_name, "threshold": scores.threshold,
                     "image_p_malignant": _finite(scores.image_p_malignant),
                     "image_uncertainty": _finite(scores.image_uncertainty),
                     "prediction_set": scores.image_set, "outside_training": scores.image_outside,
                     "verdict_rule": scores.slide_verdict.rule, "verdict": scores.slide_verdict.text,
                     "verdict_interval": [_finite(scores.slide_verdict.low), _finite(scores.slide_verdict.high)],
                     "n_tiles": len(scores), "n_scored": scores.n_done, "notes": list(notes),
                     "stain": dict(scores.stain)},
        "features": features,
    }


def _tile_feature(slide_name: str, tile: Tile, ring: list[list[int]], object_type: ObjectType, suffix: str,
                  classification: str, measurements: dict[str, float], metadata: dict[str, object]) -> dict[str, Any]:
    """One tile as a QuPath object: stable id, clipped ring, class, measurements and string metadata."""
    return {
        "type": "Feature",
        "id": tile_id(slide_name, tile.row, tile.col),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "objectType": object_type,
            "name": f"r{tile.row} c{tile.col}{suffix}",
            "classification": {"name": classification, "color": CLASS_COLORS[classification]},
            "measurements": measurements,
            "isLocked": False,
            "metadata": string_metadata({"row": tile.row, "col": tile.col, **metadata}),
        },
    }


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def geojson_text(scores: TileScores, object_type: ObjectType = "tile", **options: Any) -> str:
    """The FeatureCollection as strict JSON text (no NaN); ``options`` as for :func:`geojson_dict`."""
    return json.dumps(geojson_dict(scores, object_type, **options), allow_nan=False) + "\n"


def write_geojson(scores: TileScores, path: str | os.PathLike[str], object_type: ObjectType = "tile",
                  **options: Any) -> Path:
    """Write the GeoJSON atomically; ``options`` as for :func:`geojson_dict`."""
    return atomic_write_text(path, geojson_text(scores, object_type, **options))


def read_geojson(source: str | os.PathLike[str] | dict[str, Any]) -> TileScores:
    """Rebuild :class:`TileScores` from a file written by :func:`write_geojson` (or its dict).

    Each feature's bounding box becomes a tile (back in level-0 coordinates: the bounds' origin is
    added again; tiles clipped at the slide's edge keep their clipped size); the probability
    comes from ``measurements``.
    """
    if isinstance(source, dict):
        data, label = source, "the GeoJSON"
    else:
        path = Path(source)
        label = path.name
        try:
            data = json.loads(read_regular_text(path, "GeoJSON file"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, FileSafetyError) as exc:
            raise ExportError(f"cannot read {path} as GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ExportError(f"{label} is not a GeoJSON FeatureCollection")
    try:
        rects, rows, cols, tissue, p, u = [], [], [], [], [], []
        for i, feature in enumerate(data["features"]):
            if ((feature.get("properties") or {}).get("metadata") or {}).get("qc_flag", QC_OK) != QC_OK:
                continue  # a tile quality control left out carries no score
            ring = np.asarray(feature["geometry"]["coordinates"][0], dtype=np.float64)
            x0, y0 = ring.min(axis=0)
            x1, y1 = ring.max(axis=0)
            rects.append((x0, y0, x1 - x0, y1 - y0))
            props = feature.get("properties", {})
            m = _measurements(props.get("measurements", {}))
            grid_pos = props.get("metadata") or props.get("bcviewer") or {}
            rows.append(int(grid_pos.get("row", 0)))
            cols.append(int(grid_pos.get("col", i)))
            tissue.append(float(m.get("tissue", 1.0)))
            p.append(float(m["p_malignant"]))
            u.append(float("nan") if m.get("uncertainty") is None else float(m["uncertainty"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ExportError(f"{label} has a feature without a polygon or a p_malignant measurement ({exc})") from exc
    meta = data.get("bcviewer", {})
    r = np.round(np.asarray(rects, dtype=np.float64)).astype(np.int64).reshape(-1, 4)
    origin = meta.get("origin") or [0, 0]
    r[:, 0] += int(origin[0])
    r[:, 1] += int(origin[1])
    size = meta.get("slide_size") or [int((r[:, 0] + r[:, 2]).max(initial=0)), int((r[:, 1] + r[:, 3]).max(initial=0))]
    return TileScores.from_table(r, rows, cols, tissue, p, u, (int(size[0]), int(size[1])),
                                 float(meta.get("threshold", 0.5)), str(meta.get("model", "")))


def _measurements(raw: Any) -> dict[str, Any]:
    """QuPath writes measurements as a dict (0.4+) or as a list of {name, value} (0.2-0.3)."""
    if isinstance(raw, list):
        return {m["name"]: m["value"] for m in raw}
    return dict(raw)
