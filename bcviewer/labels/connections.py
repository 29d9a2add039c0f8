"""The connections a project is opened with: a writer that migrates, or a reader that never writes.

Read-only connections let a lab read labels from a read-only share.

A project is in WAL mode. SQLite reads a WAL database only through its ``-shm`` index, which a
reader creates next to the file when it is missing; in a folder this process cannot write,
``mode=ro`` then fails ("attempt to write a readonly database") although nothing was to be
written. When the folder cannot be written and no write-ahead log is there, no bcviewer writer can
be running on the file (a writer would have created ``-wal``), so the file is opened with
``immutable=1``: SQLite reads it as it is, without the index and without locks. A non-empty
``-wal`` in a read-only folder holds committed labels that ``immutable=1`` would silently skip,
so that case stays an error that says what to do.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from bcviewer.labels.errors import ProjectFileError
from bcviewer.labels.schema import SCHEMA_VERSION, configure, migrate, schema_version

_CANNOT_WRITE = ("readonly", "read-only", "unable to open")


class ProjectConnection(sqlite3.Connection):
    """A project connection that also carries who writes through it.

    ``person`` goes into the ``person`` column of every history row written through this
    connection (see :mod:`bcviewer.labels.changes`); the store sets it (the OS user by default).
    """

    person: str = ""


def _uri(file: Path, params: str) -> str:
    return f"file:{quote(str(file.resolve()))}?{params}"


def _wal_has_content(file: Path) -> bool:
    try:
        return file.with_name(file.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def folder_is_writable(file: Path) -> bool:
    """Whether this process may create files (``-shm``, ``-wal``) next to ``file``."""
    return os.access(file.resolve().parent, os.W_OK)


def connect_readonly(file: Path, timeout_s: float) -> tuple[sqlite3.Connection, bool]:
    """A connection that never writes to ``file``; True with it when the file is read as immutable.

    The first query is run here: SQLite opens files lazily, so a failure shows up there.
    """
    conn = sqlite3.connect(_uri(file, "mode=ro"), uri=True, timeout=timeout_s, isolation_level=None,
                           factory=ProjectConnection)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, False
    except sqlite3.OperationalError as exc:
        conn.close()
        low = str(exc).lower()
        if not any(s in low for s in _CANNOT_WRITE) or folder_is_writable(file):
            raise
        if _wal_has_content(file):
            raise ProjectFileError(
                f"{file} has labels in its write-ahead log ({file.name}-wal) that a reader cannot use in a "
                "read-only folder; open it once where the folder can be written (or copy the project with "
                "its -wal file) to fold them into the project") from exc
    conn = sqlite3.connect(_uri(file, "mode=ro&immutable=1"), uri=True, timeout=timeout_s, isolation_level=None,
                           factory=ProjectConnection)
    return conn, True


def open_reader(file: Path, timeout_s: float) -> tuple[sqlite3.Connection, bool]:
    """:func:`connect_readonly` with the settings every project connection uses that do not write."""
    conn, immutable = connect_readonly(file, timeout_s)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn, immutable


def refuse_upgrade_if_readonly(file: Path, version: int) -> None:
    """An older project must be upgraded (written) before it is read; say so where it cannot be."""
    if not folder_is_writable(file) or not os.access(file, os.W_OK):
        raise ProjectFileError(
            f"{file} was written by an older bcviewer (schema {version}) and must be upgraded before it is "
            "read, but it is read-only here; open it once where it can be written, or copy it")


def open_writer(file: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that may write: WAL and the other settings, the schema migrated to this version."""
    # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE for writes).
    conn = sqlite3.connect(file, isolation_level=None, timeout=timeout_s, factory=ProjectConnection)
    try:
        configure(conn, busy_timeout_ms=int(timeout_s * 1000))
        version = schema_version(conn)
        if version == 0:
            tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:  # an existing SQLite file without our schema must not become a project
                raise ProjectFileError(f"{file} is an SQLite database but not a bcviewer project")
        if version != SCHEMA_VERSION:
            migrate(conn)  # also refuses files from a newer bcviewer
    except BaseException:
        conn.close()
        raise
    return conn


def connect_project(file: Path, version: int | None, *, readonly: bool,
                    timeout_s: float) -> tuple[sqlite3.Connection, bool]:
    """The connection for a project at schema ``version`` (None: a new file); True when immutable.

    ``readonly`` on an up-to-date project never opens the file for writing; an older one is
    upgraded first where it can be written (the connection then refuses writes with ``query_only``).
    """
    if readonly and version == SCHEMA_VERSION:
        conn, immutable = open_reader(file, timeout_s)
    else:
        if readonly and version is not None:
            refuse_upgrade_if_readonly(file, version)
        conn, immutable = open_writer(file, timeout_s), False
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn, immutable
