"""Read-only queries of the label store: image lists with filters, sub-image rows, counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcviewer.labels.records import ImageRow, LabelCounts, SubImageRow
from bcviewer.labels.review import LATEST_P


@dataclass(frozen=True)
class SubImageRef:
    """A sub-image as a trainer or scorer sees it: where to read it and its current label."""

    subimage_id: int
    image_id: int
    path: Path
    patient: str
    magnification: int | None
    image_label: str
    row: int
    col: int
    x: int
    y: int
    w: int
    h: int
    label: str
    source: str
    locked: bool

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _image_filters(
    equal: Sequence[tuple[str, Any]], patients: Sequence[str] | None
) -> tuple[list[str], list[Any]]:
    """WHERE clauses and arguments for ``column = value`` pairs (None skipped) and a patient list."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in equal:
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if patients is not None:
        clause, values = _in("i.patient", list(patients))
        where.append(clause)
        args += values
    return where, args


def image_rows(
    conn: sqlite3.Connection, *, image_id: int | None = None, label: str | None = None,
    patient: str | None = None, magnification: int | None = None, patients: Sequence[str] | None = None,
    relabelled: bool | None = None, pending: bool | None = None, search: str | None = None,
    limit: int | None = None, offset: int = 0,
) -> list[ImageRow]:
    """Images with per-image label summaries, filtered; see :meth:`LabelStore.images`."""
    where, args = _image_filters(
        (("i.id", image_id), ("i.label", label), ("i.patient", patient), ("i.magnification", magnification)),
        patients,
    )
    if search:
        where.append("i.path LIKE ? ESCAPE '\\'")
        args.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    having: list[str] = []
    if relabelled is not None:
        having.append(f"SUM(s.label != i.label) {'>' if relabelled else '='} 0")
    # CROSS JOIN fixes the loop order (an image's sub-images, then their proposals by index); the
    # planner's own choice walked every pending proposal per image (seconds on all of BreakHis).
    pending_sql = ("(SELECT COUNT(*) FROM subimages q CROSS JOIN proposals p WHERE p.subimage_id = q.id"
                   " AND q.image_id = i.id AND p.status = 'pending')")
    if pending is not None:
        having.append(f"{pending_sql} {'>' if pending else '='} 0")
    sql = (
        "SELECT i.id, i.path, i.sha256, i.patient, i.magnification, i.label, i.subtype, i.width, i.height,"
        " COALESCE(SUM(s.label = 'benign'), 0), COALESCE(SUM(s.label = 'malignant'), 0),"
        f" COALESCE(SUM(s.source = 'human'), 0), COALESCE(SUM(s.locked), 0), {pending_sql}"
        " FROM images i LEFT JOIN subimages s ON s.image_id = i.id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " GROUP BY i.id" + (f" HAVING {' AND '.join(having)}" if having else "") + " ORDER BY i.path"
    )
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += [int(limit), int(offset)]
    return [ImageRow(r[0], Path(r[1]), *r[2:]) for r in conn.execute(sql, args)]


def subimage_rows(conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[SubImageRow]:
    """Sub-images matching ``where`` (over alias ``s``) with latest prediction and pending proposal."""
    sql = (
        "SELECT s.id, s.image_id, s.row, s.col, s.x, s.y, s.w, s.h, s.tissue, s.label, s.source, s.locked, s.round,"
        f" {LATEST_P},"
        " p.id, p.new_label"
        " FROM subimages s LEFT JOIN proposals p ON p.subimage_id = s.id AND p.status = 'pending'"
        f" WHERE {where} ORDER BY s.image_id, s.row, s.col"
    )
    # One starred tuple: mypy takes a starred Any as filling every parameter, so a positional after it
    # would read as one argument too many.
    return [SubImageRow(*(*r[:11], bool(r[11]), *r[12:])) for r in conn.execute(sql, list(args))]


def subimage_refs(conn: sqlite3.Connection, patients: Sequence[str] | None = None) -> list[SubImageRef]:
    """Sub-images with their image's path and labels (of ``patients`` when given)."""
    where, args = ("", []) if patients is None else ("WHERE " + _in("i.patient", list(patients))[0], list(patients))
    sql = (
        "SELECT s.id, i.id, i.path, i.patient, i.magnification, i.label, s.row, s.col, s.x, s.y, s.w, s.h,"
        f" s.label, s.source, s.locked FROM subimages s JOIN images i ON i.id = s.image_id {where}"
        " ORDER BY i.path, s.row, s.col"
    )
    return [SubImageRef(*(r[0], r[1], Path(r[2]), *r[3:14], bool(r[14]))) for r in conn.execute(sql, args)]


def label_counts(
    conn: sqlite3.Connection, *, image_id: int | None = None, patient: str | None = None,
    magnification: int | None = None, patients: Sequence[str] | None = None,
) -> LabelCounts:
    """Label, source, lock and pending counts over the selected sub-images."""
    filters, args = _image_filters(
        (("i.id", image_id), ("i.patient", patient), ("i.magnification", magnification)), patients
    )
    where = ["1 = 1", *filters]
    row = conn.execute(
        "SELECT COALESCE(SUM(s.label = 'benign'), 0), COALESCE(SUM(s.label = 'malignant'), 0),"
        " COALESCE(SUM(s.source = 'inherited'), 0), COALESCE(SUM(s.source = 'model'), 0),"
        " COALESCE(SUM(s.source = 'human'), 0), COALESCE(SUM(s.locked), 0),"
        " COALESCE(SUM(EXISTS (SELECT 1 FROM proposals p WHERE p.subimage_id = s.id AND p.status = 'pending')), 0)"
        f" FROM subimages s JOIN images i ON i.id = s.image_id WHERE {' AND '.join(where)}", args,
    ).fetchone()
    return LabelCounts(*(int(v) for v in row))
