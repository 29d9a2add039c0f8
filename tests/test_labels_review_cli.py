"""``bcviewer labels review|accept|reject|revert|open`` on a real project of the BreakHis fixtures.

The project gets its proposals from a review round of the self-learning engine at tau 0.4 with a
fixed table of probabilities (``constructed_table``):

* DC (image 3): p = 0.05 0.15 0.25 0.35 on sub-images (1,1) (1,2) (1,3) (2,1) -> proposals 1-4;
* PC (image 4): p = 0.08 0.18 0.28 0.38 on the same cells -> proposals 5-8.

Each decision is checked against what the panel's calls (the same store methods) write on a twin
project, history row by history row, and through the queries the panel shows.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from labels_helpers import TableScorer, fixture_project
from test_labels_selflearn import DC, PC, constructed_table

from bcviewer.cli.labels_review import review_waiting_text
from bcviewer.cli.main import main
from bcviewer.labels import HistoryRow, LabelStore, SelfLearningEngine, TauSchedule

BA_ID, BF_ID, DC_ID, PC_ID = 1, 2, 3, 4


def _project(path: Path, test_data: Path, mode: str, tau: float) -> Path:
    with fixture_project(path, test_data / "breakhis") as store:
        SelfLearningEngine(store, scorer=TableScorer(constructed_table()), mode=mode,
                           schedule=TauSchedule((tau,))).run_round()
    return path


@pytest.fixture()
def project(tmp_path: Path, test_data: Path) -> Path:
    return _project(tmp_path / "p.bcv", test_data, "review", 0.4)


@pytest.fixture()
def twin(project: Path, tmp_path: Path) -> Path:
    """A copy of the project, for the panel's calls to decide the same way."""
    return Path(shutil.copy(project, tmp_path / "twin.bcv"))


def _trail(path: Path) -> list[tuple[Any, ...]]:
    """Every history row but its time, oldest first."""
    with LabelStore.open(path, readonly=True) as s:
        return [_row(h) for h in reversed(s.history())]


def _row(h: HistoryRow) -> tuple[Any, ...]:
    return (h.id, h.subimage_id, h.action, h.old_label, h.new_label, h.old_source, h.new_source, h.old_locked,
            h.new_locked, h.round, h.reason, h.batch, h.undoes, h.proposal_id)


def _state(path: Path) -> tuple[Any, ...]:
    """Labels, proposals, rounds and the history length: what a refused command must leave alone."""
    with LabelStore.open(path, readonly=True) as s:
        subs = [(r.id, r.label, r.source, r.locked, r.round) for i in (1, 2, 3, 4) for r in s.subimages(i)]
        return (subs, [(p.id, p.status) for p in s.proposals(None)], [(r.number, r.status) for r in s.rounds()],
                len(s.history()))


def _cell(store: LabelStore, image_id: int, row: int, col: int) -> int:
    return next(s.id for s in store.subimages(image_id) if (s.row, s.col) == (row, col))


