"""The audit log as it leaves the app: who changed which sub-image, when, how and why.

Every change of a label, source or lock already has its history row (``changes.py``); this
module reads them back joined with their image, in the order they were written, and names the
person who made them. :func:`default_annotator` is who a store writes as unless told otherwise.
"""

from __future__ import annotations

import getpass
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

from bcviewer.labels.changes import person_of

HUMAN_CHANGES = ("label", "lock", "unlock", "undo")
"""Actions a person makes in the panel or with the CLI (the ones a reason can be added to later)."""

SOURCES = {"import": "import", "relabel": "self-learning", "revert": "revert", "undo": "undo",
           "label": "manual", "lock": "manual", "unlock": "manual"}
"""The export's ``source`` of each history action; a label decided on a proposal is ``review``."""


def clean_annotator(name: str) -> str:
    """One line without surrounding blanks: a name goes into CSV cells and status lines."""
    return " ".join(str(name).split())


_session_annotator: str | None = None


def set_session_annotator(name: str | None) -> None:
    """Make ``name`` this process's annotator (the viewer: the name set in the labeling panel).

    Every store opened afterwards in this process, on any thread, writes as that person; None
    returns to the OS user. The CLI names its person per store (``--annotator``) instead.
    """
    global _session_annotator
    _session_annotator = None if name is None else clean_annotator(name)


def os_annotator() -> str:
    """The OS user name, or '' (not recorded) when the system cannot tell (no user entry, no $USER)."""
    try:
        return clean_annotator(getpass.getuser())
    except (OSError, KeyError, ImportError):  # which one depends on the platform and Python version
        return ""


def default_annotator() -> str:
    """Who a newly opened store writes as: the session's annotator if one is set, else the OS user."""
    return _session_annotator if _session_annotator is not None else os_annotator()


@dataclass(frozen=True)
class AuditRow:
    """One change in the audit log.

    ``source`` says what made it: manual, review (a proposal accepted or rejected), undo,
    self-learning, revert or import. ``before``/``after`` are the sub-image's label (``before``
    is None for its import); ``locked`` is the lock after the change. ``round`` is the
    self-learning round the change belongs to (0: none). ``person`` is '' where it was not
    recorded (rows written before bcviewer kept it). ``undoes`` is the id of the row an undo or
    revert takes back.
    """

    id: int
    time: str
    person: str
    action: str
    source: str
    image: str
    row: int
    col: int
    before: str | None
    after: str
    locked: bool
    round: int
    reason: str
    undoes: int | None


def utc_iso(stamp: str) -> str:
    """A stored time stamp as ISO 8601 UTC with a ``Z`` (bcviewer always stored UTC, some without offset)."""
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp  # not a time bcviewer wrote: shown as stored rather than guessed
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ROWS_SQL = """
SELECT h.id, h.time, h.person, h.action, h.proposal_id, i.path, s.row, s.col, h.old_label, h.new_label,
       h.new_locked,
       CASE WHEN h.proposal_id IS NOT NULL THEN
                (SELECT r.number FROM proposals p JOIN rounds r ON r.id = p.round_id WHERE p.id = h.proposal_id)
            WHEN h.action = 'revert' THEN (SELECT u.round FROM history u WHERE u.id = h.undoes)
            WHEN h.action = 'relabel' THEN h.round
            ELSE 0 END,
       h.reason, h.undoes
FROM history h JOIN subimages s ON s.id = h.subimage_id JOIN images i ON i.id = s.image_id
ORDER BY h.id
"""


def audit_rows(conn: sqlite3.Connection) -> list[AuditRow]:
    """Every history row of the project, oldest first."""
    rows = []
    for (hid, time, person, action, proposal, image, row, col, before, after, locked, round_number, reason,
         undoes) in conn.execute(_ROWS_SQL):
        source = "review" if proposal is not None and action == "label" else SOURCES.get(action, action)
        rows.append(AuditRow(int(hid), utc_iso(time), person, action, source, str(image), int(row), int(col),
                             before, after, bool(locked), int(round_number or 0), reason,
                             None if undoes is None else int(undoes)))
    return rows


def last_change(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(batch, e.g. "label benign on 3 sub-images") of the last change this connection's person made."""
    marks = ",".join("?" * len(HUMAN_CHANGES))
    row = conn.execute(f"SELECT MAX(batch) FROM history WHERE action IN ({marks}) AND person = ?",
                       (*HUMAN_CHANGES, person_of(conn))).fetchone()
    if row[0] is None:
        return None
    batch = int(row[0])
    action, count, label = conn.execute(
        "SELECT MIN(action), COUNT(*), MAX(new_label) FROM history WHERE batch = ?", (batch,)).fetchone()
    what = f"label {label}" if action == "label" else action
    return batch, f"{what} on {count} sub-image{'s' if count != 1 else ''}"


def annotate_last_change(conn: sqlite3.Connection, reason: str) -> int:
    """Add ``reason`` to the rows of the last change this connection's person made; returns how many.

    A reason already there (one given with the change, or the text of a proposal decision) is
    kept and the new one follows it after "; ". Runs inside the caller's write transaction.
    """
    text = " ".join(reason.split())
    found = last_change(conn)
    if not text or found is None:
        return 0
    cursor = conn.execute(
        "UPDATE history SET reason = CASE WHEN reason = '' THEN ? ELSE reason || '; ' || ? END WHERE batch = ?",
        (text, text, found[0]))
    return int(cursor.rowcount)
