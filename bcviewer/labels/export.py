"""Exporting a project's sub-image labels: one CSV for the project, GeoJSON per image for QuPath.

The CSV has one row per sub-image: ``image,patient,image_label,row,col,label,source,locked,round``.
The GeoJSON files follow QuPath's import format: one Feature per sub-image, a closed Polygon in
level-0 pixel coordinates, a stable ``id`` (uuid5 of the image's file name, row and column),
``objectType`` (annotation, detection or tile: the same choices as ``bcviewer predict``, see
:mod:`bcviewer.qupath`), ``classification`` Benign/Malignant with a colour, ``isLocked``
mirroring the lock, and ``row``, ``col``, ``source``, ``locked`` and ``round`` as strings under
``metadata`` (QuPath drops other properties).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from bcviewer.labels.errors import LabelStoreError
from bcviewer.labels.records import ImageRow, SubImageRow
from bcviewer.labels.store import LabelStore
from bcviewer.output_kinds import check_output_file
from bcviewer.qupath import OBJECT_TYPES, ObjectType, string_metadata, tile_id

CSV_FIELDS = ("image", "patient", "image_label", "row", "col", "label", "source", "locked", "round")
CLASS_NAMES = {"benign": "Benign", "malignant": "Malignant"}
CLASS_COLORS = {"Malignant": [200, 0, 0], "Benign": [40, 150, 60]}  # as bcviewer.export.geojson


def _atomic_write(path: Path, text: str) -> Path:
    # Imported here: bcviewer.export pulls in the inference stack (torch), which the label store
    # and its many short-lived processes should not pay for.
    from bcviewer.export.files import ExportError, atomic_write_text

    try:
        return atomic_write_text(path, text)
    except ExportError as exc:
        raise LabelStoreError(str(exc)) from exc


def labels_csv_text(store: LabelStore) -> str:
    """The CSV text, sorted by image path, then row and column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for image in store.images():
        for sub in store.subimages(image.id):
            writer.writerow([image.path, image.patient, image.label, sub.row, sub.col, sub.label, sub.source,
                             int(sub.locked), sub.round])
    return out.getvalue()


def write_labels_csv(store: LabelStore, path: str | os.PathLike[str]) -> Path:
    """Write the CSV atomically; returns its path."""
    return _atomic_write(Path(path), labels_csv_text(store))


def feature_of(sub: SubImageRow, object_type: ObjectType = "annotation", image_name: str = "") -> dict[str, Any]:
    """One QuPath GeoJSON Feature for a sub-image of the image file ``image_name``."""
    x0, y0, x1, y1 = sub.x, sub.y, sub.x + sub.w, sub.y + sub.h
    name = CLASS_NAMES[sub.label]
    measurements: dict[str, float] = {}
    if sub.p_malignant is not None:
        measurements["p_malignant"] = float(sub.p_malignant)
    if sub.tissue is not None:
        measurements["tissue"] = float(sub.tissue)
    return {
        "type": "Feature",
        "id": tile_id(image_name, sub.row, sub.col),
        "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
        "properties": {
            "objectType": object_type,
            "name": f"r{sub.row} c{sub.col}",
            "classification": {"name": name, "color": CLASS_COLORS[name]},
            "isLocked": sub.locked,
            "measurements": measurements,
            "metadata": string_metadata({"row": sub.row, "col": sub.col, "source": sub.source,
                                         "round": sub.round, "locked": sub.locked, "subimage_id": sub.id}),
        },
    }


def image_geojson(store: LabelStore, image: ImageRow, object_type: ObjectType = "annotation") -> dict[str, Any]:
    """The FeatureCollection of one image's sub-image labels."""
    if object_type not in OBJECT_TYPES:
        raise LabelStoreError(f"the GeoJSON object type must be one of {', '.join(OBJECT_TYPES)}, not {object_type!r}")
    return {
        "type": "FeatureCollection",
        "bcviewer": {"image": str(image.path), "patient": image.patient, "image_label": image.label,
                     "magnification": image.magnification, "size": [image.width, image.height]},
        "features": [feature_of(s, object_type, image.path.name) for s in store.subimages(image.id)],
    }


def write_labels_geojson(store: LabelStore, folder: str | os.PathLike[str],
                         object_type: ObjectType = "annotation", *, force: bool = False) -> list[Path]:
    """One ``<image name>.geojson`` per image in ``folder`` (created if needed); returns the files.

    Every file is checked before the first is written: one that exists as a device, pipe or folder,
    or (without ``force``) holds something other than JSON, stops the export with nothing written.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise LabelStoreError(f"{target} is a file; give a folder for the GeoJSON files")
    planned: list[tuple[ImageRow, Path]] = []
    used: set[str] = set()
    for image in store.images():
        stem = image.path.stem
        if stem in used:  # two images with one file name in different folders
            stem = f"{stem}-{image.id}"
        used.add(stem)
        planned.append((image, target / f"{stem}.geojson"))
    for _image, path in planned:
        check_output_file(path, "geojson", "the GeoJSON file", force=force)
    written: list[Path] = []
    for image, path in planned:
        text = json.dumps(image_geojson(store, image, object_type), allow_nan=False) + "\n"
        written.append(_atomic_write(path, text))
    return written
