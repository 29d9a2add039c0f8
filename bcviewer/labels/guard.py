"""Make sure a file is a bcviewer project before anything writes to it, and word SQLite's failures.

Opening a project switches it to write-ahead logging and runs migrations: both write. Done on
another program's SQLite file, or on an empty file, that would change a file that is not ours.
:func:`verify_project_file` therefore reads the file first, through a read-only connection, and
only a file that carries our schema (or is an SQLite file with nothing in it, left by an
interrupted ``create``) is opened for writing.

The file is read through SQLite only, never with ``open()``: on POSIX, closing *any* descriptor
of a file drops every lock this process holds on it, those of a live SQLite connection included
(SQLite's "POSIX advisory locks are broken by close()"). The labeling panel keeps a connection
open while its jobs open and close others in the same process; one ``open()``/``close()`` of the
header let the next process believe it was the last one and delete the panel's write-ahead log,
losing the labels written to it. SQLite's own connections share one lock table per file within a
process and defer closing a descriptor while another connection holds locks, so they are safe.

:func:`project_error` turns an ``sqlite3`` exception into a :class:`ProjectFileError` whose
message says what happened to the project (locked by another writer, damaged, read-only) in words
an annotator can act on.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from bcviewer.labels.connections import connect_readonly
from bcviewer.labels.errors import ProjectFileError

# SQLite's wording (SQLITE_NOTADB) for a file whose header is not an SQLite database header.
NOT_A_DATABASE = "file is not a database"
REQUIRED_TABLES = frozenset({"meta", "images", "subimages", "history", "rounds", "predictions"})


class ProjectLockedError(ProjectFileError):
    """Another connection holds the project's write lock (or an exclusive lock) for too long."""


class ProjectDamagedError(ProjectFileError):
    """SQLite reports the project file as corrupt, or a table of our schema is missing."""


class ProjectReadOnlyError(ProjectFileError):
    """The project file (or its folder) cannot be written."""


def verify_project_file(file: Path, schema_version: int, *, allow_blank: bool, timeout_s: float) -> int:
    """Check, without writing, that ``file`` is a project; return its schema version.

    ``allow_blank``: an SQLite file without any table may become a project (``create``).
    """
    try:
        st = file.stat()
    except OSError as exc:
        raise ProjectFileError(f"{file} cannot be read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ProjectFileError(f"{file} is not a regular file (a named pipe, socket or device); "
                               "give the project file (e.g. labels.bcv)")
    if st.st_size == 0:
        raise ProjectFileError(f"{file} is empty (0 bytes), so it is not a bcviewer project; delete it (or give "
                               "another name) to start a new project")
    conn: sqlite3.Connection | None = None
    try:
        conn, _immutable = connect_readonly(file, timeout_s)  # immutable in a read-only folder
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if NOT_A_DATABASE in str(exc).lower():  # SQLite read the header and found no database there
            raise ProjectFileError(f"{file} is not a bcviewer project file (it is not an SQLite database)") from exc
        raise project_error(exc, file) from exc
    finally:
        if conn is not None:
            conn.close()
    if version == 0:
        if tables:
            raise ProjectFileError(f"{file} is an SQLite database but not a bcviewer project; it was left unchanged")
        if not allow_blank:
            raise ProjectFileError(f"{file} is an SQLite database with nothing in it, not a bcviewer project; "
                                   "create a project with 'bcviewer labels import'")
        return version
    if version > schema_version:
        raise ProjectFileError(
            f"this project was written by a newer bcviewer (schema {version}; this version reads up to "
            f"{schema_version}); update bcviewer to open it")
    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        raise ProjectDamagedError(f"{file} is a damaged bcviewer project: its table(s) {', '.join(missing)} are "
                                  "missing; restore it from a backup")
    return version


def project_error(exc: sqlite3.Error, file: Path | str) -> ProjectFileError:
    """The user-facing error for an ``sqlite3`` failure on the project ``file``."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return ProjectLockedError(f"{file} is being written by another program (another bcviewer window or "
                                  "command); try again when it has finished. Nothing was changed")
    if "readonly" in low or "read-only" in low:
        return ProjectReadOnlyError(f"{file} is read-only (the file or its folder cannot be written), so labels "
                                    "cannot be saved; copy it somewhere writable or fix its permissions")
    if any(s in low for s in ("malformed", "not a database", "no such table", "no such column", "corrupt",
                              "constraint failed", "datatype mismatch")):
        return ProjectDamagedError(f"{file} is a damaged bcviewer project ({text}); restore it from a backup. "
                                   "The command stopped before writing anything more")
    if "unable to open" in low or "disk i/o" in low:
        return ProjectFileError(f"{file} cannot be read or written ({text})")
    return ProjectFileError(f"{file}: the project database failed ({text})")
