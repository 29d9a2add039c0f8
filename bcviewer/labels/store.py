"""``LabelStore``: a project file of images, sub-image labels, their audit trail and rounds.

Every write is one ``BEGIN IMMEDIATE`` transaction that commits before the method returns, so a
caller (the labeling panel) never holds unsaved labels and a kill loses at most the action in
flight. Readers see the last committed state while a writer works (WAL). A store, like its
``sqlite3`` connection, belongs to the thread that opened it: open one store per thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from bcviewer.labels import annotation, audit, rounds
from bcviewer.labels.changes import next_batch, person_of, record_import, utc_now
from bcviewer.labels.connections import ProjectConnection, connect_project
from bcviewer.labels.errors import ProjectFileError, UnknownItemError
from bcviewer.labels.guard import ProjectDamagedError, project_error, verify_project_file
from bcviewer.labels.queries import SubImageRef, image_rows, label_counts, subimage_refs, subimage_rows
from bcviewer.labels.records import (
    DecisionResult,
    HistoryRow,
    ImageRow,
    LabelCounts,
    NewImage,
    ProposalRow,
    RoundRow,
    SubImageRect,
    SubImageRow,
    UndoResult,
)
from bcviewer.labels.review import ImageReview, RoundPrediction, image_reviews, prediction_history
from bcviewer.labels.schema import BUSY_TIMEOUT_MS, LABELS, SCHEMA_VERSION, schema_version


def _worded_sqlite_errors(cls: type) -> type:
    """Wrap every public method so that an ``sqlite3`` failure becomes a worded ProjectFileError.

    A project can be locked by another writer, damaged on disk or read-only at any call, not only
    at open; callers (CLI and viewer) then get a message instead of a raw library exception.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not callable(member) or isinstance(member, (classmethod, staticmethod)):
            continue
        if name == "write":  # a context manager: its errors surface in the methods using it
            continue

        def wrapped(self: Any, *args: Any, __method: Any = member, **kwargs: Any) -> Any:
            try:
                return __method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise project_error(exc, self.path) from exc

        wrapped.__name__, wrapped.__doc__, wrapped.__qualname__ = name, member.__doc__, member.__qualname__
        setattr(cls, name, wrapped)
    return cls


