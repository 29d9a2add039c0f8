"""Human edits: set a label, lock, undo, and decide on review proposals.

Each public function is one user action and runs inside the caller's write transaction. Undo
is derived from the history table: the last batch of human rows that no ``undo`` row points at
is undone by writing ``undo`` rows, so undo is itself audited and survives restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from bcviewer.labels.changes import next_batch, record_change, round_before, utc_now
from bcviewer.labels.errors import LockedSubImageError, UnknownItemError
from bcviewer.labels.records import DecisionResult, UndoResult
from bcviewer.labels.schema import LABELS

HUMAN_ACTIONS = ("label", "lock", "unlock")


def _checked_ids(conn: sqlite3.Connection, subimage_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in subimage_ids))
    found = {r[0] for r in conn.execute(f"SELECT id FROM subimages WHERE id IN ({','.join('?' * len(ids))})", ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise UnknownItemError(f"sub-image(s) {', '.join(map(str, missing[:10]))} are not in this project")
    return ids


def set_label(conn: sqlite3.Connection, subimage_ids: Sequence[int], label: str, reason: str = "") -> list[int]:
    """A human sets ``label`` on the sub-images (one undo step); returns the history ids.

    Setting the label a sub-image already has still records the human's confirmation (source
    becomes ``human``), which protects it from later rounds. Locked sub-images are refused.
    """
    if label not in LABELS:
        raise ValueError(f"label must be benign or malignant, not {label!r}")
    ids = _checked_ids(conn, subimage_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    locked = [r[0] for r in conn.execute(f"SELECT id FROM subimages WHERE locked = 1 AND id IN ({marks})", ids)]
    if locked:
        raise LockedSubImageError(
            f"{len(locked)} of the selected sub-images are locked; unlock them before changing their label"
        )
    current = dict(conn.execute(f"SELECT id, label || '/' || source FROM subimages WHERE id IN ({marks})", ids))
    batch = next_batch(conn)
    changed = [i for i in ids if current[i] != f"{label}/human"]
    return [record_change(conn, i, "label", batch=batch, label=label, source="human", round_number=0,
                          reason=reason) for i in changed]


def set_locked(conn: sqlite3.Connection, subimage_ids: Sequence[int], locked: bool, reason: str = "") -> list[int]:
    """Lock (or unlock) sub-images; a locked label is final for the loop and for edits."""
    ids = _checked_ids(conn, subimage_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    todo = [r[0] for r in conn.execute(
        f"SELECT id FROM subimages WHERE locked != ? AND id IN ({marks}) ORDER BY id", [int(locked), *ids])]
    batch = next_batch(conn)
    action = "lock" if locked else "unlock"
    return [record_change(conn, i, action, batch=batch, locked=locked, reason=reason) for i in todo]


def _undo_top(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        f"SELECT MAX(h.batch) FROM history h WHERE h.action IN ({','.join('?' * len(HUMAN_ACTIONS))})"
        " AND NOT EXISTS (SELECT 1 FROM history u WHERE u.undoes = h.id)",
        HUMAN_ACTIONS,
    ).fetchone()
    return None if row[0] is None else int(row[0])


def undo_description(conn: sqlite3.Connection) -> str | None:
    """A short text for an "Undo ..." menu item, or None when there is nothing to undo."""
    batch = _undo_top(conn)
    if batch is None:
        return None
    action, count, new_label, proposal = conn.execute(
        "SELECT action, COUNT(*), MAX(new_label), MAX(proposal_id) FROM history WHERE batch = ? GROUP BY action",
        (batch,),
    ).fetchone()
    what = {"lock": "lock", "unlock": "unlock"}.get(action, f"label {new_label}")
    if proposal is not None:
        what = "proposal decision"
    return f"{what} on {count} sub-image{'s' if count != 1 else ''}"


def undo(conn: sqlite3.Connection, reason: str = "undo") -> UndoResult | None:
    """Undo the last human action not yet undone; None when there is none."""
    batch = _undo_top(conn)
    if batch is None:
        return None
    rows = conn.execute(
        "SELECT id, subimage_id, action, old_label, old_source, old_locked, proposal_id FROM history"
        f" WHERE batch = ? AND action IN ({','.join('?' * len(HUMAN_ACTIONS))}) ORDER BY id DESC",
        (batch, *HUMAN_ACTIONS),
    ).fetchall()
    new_batch = next_batch(conn)
    written: list[int] = []
    for hid, sub, action, old_label, old_source, old_locked, proposal_id in rows:
        if action == "label":
            written.append(record_change(
                conn, sub, "undo", batch=new_batch, label=old_label, source=old_source,
                round_number=round_before(conn, sub, hid), reason=reason, undoes=hid, proposal_id=proposal_id))
            if proposal_id is not None:
                conn.execute("UPDATE proposals SET status = 'pending', decided = NULL WHERE id = ?", (proposal_id,))
        else:
            written.append(record_change(conn, sub, "undo", batch=new_batch, locked=bool(old_locked),
                                         reason=reason, undoes=hid))
    return UndoResult(batch, rows[0][2], tuple(r[1] for r in reversed(rows)), tuple(written))


def _malignant_left(conn: sqlite3.Connection, subimage_id: int) -> int:
    return int(conn.execute(
        "SELECT COUNT(*) FROM subimages s JOIN subimages t ON t.image_id = s.image_id"
        " WHERE s.id = ? AND t.label = 'malignant'", (subimage_id,),
    ).fetchone()[0])


def decide_proposals(
    conn: sqlite3.Connection, proposal_ids: Sequence[int], accept: bool, reason: str = ""
) -> DecisionResult:
    """Accept or reject pending proposals as one undo step.

    Accepting applies the proposed label as a human decision. Rejecting confirms the current
    label as human, so later rounds do not propose it again. A proposal is skipped when it is
    no longer pending, its sub-image changed or got locked since, or accepting it would leave a
    malignant image without a malignant sub-image.
    """
    ids = list(dict.fromkeys(int(i) for i in proposal_ids))
    if not ids:
        return DecisionResult((), {})
    rows = {r[0]: r for r in conn.execute(
        "SELECT p.id, p.subimage_id, p.old_label, p.new_label, p.p_malignant, p.status, r.number, s.label, s.locked,"
        f" i.label FROM proposals p JOIN rounds r ON r.id = p.round_id JOIN subimages s ON s.id = p.subimage_id"
        f" JOIN images i ON i.id = s.image_id WHERE p.id IN ({','.join('?' * len(ids))})", ids)}
    batch = next_batch(conn)
    applied: list[int] = []
    skipped: dict[int, str] = {}
    history: list[int] = []
    now = utc_now()
    # Most confident first, so that when the invariant stops a bulk accept it keeps the least sure.
    for pid in sorted(ids, key=lambda i: rows[i][4] if i in rows else 2.0):
        if pid not in rows:
            skipped[pid] = "no such proposal"
            continue
        _, sub, old_label, new_label, p, status, number, label, locked, image_label = rows[pid]
        if status != "pending":
            skipped[pid] = f"already {status}"
        elif locked:
            skipped[pid] = "the sub-image is locked"
        elif label != old_label:
            skipped[pid] = "the sub-image's label changed since the proposal"
        elif (accept and image_label == "malignant" and new_label == "benign" and old_label == "malignant"
              and _malignant_left(conn, sub) <= 1):
            skipped[pid] = "it would leave the malignant image without a malignant sub-image"
        else:
            text = reason or f"{'accepted' if accept else 'rejected'} round {number} proposal (p_malignant={p:.3f})"
            history.append(record_change(
                conn, sub, "label", batch=batch, label=new_label if accept else label, source="human",
                round_number=number if accept else 0, reason=text, proposal_id=pid, time=now))
            conn.execute("UPDATE proposals SET status = ?, decided = ? WHERE id = ?",
                         ("accepted" if accept else "rejected", now, pid))
            applied.append(pid)
    return DecisionResult(tuple(applied), skipped, tuple(history))
