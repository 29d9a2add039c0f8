"""Per-tile CSV: one row a tile, columns ``x,y,w,h,row,col,tissue,p_malignant,uncertainty``, then
``prediction_set`` (benign / malignant / review) and ``outside_training`` (yes / no), empty where
the model card gives no calibration, then ``qc_flag`` and the stain normalisation the model's input
went through (``stain_method``, ``stain_reference``, ``stain_sha256``: "none" for the shipped
models; see :func:`bcviewer.nets.stain.stain_provenance`), the same on every row so that a table
cut into pieces still says how it was made.

Rectangles are level-0 pixels. Scores have 6 decimals; a tile that was not scored (cancelled run)
has empty score fields. :func:`read_tiles_csv` turns the file back into :class:`TileScores`.
"""

from __future__ import annotations

import csv
from dataclasses import replace
import io
import os
from pathlib import Path

import numpy as np

from bcviewer.export.files import ExportError, atomic_write_text
from bcviewer.inference import DEFAULT_THRESHOLD, TILE_FIELDS, TILE_TRUST_FIELDS, TileScores

STAIN_FIELDS = ("stain_method", "stain_reference", "stain_sha256")


def _number(v: float, digits: int) -> str:
    return "" if np.isnan(v) else f"{v:.{digits}f}"


def tiles_csv_text(scores: TileScores) -> str:
    """The per-tile CSV as text (header plus one line per tile)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TILE_FIELDS + TILE_TRUST_FIELDS + STAIN_FIELDS)
    stain = [scores.stain.get(k, "none") for k in ("method", "reference", "sha256")]
    sets, outside = scores.tile_sets(), scores.tile_outside()
    knows_outside = scores.trust.looks is not None
    for k, (x, y, w, h, row, col, tissue, p, u) in enumerate(scores.table_rows()):
        flag = ("yes" if outside[k] else "no") if knows_outside and scores.done[k] else ""
        qc = scores.qc_flags[k] if scores.qc_flags is not None else ""
        writer.writerow([x, y, w, h, row, col, _number(tissue, 4), _number(p, 6), _number(u, 6), sets[k] or "", flag,
                         qc, *stain])
    return buffer.getvalue()


def write_tiles_csv(scores: TileScores, path: str | os.PathLike[str]) -> Path:
    """Write the per-tile CSV atomically."""
    return atomic_write_text(path, tiles_csv_text(scores))


def read_tiles_csv(path: str | os.PathLike[str], slide_size: tuple[int, int] | None = None,
                   threshold: float = DEFAULT_THRESHOLD) -> TileScores:
    """Read a per-tile CSV back into :class:`TileScores` (without member probabilities).

    ``slide_size`` defaults to the extent of the tiles.
    """
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in TILE_FIELDS if f not in (reader.fieldnames or [])]
            if missing:
                raise ExportError(f"{p.name} is not a bcviewer tile table: it lacks the columns {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read {p}: {exc}") from exc
    try:
        rects = np.array([[int(r[k]) for k in ("x", "y", "w", "h")] for r in rows], dtype=np.int64).reshape(-1, 4)
        floats = {k: [float(r[k]) if r[k] != "" else np.nan for r in rows]
                  for k in ("tissue", "p_malignant", "uncertainty")}
        grid_rows, grid_cols = [int(r["row"]) for r in rows], [int(r["col"]) for r in rows]
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{p.name} has a malformed number ({exc})") from exc
    if slide_size is None:
        slide_size = (int((rects[:, 0] + rects[:, 2]).max(initial=0)), int((rects[:, 1] + rects[:, 3]).max(initial=0)))
    scores = TileScores.from_table(rects, grid_rows, grid_cols, floats["tissue"], floats["p_malignant"],
                                   floats["uncertainty"], slide_size, threshold)
    flags = tuple(r.get("qc_flag") or "" for r in rows)
    return replace(scores, qc_flags=flags) if any(flags) else scores
