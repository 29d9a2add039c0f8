"""Label store: import, settings, migrations from schema 1, edits, undo, audit trail, proposals."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from labels_helpers import TableScorer, fixture_project

from bcviewer.labels import (
    SCHEMA_VERSION,
    ImportSourceError,
    LabelStore,
    LockedSubImageError,
    ProjectFileError,
    SelfLearningEngine,
    TauSchedule,
    UnknownItemError,
)
from bcviewer.checksums import sha256_of
from bcviewer.labels.importer import import_images
from bcviewer.labels.schema import MIGRATIONS, configure, migrate

DC = "SOB_M_DC-14-13412-100-001.png"
PC = "SOB_M_PC-14-12465-100-001.png"


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> LabelStore:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def _image(store: LabelStore, name: str):
    return next(i for i in store.images() if i.path.name == name)


def test_import_records_files_grids_and_inherited_labels(store: LabelStore, test_data: Path) -> None:
    images = store.images()
    assert [i.path.name for i in images] == sorted(p.name for p in (test_data / "breakhis").glob("*.png"))
    pc = _image(store, PC)
    assert (pc.patient, pc.magnification, pc.label, pc.subtype) == ("14-12465", 100, "malignant", "papillary_carcinoma")
    assert (pc.width, pc.height) == (700, 456)  # a BreakHis image 4 px shorter than the others
    assert pc.sha256 == sha256_of(test_data / "breakhis" / PC)
    subs = store.subimages(pc.id)
    assert [(s.row, s.col) for s in subs] == [(r, c) for r in range(3) for c in range(3)]
    assert [(s.x, s.w) for s in subs[:3]] == [(0, 233), (233, 233), (466, 234)]
    assert [(s.y, s.h) for s in subs[::3]] == [(0, 152), (152, 152), (304, 152)]
    assert all(s.label == "malignant" and s.source == "inherited" and not s.locked and s.round == 0 for s in subs)
    assert store.counts().benign == 18 and store.counts().malignant == 18
    assert store.count_table() == {"100": {"benign": 18, "malignant": 18}, "all": {"benign": 18, "malignant": 18}}
    first = store.history(subs[0].id)
    assert [(h.action, h.old_label, h.new_label, h.new_source) for h in first] == [
        ("import", None, "malignant", "inherited")]


def test_connection_settings(store: LabelStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.integrity_check() == "ok"


def test_import_again_skips_present_images_and_copies(store: LabelStore, tmp_path: Path, test_data: Path) -> None:
    copy_dir = tmp_path / "copies"
    copy_dir.mkdir()
    shutil.copyfile(test_data / "breakhis" / DC, copy_dir / "SOB_M_DC-14-13412-100-002.png")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two images\n{test_data / 'breakhis' / DC}\ncopies/SOB_M_DC-14-13412-100-002.png\n")
    report = import_images(store, [listing])
    assert report.added == [] and [p.name for p in report.already_present] == [DC]
    assert [(a.name, b.name) for a, b in report.duplicates] == [("SOB_M_DC-14-13412-100-002.png", DC)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,label\ncopies/SOB_M_DC-14-13412-100-002.png,malignant\n")
    assert len(import_images(store, [manifest]).duplicates) == 1
    with pytest.raises(ImportSourceError, match="does not exist"):
        import_images(store, [tmp_path / "missing"])
    (tmp_path / "bad.csv").write_text("name\nx.png\n")
    with pytest.raises(ImportSourceError, match="'file' or 'path' column"):
        import_images(store, [tmp_path / "bad.csv"])


def test_open_refuses_what_is_not_a_project(tmp_path: Path, test_data: Path) -> None:
    with pytest.raises(ProjectFileError, match="does not exist"):
        LabelStore.open(tmp_path / "nope.bcv")
    with pytest.raises(ProjectFileError, match="not a bcviewer project"):
        LabelStore.open(test_data / "breakhis" / DC)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ProjectFileError, match="not a bcviewer project"):
        LabelStore.open(other)
    newer = tmp_path / "newer.bcv"
    LabelStore.create(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProjectFileError, match="newer bcviewer"):
        LabelStore.open(newer)


def test_migration_from_schema_1_keeps_data_and_adds_review(tmp_path: Path, test_data: Path) -> None:
    path = tmp_path / "v1.bcv"
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO images (path, sha256, patient, magnification, label, width, height)"
                 " VALUES ('/data/SOB_M_DC-14-13412-100-001.png', 'abc', '14-13412', 100, 'malignant', 700, 460)")
    for k in range(9):
        conn.execute("INSERT INTO subimages (image_id, row, col, x, y, w, h, label, source)"
                     " VALUES (1, ?, ?, 0, 0, 10, 10, 'malignant', 'inherited')", (k // 3, k % 3))
        conn.execute("INSERT INTO history (subimage_id, action, new_label, new_source, new_locked, time)"
                     " VALUES (?, 'import', 'malignant', 'inherited', 0, '2024-01-01T00:00:00')", (k + 1,))
    conn.execute("UPDATE subimages SET label = 'benign', source = 'human' WHERE id = 3")
    conn.execute("INSERT INTO history (subimage_id, action, old_label, new_label, old_source, new_source,"
                 " old_locked, new_locked, time) VALUES (3, 'label', 'malignant', 'benign', 'inherited', 'human',"
                 " 0, 0, '2024-01-02T00:00:00')")
    conn.close()
    with LabelStore.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.counts().benign == 1 and store.counts().malignant == 8
        image = store.images()[0]
        assert image.subtype is None and image.n_benign == 1 and image.n_human == 1
        assert [h.batch for h in store.history()] == [h.id for h in store.history()]  # old rows: own batch
        assert store.undo_description() == "label benign on 1 sub-image"
        undone = store.undo()  # the human edit made under schema 1 can be undone after migration
        assert undone is not None and undone.subimage_ids == (3,)
        assert store.subimage(3).label == "malignant" and store.subimage(3).source == "inherited"
        assert store.proposals() == []
        assert store.integrity_check() == "ok"


def test_set_label_lock_undo_and_audit_trail(store: LabelStore) -> None:
    dc = _image(store, DC)
    a, b, c = (s.id for s in store.subimages(dc.id)[:3])
    assert store.undo() is None and store.undo_description() is None
    first = store.set_label([a, b], "benign", "stroma")
    assert len(first) == 2 and store.counts(image_id=dc.id).benign == 2
    assert store.set_label([a], "benign") == []  # already a human benign label: nothing to record
    confirm = store.set_label([c], "malignant", "confirmed tumour")
    assert len(confirm) == 1 and store.subimage(c).source == "human"
    store.set_locked([a])
    with pytest.raises(LockedSubImageError, match="unlock"):
        store.set_label([a, c], "malignant")
    assert store.subimage(c).label == "malignant"  # the refused batch changed nothing
    assert store.undo_description() == "lock on 1 sub-image"
    assert store.undo().action == "lock" and not store.subimage(a).locked
    assert store.undo().subimage_ids == (c,) and store.subimage(c).source == "inherited"
    undone = store.undo()
    assert sorted(undone.subimage_ids) == [a, b]
    assert all(store.subimage(i).label == "malignant" and store.subimage(i).source == "inherited" for i in (a, b))
    assert store.undo() is None
    trail = store.history(a)
    assert [h.action for h in trail] == ["undo", "undo", "lock", "label", "import"]
    assert trail[0].undoes == trail[3].id and trail[1].undoes == trail[2].id
    assert (trail[3].old_label, trail[3].new_label, trail[3].reason) == ("malignant", "benign", "stroma")
    with pytest.raises(UnknownItemError):
        store.set_label([99999], "benign")
    with pytest.raises(ValueError):
        store.set_label([a], "tumour")


def test_undo_survives_reopening(tmp_path: Path, store: LabelStore) -> None:
    sub = store.subimages(_image(store, DC).id)[4].id
    store.set_label([sub], "benign")
    store.close()
    with LabelStore.open(store.path) as again:
        assert again.undo_description() == "label benign on 1 sub-image"
        again.undo()
        assert again.subimage(sub).label == "malignant"


def test_image_filters_and_counts(store: LabelStore) -> None:
    dc = _image(store, DC)
    sub = store.subimages(dc.id)[0].id
    store.set_label([sub], "benign")
    store.set_locked([sub])
    assert [i.path.name for i in store.images(label="malignant")] == [DC, PC]
    assert [i.path.name for i in store.images(relabelled=True)] == [DC]
    assert len(store.images(relabelled=False)) == 3
    assert [i.patient for i in store.images(patient="14-12465")] == ["14-12465"]
    assert [i.path.name for i in store.images(search="_PC-")] == [PC]
    assert len(store.images(magnification=40)) == 0 and len(store.images(limit=2, offset=1)) == 2
    assert store.patients() == ["14-12465", "14-13412", "14-14134E", "14-22549AB"]
    assert store.magnifications() == [100]
    counts = store.counts(image_id=dc.id)
    assert (counts.benign, counts.malignant, counts.human, counts.locked, counts.inherited) == (1, 8, 1, 1, 8)
    assert store.counts(patients=["14-13412", "14-12465"]).total == 18


def test_review_proposals_accept_reject_bulk_and_undo(store: LabelStore) -> None:
    table = {(DC, 0, k): p for k, p in enumerate((0.02, 0.1, 0.3))} | {(PC, 1, 1): 0.05, (PC, 2, 2): 0.2}
    engine = SelfLearningEngine(store, scorer=TableScorer(table), schedule=TauSchedule((0.35,)), mode="review")
    report = engine.run_round()
    assert report.stats["proposed"] == 5 and report.stats["relabelled"] == 0
    assert store.counts().malignant == 18  # review mode changes no label
    pending = store.proposals()
    assert [round(p.confidence, 2) for p in pending] == [0.98, 0.95, 0.9, 0.8, 0.7]
    dc_subs = store.subimages(_image(store, DC).id)
    assert dc_subs[0].proposal_id is not None and dc_subs[0].proposed_label == "benign"
    assert dc_subs[0].p_malignant == pytest.approx(0.02)
    bulk = store.accept_proposals_above(0.9)
    assert len(bulk.applied) == 3 and store.counts().malignant == 15
    assert all(store.subimage(p.subimage_id).source == "human" for p in pending[:3])
    rest = store.proposals()
    rejected = store.reject_proposals([rest[0].id])
    assert rejected.applied == (rest[0].id,)
    sub = store.subimage(rest[0].subimage_id)
    assert (sub.label, sub.source) == ("malignant", "human")
    assert store.accept_proposals([rest[0].id]).skipped == {rest[0].id: "already rejected"}
    store.undo()  # the rejection
    assert store.proposals()[0].id == rest[0].id and store.subimage(rest[0].subimage_id).source == "inherited"
    store.undo()  # the bulk accept
    assert store.counts().malignant == 18 and len(store.proposals()) == 5


def test_accepting_never_leaves_a_malignant_image_unexplained(store: LabelStore) -> None:
    pc = _image(store, PC)
    table = {(PC, r, c): 0.01 for r in range(3) for c in range(3)}
    SelfLearningEngine(store, scorer=TableScorer(table, 0.99), schedule=TauSchedule((0.5,)), mode="review").run_round()
    proposals = store.proposals(image_id=pc.id)
    assert len(proposals) == 8  # the anchor is never proposed
    anchor = next(s for s in store.subimages(pc.id) if s.proposal_id is None)
    store.set_label([anchor.id], "benign", "the annotator disagrees with the anchor")
    result = store.accept_proposals([p.id for p in proposals])
    assert len(result.applied) == 7 and list(result.skipped.values()) == [
        "it would leave the malignant image without a malignant sub-image"]
    assert store.counts(image_id=pc.id).malignant == 1


def test_auto_round_revert_and_interrupted_rounds(store: LabelStore) -> None:
    table = {(DC, 0, 0): 0.05, (DC, 0, 1): 0.15, (PC, 0, 0): 0.1}
    engine = SelfLearningEngine(store, scorer=TableScorer(table), schedule=TauSchedule((0.2,)))
    first = engine.run_round()
    assert first.number == 1 and first.stats["relabelled"] == 3
    dc0 = store.subimages(_image(store, DC).id)[0]
    assert (dc0.label, dc0.source, dc0.round) == ("benign", "model", 1)
    assert store.history(dc0.id)[0].reason == "round 1: p_malignant 0.050 < tau 0.2"
    store.set_label([store.subimages(_image(store, PC).id)[0].id], "benign")  # human takes over one
    assert store.revert_round(first.round_id) == 2
    assert store.counts().malignant == 17 and store.rounds()[0].status == "reverted"
    assert store.subimage(dc0.id).round == 0
    round_id, number = store.start_round("auto", 0.2, {})
    assert number == 1  # the reverted level is run again
    again = engine.run_round()
    statuses = {r.id: r.status for r in store.rounds()}
    assert statuses[round_id] == "interrupted" and statuses[again.round_id] == "done"
