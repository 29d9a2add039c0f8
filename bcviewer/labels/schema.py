"""The project file's schema: an ordered list of migrations and the connection settings.

A project is one SQLite file. ``PRAGMA user_version`` holds the number of migrations applied;
opening a file runs the missing ones, each in its own transaction, so a file written by any
earlier bcviewer is brought up to date and a failed migration leaves the file as it was.
Migrations are append-only: never edit a released one, add the next.
"""

from __future__ import annotations

import sqlite3

from bcviewer.labels.errors import ProjectFileError

LABELS = ("benign", "malignant")
SOURCES = ("inherited", "model", "human")

# Version 1: images, sub-images with their current label, the audit trail, predictions, rounds.
_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    sha256        TEXT NOT NULL,
    patient       TEXT NOT NULL,
    magnification INTEGER,
    label         TEXT NOT NULL CHECK (label IN ('benign', 'malignant')),
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL
);
CREATE INDEX images_patient ON images (patient);
CREATE TABLE subimages (
    id       INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    row      INTEGER NOT NULL,
    col      INTEGER NOT NULL,
    x        INTEGER NOT NULL,
    y        INTEGER NOT NULL,
    w        INTEGER NOT NULL,
    h        INTEGER NOT NULL,
    tissue   REAL,
    label    TEXT NOT NULL CHECK (label IN ('benign', 'malignant')),
    source   TEXT NOT NULL CHECK (source IN ('inherited', 'model', 'human')),
    locked   INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    round    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (image_id, row, col)
);
CREATE TABLE rounds (
    id       INTEGER PRIMARY KEY,
    number   INTEGER NOT NULL,
    mode     TEXT NOT NULL CHECK (mode IN ('auto', 'review')),
    tau      REAL NOT NULL,
    params   TEXT NOT NULL DEFAULT '{}',
    stats    TEXT NOT NULL DEFAULT '{}',
    status   TEXT NOT NULL CHECK (status IN ('running', 'done', 'interrupted', 'reverted')),
    started  TEXT NOT NULL,
    finished TEXT
);
CREATE TABLE history (
    id          INTEGER PRIMARY KEY,
    subimage_id INTEGER NOT NULL REFERENCES subimages (id) ON DELETE CASCADE,
    action      TEXT NOT NULL CHECK (action IN ('import', 'label', 'lock', 'unlock', 'relabel', 'undo', 'revert')),
    old_label   TEXT,
    new_label   TEXT NOT NULL,
    old_source  TEXT,
    new_source  TEXT NOT NULL,
    old_locked  INTEGER,
    new_locked  INTEGER NOT NULL,
    round       INTEGER NOT NULL DEFAULT 0,
    time        TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    undoes      INTEGER REFERENCES history (id)
);
CREATE INDEX history_subimage ON history (subimage_id);
CREATE TABLE predictions (
    round_id    INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    subimage_id INTEGER NOT NULL REFERENCES subimages (id) ON DELETE CASCADE,
    p_malignant REAL NOT NULL CHECK (p_malignant BETWEEN 0 AND 1),
    PRIMARY KEY (round_id, subimage_id)
);
"""

# Version 2: review mode (proposals), undo batches, subtypes and a few lookup indexes.
_V2 = """
ALTER TABLE images ADD COLUMN subtype TEXT;
ALTER TABLE history ADD COLUMN batch INTEGER;
ALTER TABLE history ADD COLUMN proposal_id INTEGER;
UPDATE history SET batch = id;
CREATE INDEX history_batch ON history (batch);
CREATE INDEX history_undoes ON history (undoes);
CREATE INDEX subimages_image ON subimages (image_id);
CREATE TABLE proposals (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    subimage_id INTEGER NOT NULL REFERENCES subimages (id) ON DELETE CASCADE,
    old_label   TEXT NOT NULL,
    new_label   TEXT NOT NULL CHECK (new_label IN ('benign', 'malignant')),
    p_malignant REAL NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'rejected', 'superseded')),
    decided     TEXT
);
CREATE INDEX proposals_status ON proposals (status, subimage_id);
"""

# Version 3: who made each change (the audit log names a person). Rows written before it have
# no recorded person: they keep '' ("unknown" in the export).
_V3 = """
ALTER TABLE history ADD COLUMN person TEXT NOT NULL DEFAULT ''
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
"""``MIGRATIONS[i]`` brings a file from ``user_version == i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)

BUSY_TIMEOUT_MS = 10_000


def configure(conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Connection settings every project connection uses.

    * WAL lets the viewer read while a relabel round or an annotator writes.
    * ``synchronous=FULL``: in WAL mode, NORMAL keeps the file intact after a crash but can lose
      the last commits on power loss; a label the panel reported as saved must survive that, so
      every commit syncs the log.
    * ``foreign_keys`` is off by default in SQLite and must be enabled per connection.
    * ``busy_timeout`` makes a second writer wait for the first instead of failing at once.
    """
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ProjectFileError(f"the project file cannot use write-ahead logging (journal mode stayed {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def schema_version(conn: sqlite3.Connection) -> int:
    """The number of migrations applied to this file."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target``; return the version reached.

    Each migration and its ``user_version`` bump commit together, so a crash mid-way leaves the
    file at the previous version and the next open retries.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise ProjectFileError(
            f"this project was written by a newer bcviewer (schema {current}; this version reads up to "
            f"{SCHEMA_VERSION}); update bcviewer to open it"
        )
    for version in range(current, min(target, SCHEMA_VERSION)):
        statements = [s.strip() for s in MIGRATIONS[version].split(";") if s.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            if schema_version(conn) != version:
                conn.execute("ROLLBACK")
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return schema_version(conn)
