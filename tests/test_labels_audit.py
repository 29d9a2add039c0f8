"""The audit log: who changed which sub-image, when and why, exported as CSV and JSON Lines.

The project is real (the BreakHis fixtures imported by ``bcviewer labels import``); the expected
rows are written out by hand from the actions the test takes, not read back from the store.
"""

from __future__ import annotations

import csv
import getpass
import json
import sqlite3
from pathlib import Path

import pytest

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore
from bcviewer.labels.audit import AuditRow, default_annotator
from bcviewer.labels.audit_export import FIELDS, read_audit
from bcviewer.labels.schema import SCHEMA_VERSION, configure, migrate

A, F, DC, PC = ("SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png",
                "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png")
IMPORTED = "inherited from the image label"


def _import(project: Path, files: list[Path], annotator: str) -> None:
    assert main(["labels", "import", str(project), *map(str, files), "--annotator", annotator]) == 0


def _subs(store: LabelStore, name: str) -> dict[tuple[int, int], int]:
    image = next(i for i in store.images() if i.path.name == name)
    return {(s.row, s.col): s.id for s in store.subimages(image.id)}


def _plain(rows: list[AuditRow]) -> list[tuple[object, ...]]:
    """Each row without its id and time (checked separately): what the test can predict."""
    return [(r.person, r.action, r.source, Path(r.image).name, r.row, r.col, r.before, r.after, r.locked, r.round,
             r.reason) for r in rows]


