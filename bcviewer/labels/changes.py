"""The one place a sub-image's label, source or lock changes, always together with its audit row.

Every function here runs inside a write transaction opened by the caller, so a change and its
history row commit together or not at all. The row's ``person`` is the one the connection
carries (:class:`~bcviewer.labels.connections.ProjectConnection`, set by the store), so every
writer (panel, CLI, a self-learning round) is named without threading it through each call.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from bcviewer.labels.errors import UnknownItemError


def utc_now() -> str:
    """ISO-8601 UTC time stamp with milliseconds, the format of every time column."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def person_of(conn: sqlite3.Connection) -> str:
    """Who writes through ``conn`` ('' for a plain connection: not recorded)."""
    return str(getattr(conn, "person", "") or "")


def next_batch(conn: sqlite3.Connection) -> int:
    """Reserve a new batch number; the rows of one user action, undo or round share it.

    The counter lives in ``meta`` rather than being derived from ``MAX(history.batch)``, so a
    batch that ends up writing no rows (a round that relabels nothing) is still never reused.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'last_batch'").fetchone()
    last = int(row[0]) if row else int(conn.execute("SELECT COALESCE(MAX(batch), 0) FROM history").fetchone()[0])
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_batch', ?)", (str(last + 1),))
    return last + 1


def record_change(
    conn: sqlite3.Connection,
    subimage_id: int,
    action: str,
    *,
    batch: int,
    label: str | None = None,
    source: str | None = None,
    locked: bool | None = None,
    round_number: int | None = None,
    reason: str = "",
    undoes: int | None = None,
    proposal_id: int | None = None,
    time: str | None = None,
) -> int:
    """Change one sub-image (fields left as None keep their value) and append its history row.

    ``history.round`` is the sub-image's ``round`` after the change, so the row before it in
    the trail tells what an undo has to restore. Returns the history row id.
    """
    current = conn.execute(
        "SELECT label, source, locked, round FROM subimages WHERE id = ?", (subimage_id,)
    ).fetchone()
    if current is None:
        raise UnknownItemError(f"sub-image {subimage_id} is not in this project")
    old_label, old_source, old_locked, old_round = current
    new_label = old_label if label is None else label
    new_source = old_source if source is None else source
    new_locked = int(old_locked if locked is None else locked)
    new_round = old_round if round_number is None else round_number
    cursor = conn.execute(
        "INSERT INTO history (subimage_id, action, old_label, new_label, old_source, new_source, old_locked,"
        " new_locked, round, time, reason, undoes, batch, proposal_id, person)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (subimage_id, action, old_label, new_label, old_source, new_source, old_locked, new_locked,
         new_round, time or utc_now(), reason, undoes, batch, proposal_id, person_of(conn)),
    )
    conn.execute(
        "UPDATE subimages SET label = ?, source = ?, locked = ?, round = ? WHERE id = ?",
        (new_label, new_source, new_locked, new_round, subimage_id),
    )
    return int(cursor.lastrowid or 0)


def record_import(conn: sqlite3.Connection, subimage_id: int, label: str, *, batch: int, time: str) -> int:
    """The first history row of a sub-image: its label inherited from the image."""
    cursor = conn.execute(
        "INSERT INTO history (subimage_id, action, new_label, new_source, new_locked, round, time, reason, batch,"
        " person) VALUES (?, 'import', ?, 'inherited', 0, 0, ?, 'inherited from the image label', ?, ?)",
        (subimage_id, label, time, batch, person_of(conn)),
    )
    return int(cursor.lastrowid or 0)


def round_before(conn: sqlite3.Connection, subimage_id: int, history_id: int) -> int:
    """The sub-image's ``round`` just before history row ``history_id`` was written."""
    row = conn.execute(
        "SELECT round FROM history WHERE subimage_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
        (subimage_id, history_id),
    ).fetchone()
    return int(row[0]) if row else 0