@_worded_sqlite_errors
class LabelStore:
    """An open project file. Use :meth:`open` (or :meth:`create`) and close it, or use ``with``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, immutable: bool = False) -> None:
        self.path = path
        self._conn = conn
        self.immutable = immutable  # read as a snapshot from a read-only folder (labels/connections.py)
        self.annotator = audit.default_annotator()

    # ---- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, create: bool = False, readonly: bool = False,
             busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> LabelStore:
        """Open a project file, migrating it to the current schema; ``create`` makes a new one.

        An existing file is first checked through a read-only connection (see
        :mod:`bcviewer.labels.guard`): nothing is written to a file that is not a project.
        ``busy_timeout_s`` is how long to wait for another writer (the viewer waits briefly).
        ``readonly`` opens an up-to-date project through a connection that cannot write (``mode=ro``,
        or ``immutable=1`` in a read-only folder), so a project on a read-only share can be read.
        """
        file = Path(path).expanduser()
        if file.is_dir():
            raise ProjectFileError(f"{file} is a folder; give the project file (e.g. labels.bcv)")
        if not file.exists() and not create:
            raise ProjectFileError(f"the project {file} does not exist; create it with 'bcviewer labels import'")
        if not file.parent.is_dir():
            raise ProjectFileError(f"cannot create {file}: the folder {file.parent} does not exist")
        version = (verify_project_file(file, SCHEMA_VERSION, allow_blank=create, timeout_s=busy_timeout_s)
                   if file.exists() or file.is_symlink() else None)
        try:
            conn, immutable = connect_project(file, version, readonly=readonly, timeout_s=busy_timeout_s)
        except sqlite3.Error as exc:
            raise project_error(exc, file) from exc
        try:
            store = cls(file, conn, immutable=immutable)
            store.check_labels()  # a label bcviewer never writes: refuse before anyone reads or writes
        except sqlite3.Error as exc:
            conn.close()
            raise project_error(exc, file) from exc
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def create(cls, path: str | Path) -> LabelStore:
        """Open ``path``, creating an empty project when it does not exist."""
        return cls.open(path, create=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def annotator(self) -> str:
        """Who the history rows written through this store name (the OS user unless set)."""
        return person_of(self._conn)

    @annotator.setter
    def annotator(self, name: str) -> None:
        if isinstance(self._conn, ProjectConnection):  # every connection open() makes is one
            self._conn.person = audit.clean_annotator(name)

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            yield self._conn

    def data_version(self) -> int:
        """A number that changes when *another* connection commits (poll it to refresh a view)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result ("ok" for a sound file)."""
        return "; ".join(r[0] for r in self._conn.execute("PRAGMA integrity_check"))

    # ---- project settings ---------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def heldout_patients(self) -> frozenset[str] | None:
        """Patients kept out of self-learning training (None: no split recorded yet)."""
        value = self.get_meta("heldout_patients")
        return None if value is None else frozenset(value)

    def set_heldout_patients(self, patients: Sequence[str]) -> None:
        self.set_meta("heldout_patients", sorted(patients))

    # ---- images -----------------------------------------------------------------------------
    def add_image(self, image: NewImage, subimages: Sequence[SubImageRect]) -> int:
        """Add an image with its sub-images, each inheriting the image label; returns its id."""
        if image.label not in LABELS:
            raise ValueError(f"image label must be benign or malignant, not {image.label!r}")
        with self.write() as conn:
            cursor = conn.execute(
                "INSERT INTO images (path, sha256, patient, magnification, label, width, height, subtype)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (str(image.path), image.sha256, image.patient, image.magnification, image.label,
                 image.width, image.height, image.subtype),
            )
            image_id = int(cursor.lastrowid or 0)
            batch = next_batch(conn)
            time = utc_now()
            for r in subimages:
                sub = conn.execute(
                    "INSERT INTO subimages (image_id, row, col, x, y, w, h, tissue, label, source)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'inherited')",
                    (image_id, r.row, r.col, r.x, r.y, r.w, r.h, r.tissue, image.label),
                ).lastrowid
                record_import(conn, int(sub or 0), image.label, batch=batch, time=time)
        return image_id

    def image_id_for(self, *, path: str | Path | None = None, sha256: str | None = None) -> int | None:
        """Id of the image with this path or content hash, if the project holds it."""
        if path is not None:
            row = self._conn.execute("SELECT id FROM images WHERE path = ?", (str(path),)).fetchone()
        else:
            row = self._conn.execute("SELECT id FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def images(self, *, label: str | None = None, patient: str | None = None, magnification: int | None = None,
               patients: Sequence[str] | None = None, relabelled: bool | None = None,
               pending: bool | None = None, search: str | None = None,
               limit: int | None = None, offset: int = 0) -> list[ImageRow]:
        """Images matching every filter given, sorted by path, with their label summary.

        ``relabelled``: some sub-image label differs from the image label. ``pending``: the image
        has proposals waiting for review. ``search``: part of the file path.
        """
        return image_rows(self._conn, label=label, patient=patient, magnification=magnification,
                          patients=patients, relabelled=relabelled, pending=pending, search=search,
                          limit=limit, offset=offset)

    def image(self, image_id: int) -> ImageRow:
        rows = image_rows(self._conn, image_id=image_id)
        if not rows:
            raise UnknownItemError(f"image {image_id} is not in this project")
        return rows[0]

    def patients(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT patient FROM images ORDER BY patient")]

    def magnifications(self) -> list[int]:
        return [r[0] for r in self._conn.execute(
            "SELECT DISTINCT magnification FROM images WHERE magnification IS NOT NULL ORDER BY 1")]

    # ---- sub-images -------------------------------------------------------------------------
    def subimages(self, image_id: int) -> list[SubImageRow]:
        """The sub-images of one image in row-major order, with prediction and pending proposal."""
        return subimage_rows(self._conn, "s.image_id = ?", (image_id,))

    def subimage(self, subimage_id: int) -> SubImageRow:
        rows = subimage_rows(self._conn, "s.id = ?", (subimage_id,))
        if not rows:
            raise UnknownItemError(f"sub-image {subimage_id} is not in this project")
        return rows[0]

    def subimage_refs(self, patients: Sequence[str] | None = None) -> list[SubImageRef]:
        """Everything a trainer or scorer needs about each sub-image (all, or these patients')."""
        return subimage_refs(self._conn, patients)

    def history(self, subimage_id: int | None = None, limit: int | None = None) -> list[HistoryRow]:
        """The audit trail, newest first (of one sub-image, or of the whole project)."""
        where, args = ("WHERE subimage_id = ?", [subimage_id]) if subimage_id is not None else ("", [])
        sql = (f"SELECT id, subimage_id, action, old_label, new_label, old_source, new_source, old_locked,"
               f" new_locked, round, time, reason, batch, undoes, proposal_id, person FROM history {where} ORDER BY id DESC")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        # One starred tuple, as in queries.subimage_rows (for mypy).
        return [HistoryRow(*(*r[:7], None if r[7] is None else bool(r[7]), bool(r[8]), *r[9:]))
                for r in self._conn.execute(sql, args)]

    def audit_trail(self) -> list[audit.AuditRow]:
        """The whole history as the audit log exports it (time, person, source, image...), oldest first."""
        return audit.audit_rows(self._conn)

    def last_change(self) -> str | None:
        """E.g. "label benign on 3 sub-images": the last change this store's annotator made, or None."""
        found = audit.last_change(self._conn)
        return None if found is None else found[1]

    def annotate_last_change(self, reason: str) -> int:
        """Add a reason to the last change this store's annotator made; returns the rows annotated."""
        with self.write() as conn:
            return audit.annotate_last_change(conn, reason)

    def image_reviews(self, image_id: int | None = None) -> dict[int, ImageReview]:
        """Per image: label sources, and how uncertain the latest model is and how often it disagrees."""
        return image_reviews(self._conn, image_id)

    def prediction_history(self, subimage_id: int) -> list[RoundPrediction]:
        """The sub-image's ``p_malignant`` from every round that scored it, oldest first."""
        return prediction_history(self._conn, subimage_id)

    # ---- human edits (each one transaction, one undo step) ----------------------------------------
    def set_label(self, subimage_ids: Sequence[int], label: str, reason: str = "") -> list[int]:
        """Set a human label on sub-images; returns the new history ids. Locked ones raise."""
        with self.write() as conn:
            return annotation.set_label(conn, subimage_ids, label, reason)

    def set_locked(self, subimage_ids: Sequence[int], locked: bool = True, reason: str = "") -> list[int]:
        """Lock or unlock sub-images; returns the new history ids."""
        with self.write() as conn:
            return annotation.set_locked(conn, subimage_ids, locked, reason)

    def undo(self) -> UndoResult | None:
        """Undo the last human action (label, lock, proposal decision); None if there is none."""
        with self.write() as conn:
            return annotation.undo(conn)

    def undo_description(self) -> str | None:
        """E.g. "label benign on 3 sub-images", for an Undo menu item; None: nothing to undo."""
        return annotation.undo_description(self._conn)

    # ---- review proposals ---------------------------------------------------------------------
    def proposals(self, status: str | None = "pending", image_id: int | None = None,
                  min_confidence: float | None = None) -> list[ProposalRow]:
        """Proposals (pending by default), most confident first."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if status is not None:
            where.append("p.status = ?")
            args.append(status)
        if image_id is not None:
            where.append("s.image_id = ?")
            args.append(image_id)
        rows = [ProposalRow(*r) for r in self._conn.execute(
            "SELECT p.id, p.round_id, r.number, p.subimage_id, s.image_id, p.old_label, p.new_label, p.p_malignant,"
            " p.status, p.decided FROM proposals p JOIN rounds r ON r.id = p.round_id"
            f" JOIN subimages s ON s.id = p.subimage_id WHERE {' AND '.join(where)} ORDER BY p.id", args)]
        if min_confidence is not None:
            rows = [r for r in rows if r.confidence >= min_confidence]
        return sorted(rows, key=lambda r: (-r.confidence, r.id))

    def accept_proposals(self, proposal_ids: Sequence[int], reason: str = "") -> DecisionResult:
        with self.write() as conn:
            return annotation.decide_proposals(conn, proposal_ids, True, reason)

    def reject_proposals(self, proposal_ids: Sequence[int], reason: str = "") -> DecisionResult:
        with self.write() as conn:
            return annotation.decide_proposals(conn, proposal_ids, False, reason)

    def accept_proposals_above(self, confidence: float, reason: str = "") -> DecisionResult:
        """Bulk accept: every pending proposal whose confidence is at least ``confidence``."""
        with self.write() as conn:
            ids = [r.id for r in self.proposals("pending", min_confidence=confidence)]
            return annotation.decide_proposals(conn, ids, True, reason)

    def check_labels(self) -> None:
        """Raise ProjectDamagedError when a stored label or source is not one bcviewer writes.

        The schema's CHECK constraints keep them valid; a file edited by another tool may not be.
        :meth:`open` calls it, so commands stop before they export or change anything.
        """
        bad = self._conn.execute(
            "SELECT (SELECT COUNT(*) FROM images WHERE label NOT IN ('benign', 'malignant')),"
            " (SELECT COUNT(*) FROM subimages WHERE label NOT IN ('benign', 'malignant')"
            "  OR source NOT IN ('inherited', 'model', 'human'))").fetchone()
        if bad[0] or bad[1]:
            example = self._conn.execute(
                "SELECT label FROM subimages WHERE label NOT IN ('benign', 'malignant') UNION ALL "
                "SELECT source FROM subimages WHERE source NOT IN ('inherited', 'model', 'human') UNION ALL "
                "SELECT label FROM images WHERE label NOT IN ('benign', 'malignant') LIMIT 1").fetchone()
            raise ProjectDamagedError(
                f"{self.path} is a damaged bcviewer project: {bad[0]} images and {bad[1]} sub-images carry a label "
                f"or source bcviewer never writes (e.g. {example[0]!r}); it was not changed")

    # ---- counts -----------------------------------------------------------------------------
    def counts(self, *, image_id: int | None = None, patient: str | None = None,
               magnification: int | None = None, patients: Sequence[str] | None = None) -> LabelCounts:
        """Label, source, lock and pending-proposal counts of the sub-images selected."""
        return label_counts(self._conn, image_id=image_id, patient=patient, magnification=magnification,
                            patients=patients)

    def count_table(self) -> dict[str, dict[str, int]]:
        """The paper's table: benign/malignant sub-images per magnification, then "unknown", then "all"."""
        table = rounds.count_table(self._conn)
        order = sorted(table, key=lambda k: (k == "all", k == "unknown", int(k) if k.isdigit() else 0))
        return {k: table[k] for k in order}

    # ---- rounds -----------------------------------------------------------------------------
    def start_round(self, mode: str, tau: float | Callable[[int], float],
                    params: Mapping[str, Any]) -> tuple[int, int]:
        """Record a running round (``tau``: a value or a function of the round number); returns
        (round id, round number)."""
        with self.write() as conn:
            return rounds.start_round(conn, mode, tau, params)

    def apply_round(self, round_id: int, p_malignant: Mapping[int, float],
                    extra_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Commit a round's predictions and relabels (or proposals) in one transaction."""
        with self.write() as conn:
            return rounds.apply_round(conn, round_id, p_malignant, extra_stats or {})

    def abort_round(self, round_id: int, reason: str) -> None:
        """Mark a running round interrupted (its training or scoring failed)."""
        with self.write() as conn:
            rounds.abort_round(conn, round_id, reason)

    def revert_round(self, round_id: int, reason: str = "") -> int:
        """Undo a completed round's relabels that nobody changed since; returns how many."""
        with self.write() as conn:
            return rounds.revert_round(conn, round_id, reason)

    def next_round_number(self) -> int:
        """The level the next round runs at (one past the last completed, not reverted, round)."""
        return rounds.next_round_number(self._conn)

    def pending_review(self) -> tuple[int, int] | None:
        """(round number, pending proposals) of a round waiting for a person, or None."""
        return rounds.pending_review(self._conn)

    def decisions_by_round(self) -> dict[int, dict[str, int]]:
        """Round id -> proposal counts by status (pending, accepted, rejected, superseded)."""
        return rounds.decisions_by_round(self._conn)

    def rounds(self, status: str | None = None) -> list[RoundRow]:
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        return [RoundRow(i, n, m, t, json.loads(p), json.loads(s), st, a, f) for i, n, m, t, p, s, st, a, f in
                self._conn.execute("SELECT id, number, mode, tau, params, stats, status, started, finished"
                                   f" FROM rounds {where} ORDER BY id", args)]

    def predictions(self, round_id: int) -> dict[int, float]:
        """Sub-image id -> p_malignant of one round."""
        return dict(self._conn.execute(
            "SELECT subimage_id, p_malignant FROM predictions WHERE round_id = ?", (round_id,)))
