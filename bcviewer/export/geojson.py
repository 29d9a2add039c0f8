"""GeoJSON export that QuPath imports (File > Import objects, or drag and drop).

A FeatureCollection with one Feature per **scored** tile: a closed Polygon ring in level-0 pixel
coordinates, and QuPath's properties ``objectType`` ("tile" or "detection"), ``classification``
(name Malignant or Benign by the threshold, with a colour), ``measurements`` (p_malignant,
uncertainty, tissue) and ``isLocked``. Grid position is kept under ``properties.bcviewer``, and
the collection carries ``bcviewer`` metadata (slide size, model, threshold, image-level score)
so :func:`read_geojson` can rebuild :class:`TileScores`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bcviewer.export.files import ExportError, atomic_write_text
from bcviewer.inference import MALIGNANT, TileScores

ObjectType = Literal["tile", "detection"]
CLASS_COLORS: dict[str, list[int]] = {"Malignant": [200, 0, 0], "Benign": [40, 150, 60]}


def _finite(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def geojson_dict(scores: TileScores, object_type: ObjectType = "tile") -> dict[str, Any]:
    """The FeatureCollection as a plain dict (scored tiles only)."""
    if object_type not in ("tile", "detection"):
        raise ValueError(f"object type must be 'tile' or 'detection', got {object_type!r}")
    features = []
    for tile, p, u, label in zip(scores.grid.tiles, scores.p_malignant, scores.uncertainty, scores.labels()):
        if label is None:
            continue
        name = "Malignant" if label == MALIGNANT else "Benign"
        measurements = {"p_malignant": float(p), "uncertainty": float(u), "tissue": float(tile.tissue)}
        if math.isnan(u):  # QuPath measurements must be numbers
            del measurements["uncertainty"]
        x0, y0, x1, y1 = tile.x, tile.y, tile.x + tile.w, tile.y + tile.h
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
            "properties": {
                "objectType": object_type,
                "name": f"r{tile.row} c{tile.col}",
                "classification": {"name": name, "color": CLASS_COLORS[name]},
                "measurements": measurements,
                "isLocked": False,
                "bcviewer": {"row": tile.row, "col": tile.col},
            },
        })
    return {
        "type": "FeatureCollection",
        "bcviewer": {"slide_size": list(scores.grid.slide_size), "model": scores.model_name,
                     "threshold": scores.threshold, "image_p_malignant": _finite(scores.image_p_malignant),
                     "n_tiles": len(scores), "n_scored": scores.n_done},
        "features": features,
    }


def geojson_text(scores: TileScores, object_type: ObjectType = "tile") -> str:
    """The FeatureCollection as strict JSON text (no NaN)."""
    return json.dumps(geojson_dict(scores, object_type), allow_nan=False) + "\n"


def write_geojson(scores: TileScores, path: str | os.PathLike[str], object_type: ObjectType = "tile") -> Path:
    """Write the GeoJSON atomically."""
    return atomic_write_text(path, geojson_text(scores, object_type))


def read_geojson(source: str | os.PathLike[str] | dict[str, Any]) -> TileScores:
    """Rebuild :class:`TileScores` from a file written by :func:`write_geojson` (or its dict).

    Each feature's bounding box becomes a tile; the probability comes from ``measurements``.
    """
    if isinstance(source, dict):
        data, label = source, "the GeoJSON"
    else:
        path = Path(source)
        label = path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExportError(f"cannot read {path} as GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ExportError(f"{label} is not a GeoJSON FeatureCollection")
    try:
        rects, rows, cols, tissue, p, u = [], [], [], [], [], []
        for i, feature in enumerate(data["features"]):
            ring = np.asarray(feature["geometry"]["coordinates"][0], dtype=np.float64)
            x0, y0 = ring.min(axis=0)
            x1, y1 = ring.max(axis=0)
            rects.append((x0, y0, x1 - x0, y1 - y0))
            props = feature.get("properties", {})
            m = _measurements(props.get("measurements", {}))
            grid_pos = props.get("bcviewer", {})
            rows.append(int(grid_pos.get("row", 0)))
            cols.append(int(grid_pos.get("col", i)))
            tissue.append(float(m.get("tissue", 1.0)))
            p.append(float(m["p_malignant"]))
            u.append(float("nan") if m.get("uncertainty") is None else float(m["uncertainty"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ExportError(f"{label} has a feature without a polygon or a p_malignant measurement ({exc})") from exc
    meta = data.get("bcviewer", {})
    r = np.round(np.asarray(rects, dtype=np.float64)).astype(np.int64).reshape(-1, 4)
    size = meta.get("slide_size") or [int((r[:, 0] + r[:, 2]).max(initial=0)), int((r[:, 1] + r[:, 3]).max(initial=0))]
    return TileScores.from_table(r, rows, cols, tissue, p, u, (int(size[0]), int(size[1])),
                                 float(meta.get("threshold", 0.5)), str(meta.get("model", "")))


def _measurements(raw: Any) -> dict[str, Any]:
    """QuPath writes measurements as a dict (0.4+) or as a list of {name, value} (0.2-0.3)."""
    if isinstance(raw, list):
        return {m["name"]: m["value"] for m in raw}
    return dict(raw)