def _imported(person: str, name: str, label: str) -> list[tuple[object, ...]]:
    return [(person, "import", "import", name, k // 3, k % 3, None, label, False, 0, IMPORTED) for k in range(9)]


@pytest.fixture
def history(tmp_path: Path, test_data: Path) -> tuple[Path, list[tuple[object, ...]], dict[str, int]]:
    """A project after imports, manual edits, an undo, a round, its revert and a review decision."""
    project, breakhis = tmp_path / "p.bcv", test_data / "breakhis"
    _import(project, [breakhis / A, breakhis / F, breakhis / DC], "importer")
    with LabelStore.open(project) as store:
        imported = store.audit_trail()
        order = list(dict.fromkeys(Path(r.image).name for r in imported))  # the importer's order
        labels = {A: "benign", F: "benign", DC: "malignant"}
        expected = [row for name in order for row in _imported("importer", name, labels[name])]
        dc, a = _subs(store, DC), _subs(store, A)
        store.annotator = "alice"
        store.set_label([dc[0, 0], dc[0, 1]], "benign", "stroma, no tumour")
        store.set_locked([dc[2, 2]])
        store.set_label([a[1, 1]], "malignant")
        store.undo()
        assert store.last_change() == "undo on 1 sub-image"
        assert store.annotate_last_change("  misclick\non the wrong tile ") == 1
        ids = {"label_a": store.audit_trail()[-2].id}
    expected += [("alice", "label", "manual", DC, 0, 0, "malignant", "benign", False, 0, "stroma, no tumour"),
                 ("alice", "label", "manual", DC, 0, 1, "malignant", "benign", False, 0, "stroma, no tumour"),
                 ("alice", "lock", "manual", DC, 2, 2, "malignant", "malignant", True, 0, ""),
                 ("alice", "label", "manual", A, 1, 1, "benign", "malignant", False, 0, ""),
                 ("alice", "undo", "undo", A, 1, 1, "malignant", "benign", False, 0, "undo; misclick on the wrong tile")]
    _import(project, [breakhis / PC], "dave")
    expected += _imported("dave", PC, "malignant")
    with LabelStore.open(project) as store:
        dc, pc = _subs(store, DC), _subs(store, PC)
        store.annotator = "bob"
        round_id, number = store.start_round("auto", 0.1, {})
        low = {dc[1, 0]: 0.05, dc[1, 1]: 0.04}
        stats = store.apply_round(round_id, {**{s: 0.9 for s in [*dc.values(), *pc.values()]}, **low})
        assert (number, stats["relabelled"]) == (1, 2)
        relabels = [r.id for r in store.audit_trail()[-2:]]
        assert store.revert_round(round_id, "tau too high for this lab") == 2
        review_id, number = store.start_round("review", 0.1, {})
        store.apply_round(review_id, {**{s: 0.9 for s in [*dc.values(), *pc.values()]}, dc[1, 2]: 0.02})
        store.annotator = "carol"
        [proposal] = store.proposals()
        assert store.accept_proposals([proposal.id], "agree: fibrous stroma").applied == (proposal.id,)
    expected += [("bob", "relabel", "self-learning", DC, 1, 0, "malignant", "benign", False, 1,
                  "round 1: p_malignant 0.050 < tau 0.1"),
                 ("bob", "relabel", "self-learning", DC, 1, 1, "malignant", "benign", False, 1,
                  "round 1: p_malignant 0.040 < tau 0.1"),
                 ("bob", "revert", "revert", DC, 1, 0, "benign", "malignant", False, 1, "tau too high for this lab"),
                 ("bob", "revert", "revert", DC, 1, 1, "benign", "malignant", False, 1, "tau too high for this lab"),
                 ("carol", "label", "review", DC, 1, 2, "malignant", "benign", False, 1, "agree: fibrous stroma")]
    return project, expected, {"label_a": ids["label_a"], "relabel_1": relabels[0], "relabel_2": relabels[1]}


def test_the_store_names_the_os_user_unless_told_otherwise(tmp_path: Path, test_data: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_annotator() == getpass.getuser()
    with LabelStore.create(tmp_path / "p.bcv") as store:
        assert store.annotator == getpass.getuser()
        store.annotator = "  Dr.  Ada\tLovelace \n"
        assert store.annotator == "Dr. Ada Lovelace"

    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert default_annotator() == ""  # not recorded, rather than a made-up name


def test_history_rows_in_order_with_person_reason_before_after(
        history: tuple[Path, list[tuple[object, ...]], dict[str, int]]) -> None:
    project, expected, ids = history
    with LabelStore.open(project, readonly=True) as store:
        rows = store.audit_trail()
        assert [(h.person, h.reason) for h in store.history(limit=1)] == [("carol", "agree: fibrous stroma")]
    assert _plain(rows) == expected
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len({r.id for r in rows}) == len(rows)
    assert all(r.time.endswith("Z") and len(r.time) == len("2026-01-01T00:00:00.000Z") for r in rows)
    assert [r.time for r in rows] == sorted(r.time for r in rows)
    undo, revert_1, revert_2 = rows[31], rows[-3], rows[-2]
    assert (undo.undoes, revert_1.undoes, revert_2.undoes) == (ids["label_a"], ids["relabel_1"], ids["relabel_2"])
    assert all(r.undoes is None for r in rows if r.action not in ("undo", "revert"))


def test_cli_exports_csv_and_jsonl_that_parse_back_to_the_same_rows(
        history: tuple[Path, list[tuple[object, ...]], dict[str, int]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    project, expected, _ = history
    out_csv, out_jsonl = tmp_path / "audit.csv", tmp_path / "audit.jsonl"
    assert main(["labels", "history", str(project), "--out", str(out_csv)]) == 0
    assert capsys.readouterr().err.strip() == f"{len(expected)} changes written to {out_csv}"
    assert main(["labels", "history", str(project), "--out", str(out_jsonl)]) == 0
    capsys.readouterr()
    with LabelStore.open(project, readonly=True) as store:
        trail = store.audit_trail()
    assert read_audit(out_csv) == trail == read_audit(out_jsonl)
    with out_csv.open(newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == FIELDS == ("id", "time", "person", "action", "source", "image", "row", "col",
                                         "before", "after", "locked", "round", "reason", "undoes")
    assert table[-1][2:5] == ["carol", "label", "review"] and table[-1][8:13] == ["malignant", "benign", "0", "1",
                                                                                   "agree: fibrous stroma"]
    assert table[1][8] == "" and table[1][13] == ""  # an import has no before; nothing undone
    lines = out_jsonl.read_text(encoding="utf-8").splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert len(lines) == len(expected) and first["before"] is None and first["locked"] is False
    assert (last["person"], last["round"], last["undoes"]) == ("carol", 1, None)
    assert main(["labels", "history", str(project), "--out", "-", "--format", "jsonl"]) == 0
    streamed = capsys.readouterr().out.splitlines()
    assert [json.loads(s) for s in streamed] == [json.loads(s) for s in lines]


def test_bad_history_requests_are_one_line_with_exit_2(
        history: tuple[Path, list[tuple[object, ...]], dict[str, int]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    project, expected, _ = history
    missing = tmp_path / "none.bcv"
    assert main(["labels", "history", str(missing), "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bcviewer labels: ") and "does not exist" in err[0]
    assert not (tmp_path / "a.csv").exists()
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("id,time\n1,yesterday\n")
    assert main(["labels", "history", str(project), "--out", str(earlier)]) == 2
    assert capsys.readouterr().err.strip() == (f"bcviewer labels: --out {earlier} already exists; give another "
                                               "name, or add --force to replace it")
    assert earlier.read_text() == "id,time\n1,yesterday\n"
    assert main(["labels", "history", str(project), "--out", str(earlier), "--force"]) == 0
    capsys.readouterr()
    assert len(read_audit(earlier)) == len(expected)
    assert main(["labels", "history", str(project), "--out", str(tmp_path / "audit.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name it .csv or .jsonl, or give --format csv|jsonl" in err[0]
    assert main(["labels", "history", str(project), "--out", str(project), "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    with LabelStore.open(project, readonly=True) as store:
        assert len(store.audit_trail()) == len(expected)  # the project was not replaced
    with pytest.raises(SystemExit) as stop:
        main(["labels", "import", str(project), str(missing), "--annotator", "  "])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "argument --annotator: needs a name (leave the option out to record the OS user)")


def test_a_schema_2_project_migrates_and_keeps_its_history_without_a_person(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "v2.bcv"
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    assert migrate(conn, target=2) == 2
    assert "person" not in [c[1] for c in conn.execute("PRAGMA table_info(history)")]
    conn.execute("INSERT INTO images (path, sha256, patient, magnification, label, width, height)"
                 " VALUES ('/data/SOB_M_DC-14-13412-100-001.png', 'abc', '14-13412', 100, 'malignant', 700, 460)")
    for k in range(9):
        conn.execute("INSERT INTO subimages (image_id, row, col, x, y, w, h, label, source)"
                     " VALUES (1, ?, ?, 0, 0, 10, 10, 'malignant', 'inherited')", (k // 3, k % 3))
        conn.execute("INSERT INTO history (subimage_id, action, new_label, new_source, new_locked, time, reason, batch)"
                     " VALUES (?, 'import', 'malignant', 'inherited', 0, '2024-01-01T00:00:00', ?, 1)", (k + 1, IMPORTED))
    conn.execute("UPDATE subimages SET label = 'benign', source = 'human' WHERE id = 3")
    conn.execute("INSERT INTO history (subimage_id, action, old_label, new_label, old_source, new_source, old_locked,"
                 " new_locked, time, reason, batch) VALUES (3, 'label', 'malignant', 'benign', 'inherited', 'human',"
                 " 0, 0, '2024-01-02T10:30:00.250+00:00', 'fat', 2)")
    conn.close()
    with LabelStore.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        store.annotator = "erin"
        store.set_label([5], "benign", "after the upgrade")
        rows = store.audit_trail()
        assert store.integrity_check() == "ok"
    assert [(r.id, r.person, r.action, r.time, r.reason) for r in rows[8:]] == [
        (9, "", "import", "2024-01-01T00:00:00.000Z", IMPORTED),
        (10, "", "label", "2024-01-02T10:30:00.250Z", "fat"),
        (11, "erin", "label", rows[10].time, "after the upgrade")]
    assert all(r.person == "" for r in rows[:10]) and (rows[9].row, rows[9].col) == (0, 2)
    out = tmp_path / "old.csv"
    assert main(["labels", "history", str(path), "--out", str(out)]) == 0
    assert capsys.readouterr().err.strip() == f"11 changes written to {out} (10 without a recorded person)"
    assert read_audit(out) == rows