def test_review_lists_the_pending_proposals_as_the_panel_shows_them(project: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "review", str(project)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["id", "image", "sub", "round", "label", "proposed", "p_malignant", "p_proposed"]
    rows = [line.split() for line in lines[1:]]
    assert rows == [
        ["1", DC, "1,1", "1", "malignant", "benign", "0.050", "0.950"],
        ["5", PC, "1,1", "1", "malignant", "benign", "0.080", "0.920"],
        ["2", DC, "1,2", "1", "malignant", "benign", "0.150", "0.850"],
        ["6", PC, "1,2", "1", "malignant", "benign", "0.180", "0.820"],
        ["3", DC, "1,3", "1", "malignant", "benign", "0.250", "0.750"],
        ["7", PC, "1,3", "1", "malignant", "benign", "0.280", "0.720"],
        ["4", DC, "2,1", "1", "malignant", "benign", "0.350", "0.650"],
        ["8", PC, "2,1", "1", "malignant", "benign", "0.380", "0.620"],
    ]
    assert err.startswith("8 proposals pending (round 1); sub: row,column from the top left")
    with LabelStore.open(project, readonly=True) as s:  # the grid's rows: the same proposal on the same cell
        grid = {(s.image(r.image_id).path.name, f"{r.row + 1},{r.col + 1}"): str(r.proposal_id)
                for i in (DC_ID, PC_ID) for r in s.subimages(i) if r.proposal_id is not None}
    assert grid == {(r[1], r[2]): r[0] for r in rows}


def test_accept_and_reject_write_what_the_panel_writes(project: Path, twin: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "accept", str(project), "1", "5"]) == 0
    assert capsys.readouterr().out == "accepted 2 proposals of round 1\n"
    assert main(["labels", "reject", str(project), "--image", PC]) == 0
    assert capsys.readouterr().out == "rejected 3 proposals of round 1\n"
    assert main(["labels", "accept", str(project), "--all", "--min-p", "0.8"]) == 0
    assert capsys.readouterr().out == "accepted 1 proposal of round 1\n"
    with LabelStore.open(twin) as s:  # the panel: Space on a selection, X on a selection, "Accept all ≥ 0.80"
        s.accept_proposals([1, 5])
        s.reject_proposals([6, 7, 8])
        s.accept_proposals_above(0.8)
    assert _trail(project) == _trail(twin)

    with LabelStore.open(project, readonly=True) as s:
        dc, pc = s.subimages(DC_ID), s.subimages(PC_ID)
        assert [(r.label, r.source, r.round) for r in dc[:4]] == [
            ("benign", "human", 1), ("benign", "human", 1), ("malignant", "inherited", 0),
            ("malignant", "inherited", 0)]
        assert [(r.label, r.source, r.round) for r in pc[:4]] == [
            ("benign", "human", 1), ("malignant", "human", 0), ("malignant", "human", 0), ("malignant", "human", 0)]
        assert [r.proposal_id for r in dc] == [None, None, 3, 4, None, None, None, None, None]
        top = s.history(dc[1].id)[0]
        assert (top.action, top.old_label, top.new_label, top.new_source, top.round, top.reason, top.proposal_id) == (
            "label", "malignant", "benign", "human", 1, "accepted round 1 proposal (p_malignant=0.150)", 2)
        top = s.history(pc[2].id)[0]
        assert (top.action, top.old_label, top.new_label, top.new_source, top.round, top.reason, top.proposal_id) == (
            "label", "malignant", "malignant", "human", 0, "rejected round 1 proposal (p_malignant=0.280)", 7)
        assert [(p.id, p.status) for p in sorted(s.proposals(None), key=lambda p: p.id)] == [
            (1, "accepted"), (2, "accepted"), (3, "pending"), (4, "pending"), (5, "accepted"), (6, "rejected"),
            (7, "rejected"), (8, "rejected")]
        assert s.counts().pending == 2 and s.pending_review() == (1, 2)
        assert s.undo_description() == "proposal decision on 1 sub-image"  # the panel's Ctrl+Z undoes it

    assert main(["labels", "accept", str(project), "--all"]) == 0
    assert capsys.readouterr().out == "accepted 2 proposals of round 1\n"
    with LabelStore.open(project) as s:
        assert s.pending_review() is None
        assert [r.label for r in s.subimages(DC_ID)] == ["benign"] * 4 + ["malignant"] * 5
        undone = s.undo()  # Ctrl+Z: the last command was one step
        assert undone is not None and sorted(undone.subimage_ids) == [_cell(s, DC_ID, 0, 2), _cell(s, DC_ID, 1, 0)]
        assert s.pending_review() == (1, 2)


