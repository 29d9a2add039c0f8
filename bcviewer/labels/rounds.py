"""Writing self-learning rounds: start one, commit its predictions and relabels, revert one.

Scoring and training happen outside any transaction (they take minutes). The results of a
round then commit in one transaction that re-reads the current labels under the write lock and
re-runs the pure rule, so edits an annotator made while the model trained are respected.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, cast

from bcviewer.labels.changes import next_batch, record_change, round_before, utc_now
from bcviewer.labels.errors import SelfLearningError, UnknownItemError
from bcviewer.labels.rules import SubImageState, relabel_image

MODES = ("auto", "review")
# A sub-image with no prediction is treated as certainly malignant: never relabelled, and it
# may be the anchor that keeps its image explained.
UNSCORED_P = 1.0


def count_table(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Benign and malignant sub-image counts per magnification ("40", "100", ... and "all")."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"benign": 0, "malignant": 0})
    for mag, label, count in conn.execute(
        "SELECT i.magnification, s.label, COUNT(*) FROM subimages s JOIN images i ON i.id = s.image_id"
        " GROUP BY i.magnification, s.label ORDER BY i.magnification"
    ):
        key = "unknown" if mag is None else str(mag)
        table[key][label] += count
        table["all"][label] += count
    return {k: dict(v) for k, v in table.items()} if table else {"all": {"benign": 0, "malignant": 0}}


def next_round_number(conn: sqlite3.Connection) -> int:
    """The level the next round runs at: one past the last completed round."""
    return int(conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM rounds WHERE status = 'done'").fetchone()[0])


def decisions_by_round(conn: sqlite3.Connection) -> dict[int, dict[str, int]]:
    """Round id -> proposal counts by status, for every round that proposed something."""
    table: dict[int, dict[str, int]] = defaultdict(dict)
    for round_id, status, count in conn.execute(
            "SELECT round_id, status, COUNT(*) FROM proposals GROUP BY round_id, status"):
        table[int(round_id)][str(status)] = int(count)
    return dict(table)


def pending_review(conn: sqlite3.Connection) -> tuple[int, int] | None:
    """(round number, pending proposals) of the round still waiting for a person, or None."""
    row = conn.execute("SELECT r.number, COUNT(*) FROM proposals p JOIN rounds r ON r.id = p.round_id"
                       " WHERE p.status = 'pending' GROUP BY r.id ORDER BY r.id DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def start_round(conn: sqlite3.Connection, mode: str, tau: float | Callable[[int], float],
                params: Mapping[str, Any]) -> tuple[int, int]:
    """Record a round as running; returns (round id, round number).

    ``tau`` is the threshold, or a function of the round number (the project's level) giving it.
    Rounds still marked running were cut off (a crash or a kill) and become ``interrupted``.
    Refused while an earlier round's proposals wait for review.
    """
    if mode not in MODES:
        raise SelfLearningError(f"mode must be auto or review, not {mode!r}")
    conn.execute("UPDATE rounds SET status = 'interrupted', finished = ? WHERE status = 'running'", (utc_now(),))
    waiting = pending_review(conn)
    if waiting is not None:
        # A new round would supersede proposals nobody has looked at (and retrain on the same labels).
        raise SelfLearningError(
            f"round {waiting[0]} has {waiting[1]} proposal{'s' if waiting[1] != 1 else ''} waiting for review: "
            f"accept or reject them ('bcviewer labels review', 'accept', 'reject'; Space and X in the labeling "
            f"panel), or revert round {waiting[0]} ('bcviewer labels revert'), before the next round")
    number = next_round_number(conn)
    value = float(tau(number) if callable(tau) else tau)
    if not 0.0 <= value <= 1.0:
        raise SelfLearningError(f"the relabel threshold tau must lie between 0 and 1, got {value}")
    cursor = conn.execute(
        "INSERT INTO rounds (number, mode, tau, params, status, started) VALUES (?, ?, ?, ?, 'running', ?)",
        (number, mode, value, json.dumps(dict(params), sort_keys=True), utc_now()),
    )
    return int(cursor.lastrowid or 0), number


def _round(conn: sqlite3.Connection, round_id: int) -> tuple[int, str, float, str, str]:
    row = conn.execute("SELECT number, mode, tau, status, stats FROM rounds WHERE id = ?", (round_id,)).fetchone()
    if row is None:
        raise UnknownItemError(f"round {round_id} is not in this project")
    return cast("tuple[int, str, float, str, str]", row)


def apply_round(
    conn: sqlite3.Connection, round_id: int, p_malignant: Mapping[int, float], extra_stats: Mapping[str, Any]
) -> dict[str, Any]:
    """Store the round's predictions, apply (auto) or propose (review) the relabels, and close it.

    Returns the statistics written to the round: the rule's counts, the per-magnification
    label table after the round, and ``extra_stats`` (e.g. held-out accuracy).
    """
    number, mode, tau, status, _ = _round(conn, round_id)
    if status != "running":
        raise SelfLearningError(f"round {number} is {status}, so its results cannot be recorded")
    conn.executemany("INSERT INTO predictions (round_id, subimage_id, p_malignant) VALUES (?, ?, ?)",
                     [(round_id, int(s), float(p)) for s, p in p_malignant.items()])
    conn.execute("UPDATE proposals SET status = 'superseded', decided = ? WHERE status = 'pending'", (utc_now(),))
    by_image: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    for image_id, sub, label, source, locked in conn.execute(
        "SELECT s.image_id, s.id, s.label, s.source, s.locked FROM subimages s JOIN images i ON i.id = s.image_id"
        " WHERE i.label = 'malignant' ORDER BY s.image_id, s.row, s.col"
    ):
        by_image[image_id].append((sub, label, source, locked))
    batch = next_batch(conn)
    time = utc_now()
    changed = proposed = kept_anchor = kept_protected = 0
    for subs in by_image.values():
        if not any(s[0] in p_malignant for s in subs):
            continue
        states = [SubImageState(s, label, source, bool(locked)) for s, label, source, locked in subs]
        probs = [float(p_malignant.get(s.subimage_id, UNSCORED_P)) for s in states]
        outcome = relabel_image("malignant", states, probs, tau)
        kept_anchor += outcome.kept_as_anchor
        kept_protected += outcome.kept_protected
        for change in outcome.relabels:
            if mode == "auto":
                record_change(conn, change.subimage_id, "relabel", batch=batch, label=change.new_label,
                              source="model", round_number=number, time=time,
                              reason=f"round {number}: p_malignant {change.p_malignant:.3f} < tau {tau:g}")
                changed += 1
            else:
                conn.execute(
                    "INSERT INTO proposals (round_id, subimage_id, old_label, new_label, p_malignant)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (round_id, change.subimage_id, change.old_label, change.new_label, change.p_malignant))
                proposed += 1
    stats: dict[str, Any] = {
        "round": number, "tau": tau, "mode": mode, "batch": batch, "scored": len(p_malignant),
        "relabelled": changed, "proposed": proposed,
        "kept_as_anchor": kept_anchor, "kept_protected": kept_protected,
        "counts": count_table(conn), **dict(extra_stats),
    }
    conn.execute("UPDATE rounds SET stats = ?, status = 'done', finished = ? WHERE id = ?",
                 (json.dumps(stats, sort_keys=True), utc_now(), round_id))
    return stats


def revert_round(conn: sqlite3.Connection, round_id: int, reason: str = "") -> int:
    """Undo the relabels of a completed auto round that nobody changed since; returns how many.

    Its pending proposals are withdrawn and the round is marked ``reverted``, so the next round
    runs at its level again.
    """
    number, _, _, status, stats_json = _round(conn, round_id)
    if status != "done":
        raise SelfLearningError(f"round {number} is {status}; only a completed round can be reverted")
    batch = json.loads(stats_json).get("batch")
    rows = conn.execute(
        "SELECT h.id, h.subimage_id, h.old_label, h.old_source FROM history h JOIN subimages s ON s.id = h.subimage_id"
        " WHERE h.batch = ? AND h.action = 'relabel' AND s.label = h.new_label AND s.source = 'model'"
        " AND s.round = ? AND s.locked = 0 ORDER BY h.id", (batch, number),
    ).fetchall()
    new_batch = next_batch(conn)
    text = reason or f"round {number} reverted"
    for hid, sub, old_label, old_source in rows:
        record_change(conn, sub, "revert", batch=new_batch, label=old_label, source=old_source,
                      round_number=round_before(conn, sub, hid), reason=text, undoes=hid)
    conn.execute("UPDATE proposals SET status = 'superseded', decided = ? WHERE round_id = ? AND status = 'pending'",
                 (utc_now(), round_id))
    conn.execute("UPDATE rounds SET status = 'reverted', finished = ? WHERE id = ?", (utc_now(), round_id))
    return len(rows)


def abort_round(conn: sqlite3.Connection, round_id: int, reason: str) -> None:
    """Mark a running round ``interrupted`` (training or scoring failed); nothing else changes."""
    conn.execute("UPDATE rounds SET status = 'interrupted', finished = ?, stats = ?"
                 " WHERE id = ? AND status = 'running'",
                 (utc_now(), json.dumps({"error": reason}), round_id))
