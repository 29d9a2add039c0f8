"""Damaged, foreign and misused label projects: one line and exit 2, and no file is changed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from bad_input_helpers import digest, digests, fails_with_one_line, run_cli

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore, ProjectFileError
from bcviewer.labels.guard import ProjectLockedError


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Path:
    path = tmp_path_factory.mktemp("proj") / "p.bcv"
    assert main(["labels", "import", str(path), str(test_data / "breakhis")]) == 0
    return path


@pytest.fixture()
def project(built_project: Path, tmp_path: Path) -> Path:
    path = tmp_path / "p.bcv"
    shutil.copy(built_project, path)
    return path


def _companions(project: Path) -> list[Path]:
    return [project, project.with_name(project.name + "-wal"), project.with_name(project.name + "-shm")]


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_export_csv_onto_the_project_is_refused(project: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = project.with_name(project.name + suffix)
    before = digest(project)
    fails_with_one_line(["labels", "export", project, "--csv", target], capsys, "would overwrite")
    assert digest(project) == before
    assert main(["labels", "stats", str(project)]) == 0  # still a working project


def test_selflearn_json_onto_the_project_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(project)
    fails_with_one_line(["selflearn", project, "--json", project, "--rounds", "1"], capsys, "--json", "would overwrite")
    assert digest(project) == before


def test_another_programs_sqlite_file_is_not_switched_to_wal(tmp_path: Path, test_data: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    before = digest(other)
    for command in (["labels", "stats", other], ["labels", "import", other, test_data / "breakhis"],
                    ["selflearn", other]):
        fails_with_one_line(command, capsys, "is an SQLite database but not a bcviewer project")
    assert digest(other) == before
    with sqlite3.connect(f"file:{other}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not other.with_name("other.sqlite-wal").exists()


def test_an_empty_file_does_not_become_a_project(tmp_path: Path, test_data: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.bcv"
    empty.touch()
    fails_with_one_line(["labels", "stats", empty], capsys, "is empty (0 bytes), so it is not a bcviewer project")
    fails_with_one_line(["labels", "import", empty, test_data / "breakhis"], capsys, "is empty (0 bytes)")
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.bcv"]


@pytest.mark.parametrize("grid", ["0x0", "0x3", "1000x1000", "3by3"])
def test_bad_import_arguments_create_no_project(grid: str, tmp_path: Path, test_data: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new.bcv"
    fails_with_one_line(["labels", "import", new, test_data / "breakhis", "--grid", grid], capsys, "--grid")
    assert list(tmp_path.iterdir()) == []


def test_an_import_that_adds_nothing_leaves_no_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "SOB_B_A-14-22549AB-100-001.png").write_bytes(b"not a png")
    new = tmp_path / "new.bcv"
    assert main(["labels", "import", str(new), str(folder)]) == 2
    capsys.readouterr()
    assert not new.exists() and not new.with_name("new.bcv-wal").exists()


def _malformed(project: Path) -> Path:
    data = bytearray(project.read_bytes())
    page = 4096
    for start in range(2 * page, len(data), page):  # every page after the schema page
        data[start:start + 100] = b"\xff" * 100
    project.write_bytes(bytes(data))
    return project


def _dropped_history(project: Path) -> Path:
    with sqlite3.connect(project) as conn:
        conn.execute("DROP TABLE history")
    conn.close()
    return project


def _unknown_label(project: Path) -> Path:
    with sqlite3.connect(project) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("UPDATE subimages SET label = 'weird' WHERE id = 3")
    conn.close()
    return project


@pytest.mark.parametrize(("damage", "needle"), [
    (_malformed, "is a damaged bcviewer project (database disk image is malformed)"),
    (_dropped_history, "its table(s) history are missing"),
    (_unknown_label, "carry a label or source bcviewer never writes (e.g. 'weird')"),
])
def test_damaged_projects_are_one_line_and_left_alone(damage, needle: str, project: Path,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damage(project)
    before = digests(*_companions(project))
    csv_out, json_out = tmp_path / "labels.csv", tmp_path / "report.json"
    fails_with_one_line(["labels", "stats", project], capsys, needle)
    fails_with_one_line(["labels", "export", project, "--csv", csv_out], capsys, needle)
    fails_with_one_line(["selflearn", project, "--json", json_out, "--rounds", "1"], capsys, needle)
    assert not csv_out.exists() and not json_out.exists()  # nothing half-written
    assert digest(project) == before[project]


def test_a_locked_project_is_a_worded_error_not_a_hang(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder = sqlite3.connect(project, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
        with pytest.raises(ProjectLockedError, match="being written by another program"):
            LabelStore.open(project, busy_timeout_s=0.2)
        fails_with_one_line(["labels", "stats", project], capsys, "is being written by another program")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with LabelStore.open(project, readonly=True) as store:
        assert store.counts().total == 36


def test_a_fifo_is_not_opened_as_a_project(tmp_path: Path) -> None:
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    fifo = tmp_path / "p.bcv"
    os.mkfifo(fifo)
    done = run_cli(["labels", "stats", fifo], timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bcviewer labels: {fifo} is not a regular file (a named pipe, socket or device); give the project file "
        "(e.g. labels.bcv)"]


def test_a_newer_schema_is_refused_without_writing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(project) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = digest(project)
    fails_with_one_line(["labels", "stats", project], capsys, "written by a newer bcviewer")
    assert digest(project) == before


def test_store_open_refuses_non_projects_with_project_file_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.bcv"
    text.write_text("hello")
    with pytest.raises(ProjectFileError, match="not an SQLite database"):
        LabelStore.open(text)
    assert text.read_text() == "hello"


@pytest.mark.parametrize(("raw", "kind", "needle"), [
    ("attempt to write a readonly database", "ProjectReadOnlyError", "is read-only"),
    ("database is locked", "ProjectLockedError", "being written by another program"),
    ("database disk image is malformed", "ProjectDamagedError", "is a damaged bcviewer project"),
    ("no such table: history", "ProjectDamagedError", "restore it from a backup"),
    ("disk I/O error", "ProjectFileError", "cannot be read or written"),
])
def test_sqlite_failures_are_worded_for_annotators(raw: str, kind: str, needle: str) -> None:
    from bcviewer.labels.guard import project_error

    error = project_error(sqlite3.OperationalError(raw), Path("p.bcv"))
    assert type(error).__name__ == kind and needle in str(error) and str(error).startswith("p.bcv ")