def test_a_bulk_accept_keeps_the_rule_and_says_what_it_skipped(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with LabelStore.open(project) as s:  # leave DC with 4 malignant sub-images, each one with a proposal
        s.set_label([r.id for r in s.subimages(DC_ID)[4:]], "benign")
    assert main(["labels", "accept", str(project), "--image", DC]) == 0
    out, err = capsys.readouterr()
    assert out == "accepted 3 proposals of round 1\n"
    assert err == ("not accepted, to keep every label sound: 1 proposal: it would leave the malignant image "
                   "without a malignant sub-image\n")
    with LabelStore.open(project, readonly=True) as s:
        assert [(r.label, r.proposal_id) for r in s.subimages(DC_ID)[:4]] == [
            ("benign", None), ("benign", None), ("benign", None), ("malignant", 4)]  # the least confident stays
    before = _state(project)
    assert main(["labels", "accept", str(project), "4"]) == 2
    assert capsys.readouterr().err == ("bcviewer labels: nothing accepted, to keep every label sound: 1 proposal: "
                                       "it would leave the malignant image without a malignant sub-image\n")
    assert _state(project)[:3] == before[:3] and _state(project)[3] == before[3]


@pytest.mark.parametrize(("argv", "message"), [
    (["accept", "{p}", "99"], "proposal 99 is not in {p} (see 'bcviewer labels review {p}')"),
    (["reject", "{p}", "2", "99"], "proposal 99 is not in {p} (see 'bcviewer labels review {p}')"),
    (["accept", "{p}", "1"], "proposal 1 is already accepted"),
    (["accept", "{p}"], "say which proposals: proposal ids, --image IMAGE, or --all (see 'bcviewer labels review {p}')"),
    (["accept", "{p}", "2", "--all"], "choose the proposals one way: proposal ids, --image IMAGE, or --all"),
    (["accept", "{p}", "2", "--min-p", "0.5"], "--min-p goes with --all or --image, not with proposal ids"),
    (["reject", "{p}", "--image", "nothing.png"],
     "image nothing.png is not in p.bcv (give its file name, path or image id)"),
    (["reject", "{p}", "--image", "1"], "image 1 has no proposals waiting for review"),
    (["accept", "{p}", "--all", "--min-p", "0.99"], "no pending proposal reaches p_proposed 0.99 (the highest is 0.920)"),
    (["revert", "{p}", "7"], "round 7 is not in {p}; its rounds are 1"),
    (["review", "{p}.missing"], "the project {p}.missing does not exist; create it with 'bcviewer labels import'"),
    (["accept", "{p}.missing", "--all"],
     "the project {p}.missing does not exist; create it with 'bcviewer labels import'"),
    (["open", "{p}"], ("'labels open' starts the desktop viewer: run it as 'bcviewer labels open {p}' "
                       "(or 'python -m bcviewer labels open ...')")),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(argv: list[str], message: str, project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with LabelStore.open(project) as s:
        s.accept_proposals([1])
    before = _state(project)
    capsys.readouterr()
    assert main(["labels", *(a.format(p=project) for a in argv)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"bcviewer labels: {message.format(p=project)}\n"
    assert _state(project) == before


def test_revert_an_auto_round_as_the_rounds_view_does(tmp_path: Path, test_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path / "auto.bcv", test_data, "auto", 0.2)
    twin = Path(shutil.copy(project, tmp_path / "twin.bcv"))
    with LabelStore.open(project, readonly=True) as s:  # p < 0.2: DC 0.05 0.15 and PC 0.08 0.18
        moved = [_cell(s, i, 0, c) for i in (DC_ID, PC_ID) for c in (0, 1)]
        assert [(s.subimage(i).label, s.subimage(i).source) for i in moved] == [("benign", "model")] * 4
    assert main(["labels", "revert", str(project), "1"]) == 0
    assert capsys.readouterr().out == "reverted round 1: 4 sub-images back to their earlier labels, 0 pending " \
                                      "proposals withdrawn\n"
    with LabelStore.open(twin) as s:
        s.revert_round(s.rounds()[0].id)  # the rounds view's Revert
    assert _trail(project) == _trail(twin)
    with LabelStore.open(project, readonly=True) as s:
        assert [(s.subimage(i).label, s.subimage(i).source, s.subimage(i).round) for i in moved] == [
            ("malignant", "inherited", 0)] * 4
        top = s.history(moved[0])[0]
        assert (top.action, top.new_label, top.reason) == ("revert", "malignant", "round 1 reverted")
        assert [(r.number, r.status) for r in s.rounds()] == [(1, "reverted")]
    before = _state(project)
    assert main(["labels", "revert", str(project), "1"]) == 2
    assert capsys.readouterr().err == ("bcviewer labels: round 1 is reverted; only a completed round can be "
                                       "reverted\n")
    assert _state(project) == before


def test_revert_a_review_round_withdraws_its_proposals_and_frees_selflearn(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selflearn", str(project), "--quiet"]) == 2
    assert capsys.readouterr().err == f"bcviewer selflearn: {review_waiting_text((1, 8), str(project))}\n"
    assert review_waiting_text((1, 8), "my p.bcv") == (
        "round 1 has 8 proposals waiting for review: list them with 'bcviewer labels review 'my p.bcv'', then "
        "accept or reject them ('bcviewer labels accept 'my p.bcv' --all', 'bcviewer labels reject 'my p.bcv' "
        "ID...'), or revert round 1 ('bcviewer labels revert 'my p.bcv' 1'), before the next round")
    assert main(["labels", "accept", str(project), "1"]) == 0
    assert main(["labels", "revert", str(project), "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("reverted round 1: 0 sub-images back to their earlier "
                                                         "labels, 7 pending proposals withdrawn")
    with LabelStore.open(project, readonly=True) as s:
        assert s.pending_review() is None and s.next_round_number() == 1
        assert sorted((p.id, p.status) for p in s.proposals(None)) == [(1, "accepted")] + [
            (i, "superseded") for i in range(2, 9)]
        assert s.subimage(_cell(s, DC_ID, 0, 0)).label == "benign"  # a person's decision stays
    assert main(["labels", "accept", str(project), "--all"]) == 2
    assert capsys.readouterr().err == f"bcviewer labels: {project} has no proposals waiting for review\n"
    assert main(["labels", "review", str(project)]) == 0
    assert capsys.readouterr() == ("", f"no proposals are waiting for review in {project}\n")


def test_accept_and_revert_name_the_annotator_and_keep_the_reason(project: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "accept", str(project), "1", "--annotator", "Ada Lovelace", "--reason",
                 "checked at 400X"]) == 0
    capsys.readouterr()
    with LabelStore.open(project, readonly=True) as s:
        top = s.history(s.subimages(DC_ID)[0].id)[0]
        assert (top.action, top.new_label, top.person) == ("label", "benign", "Ada Lovelace")
        assert "checked at 400X" in top.reason
    assert main(["labels", "history", str(project), "--out", "-", "--format", "csv"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "Ada Lovelace" in line]
    assert len(rows) == 1 and "checked at 400X" in rows[0]
