"""Writing the audit log as CSV or JSON Lines, and reading such a file back.

One row (one JSON object a line) per history entry, oldest first, with the fields of
:class:`~bcviewer.labels.audit.AuditRow` in :data:`FIELDS` order. In the CSV an empty ``before``
or ``undoes`` is none and ``locked`` is 0/1; JSON Lines keeps null, booleans and numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bcviewer.labels.audit import AuditRow
from bcviewer.labels.errors import LabelStoreError

FIELDS = tuple(f.name for f in dataclasses.fields(AuditRow))
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""File suffix -> format, when ``--format`` is not given."""


def format_for(path: str, given: str | None) -> str:
    """The format to write: ``given``, else the suffix's; a one-line error when neither says."""
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise LabelStoreError(f"cannot tell the format of {path} from its suffix; name it .csv or .jsonl, "
                              "or give --format csv|jsonl")
    return FORMATS[suffix]


def audit_csv_text(rows: Sequence[AuditRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow(["" if v is None else int(v) if isinstance(v, bool) else v
                         for v in dataclasses.astuple(r)])
    return out.getvalue()


def audit_jsonl_text(rows: Sequence[AuditRow]) -> str:
    return "".join(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n" for r in rows)


def audit_text(rows: Sequence[AuditRow], fmt: str) -> str:
    """The file's text in ``fmt`` (csv or jsonl)."""
    return audit_csv_text(rows) if fmt == "csv" else audit_jsonl_text(rows)


def _row(fields: Mapping[str, Any]) -> AuditRow:
    def number(key: str) -> int | None:
        value = fields[key]
        return None if value in ("", None) else int(value)

    locked = fields["locked"]
    return AuditRow(
        id=int(fields["id"]), time=fields["time"], person=fields["person"], action=fields["action"],
        source=fields["source"], image=fields["image"], row=int(fields["row"]), col=int(fields["col"]),
        before=fields["before"] or None, after=fields["after"],
        locked=locked if isinstance(locked, bool) else locked == "1", round=int(fields["round"]),
        reason=fields["reason"], undoes=number("undoes"))


def read_audit(path: str | Path, fmt: str | None = None) -> list[AuditRow]:
    """The rows of an audit file this module wrote (``fmt``: csv or jsonl, else from the suffix)."""
    file = Path(path)
    kind = format_for(str(file), fmt)
    with file.open(encoding="utf-8", newline="") as fh:
        if kind == "csv":
            return [_row(r) for r in csv.DictReader(fh)]
        return [_row(json.loads(line)) for line in fh if line.strip()]
