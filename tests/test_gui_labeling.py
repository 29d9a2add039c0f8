"""The labeling panel: keys write through the store, proposals, refusals, filters, self-learning worker.

Projects are built in tmp_path from the four BreakHis fixtures (2 benign, 2 malignant) and get
review proposals from a fixed table of probabilities (a review round at tau 0.4):

* DC (image 3): p = 0.05 0.15 0.25 0.35 | 0.45 0.55 0.65 | 0.75 0.95 -> proposals on sub-images 0-3;
* PC (image 4): p = 0.08 0.18 0.28 0.38 | 0.9 ... -> proposals on sub-images 0-3.

Every check of a write reads the project through a second connection, as another process would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import dialogs  # noqa: F401
from labels_helpers import TableScorer, fixture_project
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMainWindow
from test_labels_selflearn import constructed_table

from bcviewer.gui.labeling import LabelingPanel, SelfLearnRequest, SelfLearnWorker
from bcviewer.labels import LabelStore, SelfLearningEngine, SubImageRef, TauSchedule

BA_ID, BF_ID, DC_ID, PC_ID = 1, 2, 3, 4


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


@pytest.fixture()
def project(tmp_path: Path, test_data: Path) -> Path:
    path = tmp_path / "project.bcv"
    with fixture_project(path, test_data / "breakhis") as store:
        SelfLearningEngine(store, scorer=TableScorer(constructed_table()), mode="review",
                           schedule=TauSchedule((0.4,))).run_round()
    return path


@pytest.fixture()
def reader(project: Path) -> Iterator[LabelStore]:
    """A second connection to the project, as another process would have."""
    with LabelStore.open(project) as store:
        yield store


def make_panel(qtbot, project: Path | None, worker: SelfLearnWorker | None = None) -> LabelingPanel:  # type: ignore[no-untyped-def]
    panel = LabelingPanel(project, worker=worker, poll_ms=50)
    window = QMainWindow()
    window.setCentralWidget(panel)
    panel.test_window = window  # type: ignore[attr-defined]  # qtbot holds widgets weakly
    window.resize(1400, 900)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(window.isActiveWindow)  # the labeling keys are shortcuts of the focused window
    if project is not None:
        qtbot.waitUntil(lambda: panel.browser.model.rowCount() == 4 and bool(panel.grid.rows))
        settle(qtbot, panel)
    return panel


def settle(qtbot, panel: LabelingPanel) -> None:  # type: ignore[no-untyped-def]
    """Wait for the reads the panel runs on workers (the list, the project counts) to land."""
    qtbot.waitUntil(lambda: not panel.overview.busy and not panel.project_counts.busy, timeout=10_000)


@pytest.fixture()
def panel(qtbot, project: Path, dialogs: list[tuple[str, str]]) -> Iterator[LabelingPanel]:  # type: ignore[no-untyped-def]
    before = _threads()
    p = make_panel(qtbot, project)
    yield p
    assert p.shutdown(30_000), "a worker thread did not finish"
    assert p.jobs._pool.activeThreadCount() == 0 and p.worker._pool.activeThreadCount() == 0
    assert [t.name for t in _threads() - before if t.is_alive()] == []


def show(qtbot, panel: LabelingPanel, image_id: int) -> None:  # type: ignore[no-untyped-def]
    assert panel.browser.select_image(image_id)
    assert panel.image is not None and panel.image.id == image_id
    panel.grid.setFocus()
    qtbot.waitUntil(panel.grid.hasFocus)


def key(panel: LabelingPanel, k: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(panel.grid, k, mods)


def cell(panel: LabelingPanel, row: int, col: int) -> int:
    return next(s.id for s in panel.grid.rows if (s.row, s.col) == (row, col))


def test_keys_label_the_selection_and_write_through(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    show(qtbot, panel, DC_ID)
    assert panel.grid.current_row().row == 0 and panel.grid.current_row().col == 0
    key(panel, Qt.Key.Key_Right)
    key(panel, Qt.Key.Key_Down)
    assert (panel.grid.current_row().row, panel.grid.current_row().col) == (1, 1)
    assert panel.grid.selected_ids() == [cell(panel, 1, 1)]
    assert panel.ui.counts.value("benign") == "18" and panel.ui.counts.value("benign", "Image") == "0"

    key(panel, Qt.Key.Key_B)
    settle(qtbot, panel)
    sub = reader.subimage(cell(panel, 1, 1))
    assert (sub.label, sub.source, sub.round) == ("benign", "human", 0)
    top = reader.history(sub.id)[0]
    assert (top.action, top.old_label, top.new_label, top.old_source, top.new_source) == (
        "label", "malignant", "benign", "inherited", "human")
    assert panel.ui.counts.value("benign") == "19" and panel.ui.counts.value("human", "Image") == "1"
    row = panel.browser.model.entry(panel.browser.model.row_of(DC_ID))
    assert (row.row.n_benign, row.row.n_malignant, row.row.n_human) == (1, 8, 1)
    assert panel.details.history.rowCount() == 2 and panel.details.history.item(0, 1).text() == "labelled"

    key(panel, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # extend to (1, 2)
    key(panel, Qt.Key.Key_M)
    settle(qtbot, panel)
    assert [(s.label, s.source) for s in (reader.subimage(cell(panel, 1, 1)), reader.subimage(cell(panel, 1, 2)))] \
        == [("malignant", "human"), ("malignant", "human")]
    assert reader.undo_description() == "label malignant on 2 sub-images"
    assert panel.ui.counts.value("benign") == "18"


def test_keys_act_from_the_image_list_but_not_in_text_fields(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    show(qtbot, panel, BF_ID)
    target = panel.grid.selected_ids()[0]
    table = panel.browser.table
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    QTest.keyClick(table, Qt.Key.Key_M)
    assert (reader.subimage(target).label, reader.subimage(target).source) == ("malignant", "human")
    QTest.keyClick(table, Qt.Key.Key_PageDown)
    assert panel.image.id == DC_ID
    tau = panel.ui.selflearn.tau
    tau.setFocus()
    qtbot.waitUntil(tau.hasFocus)
    QTest.keyClick(tau, Qt.Key.Key_Space)
    QTest.keyClick(tau, Qt.Key.Key_X)
    assert tau.text().endswith(" x") and len(reader.proposals()) == 8
    pending = panel.browser.pending
    pending.setFocus()
    qtbot.waitUntil(pending.hasFocus)
    QTest.keyClick(pending, Qt.Key.Key_Space)  # toggles the check box; accepts nothing
    assert pending.isChecked() and len(reader.proposals()) == 8
    assert reader.undo_description() == "label malignant on 1 sub-image"


def test_keys_win_over_the_host_windows_shortcuts(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    window = panel.window()
    fired: list[str] = []
    for text in ("M", "Space", "Ctrl+Z"):  # the viewer's M toggles its minimap
        action = QAction(text, window)
        action.setShortcut(QKeySequence(text))
        action.triggered.connect(lambda _=False, t=text: fired.append(t))
        window.addAction(action)
    show(qtbot, panel, BF_ID)
    target = panel.grid.selected_ids()[0]
    key(panel, Qt.Key.Key_M)
    key(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert fired == [] and reader.history(target)[0].action == "undo"
    pending = panel.browser.pending
    pending.setFocus()
    qtbot.waitUntil(pending.hasFocus)
    QTest.keyClick(pending, Qt.Key.Key_M)  # outside the grid and the list the window's key works
    assert fired == ["M"] and len(reader.history(target)) == 3


def test_lock_then_label_is_refused_with_a_message(qtbot, panel: LabelingPanel, reader: LabelStore,
                                                   dialogs: list[tuple[str, str]]) -> None:
    show(qtbot, panel, BA_ID)
    target = cell(panel, 0, 0)
    key(panel, Qt.Key.Key_L)
    assert reader.subimage(target).locked and panel.grid.current_row().locked
    history = len(reader.history(target))
    key(panel, Qt.Key.Key_M)
    assert dialogs == [("Label not changed",
                        "1 of the selected sub-images are locked; unlock them before changing their label")]
    sub = reader.subimage(target)
    assert (sub.label, sub.source, sub.locked) == ("benign", "inherited", True)
    assert len(reader.history(target)) == history
    key(panel, Qt.Key.Key_L)  # every selected one is locked: L unlocks
    assert not reader.subimage(target).locked


def test_ctrl_z_undoes_the_last_action(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    show(qtbot, panel, PC_ID)
    assert not panel.action_set.undo.isEnabled() and not panel.undo()  # the proposals are not a person's action
    assert panel.ui.status.text() == "Nothing to undo."
    target = cell(panel, 2, 2)
    panel.grid.select_ids([target])
    key(panel, Qt.Key.Key_B)
    assert panel.action_set.undo.text() == "&Undo label benign on 1 sub-image"
    show(qtbot, panel, BA_ID)  # undo brings the image back
    key(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.image.id == PC_ID and panel.grid.selected_ids() == [target]
    sub = reader.subimage(target)
    assert (sub.label, sub.source) == ("malignant", "inherited")
    assert reader.history(target)[0].action == "undo" and reader.undo_description() is None
    assert panel.ui.status.text() == "Undid label benign on 1 sub-image." and not panel.action_set.undo.isEnabled()


def test_space_accepts_and_x_rejects_a_proposal(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    show(qtbot, panel, DC_ID)
    first, second = cell(panel, 0, 0), cell(panel, 0, 1)
    assert panel.grid.rows[0].proposed_label == "benign" and panel.ui.counts.value("pending") == "8"
    key(panel, Qt.Key.Key_Space)
    settle(qtbot, panel)
    assert (reader.subimage(first).label, reader.subimage(first).source) == ("benign", "human")
    assert [p.status for p in reader.proposals(None) if p.subimage_id == first] == ["accepted"]
    assert panel.grid.rows[0].proposed_label is None and panel.ui.counts.value("pending") == "7"
    key(panel, Qt.Key.Key_Right)
    key(panel, Qt.Key.Key_X)
    settle(qtbot, panel)
    assert (reader.subimage(second).label, reader.subimage(second).source) == ("malignant", "human")
    assert [p.status for p in reader.proposals(None) if p.subimage_id == second] == ["rejected"]
    assert panel.ui.counts.value("pending") == "6"
    assert panel.browser.model.entry(panel.browser.model.row_of(DC_ID)).row.n_pending == 2
    key(panel, Qt.Key.Key_Down)  # (1, 1): no proposal there
    key(panel, Qt.Key.Key_Space)
    assert panel.ui.status.text() == "No pending proposal on the selected sub-image(s)."


def test_accept_refused_when_it_would_leave_no_malignant_sub_image(
        qtbot, panel: LabelingPanel, reader: LabelStore, dialogs: list[tuple[str, str]]) -> None:
    show(qtbot, panel, DC_ID)
    keep = [cell(panel, r, c) for r, c in ((1, 1), (1, 2), (2, 0), (2, 1), (2, 2))]
    reader.set_label(keep, "benign")  # another process: the panel notices and re-reads
    qtbot.waitUntil(lambda: sum(s.label == "malignant" for s in panel.grid.rows) == 4, timeout=5000)
    panel.grid.select_ids([cell(panel, 0, c) for c in range(3)] + [cell(panel, 1, 0)])
    key(panel, Qt.Key.Key_Space)
    assert dialogs == [("Proposal not accepted", "Not accepted, to keep every label sound:\n"
                        "1 proposal: it would leave the malignant image without a malignant sub-image")]
    left = reader.subimage(cell(panel, 1, 0))  # the least confident proposal (p 0.35) stays
    assert (left.label, left.proposal_id is not None) == ("malignant", True)
    assert sum(s.label == "malignant" for s in reader.subimages(DC_ID)) == 1


def test_bulk_accept_above_a_confidence(qtbot, panel: LabelingPanel, reader: LabelStore) -> None:
    assert panel.ui.review.pending.text() == "8 proposals pending, 2 at or above 0.90"
    panel.ui.review.confidence.setValue(0.8)
    settle(qtbot, panel)
    assert panel.ui.review.pending.text() == "8 proposals pending, 4 at or above 0.80"
    QTest.mouseClick(panel.ui.review.accept, Qt.MouseButton.LeftButton)
    settle(qtbot, panel)
    accepted = sorted(round(p.confidence, 2) for p in reader.proposals("accepted"))
    assert accepted == [0.82, 0.85, 0.92, 0.95]
    assert panel.ui.review.pending.text() == "4 proposals pending, 0 at or above 0.80"
    assert panel.ui.status.text() == "Accepted 4 proposals at or above 0.80."
    assert reader.undo_description() == "proposal decision on 4 sub-images"


def test_filters_and_orders_change_the_list(qtbot, panel: LabelingPanel) -> None:
    browser = panel.browser
    names = lambda: [panel.browser.model.entry(browser.model.row_of(i)).row.path.name[:8]  # noqa: E731
                     for i in browser.visible_image_ids()]
    assert browser.visible_image_ids() == [BA_ID, BF_ID, DC_ID, PC_ID]
    browser.set_filters(patient="14-13412")
    assert browser.visible_image_ids() == [DC_ID] and panel.image.id == DC_ID
    browser.set_filters(subtype="fibroadenoma")
    assert browser.visible_image_ids() == [BF_ID] and panel.image.id == BF_ID
    assert browser.shown.text() == "1 of 4 images"
    browser.set_filters(pending_only=True)
    assert browser.visible_image_ids() == [DC_ID, PC_ID]
    browser.set_filters(source="human")
    assert browser.visible_image_ids() == []
    browser.set_filters()
    show(qtbot, panel, BF_ID)
    key(panel, Qt.Key.Key_B)
    browser.set_filters(source="human")
    assert browser.visible_image_ids() == [BF_ID]
    browser.set_filters()
    browser.set_order("disagreement")  # DC 5, PC 4, BF 1, BA 0 sub-images against the model's call
    assert browser.visible_image_ids() == [DC_ID, PC_ID, BF_ID, BA_ID], names()
    assert [browser.proxy.entry(r).disagreement for r in range(4)] == [5, 4, 1, 0]
    browser.set_order("uncertainty")
    assert [round(browser.proxy.entry(r).uncertainty, 2) for r in range(4)] == [0.9, 0.76, 0.6, 0.2]
    browser.patient.setCurrentIndex(browser.patient.findData("14-12465"))  # as a user picks it
    assert browser.visible_image_ids() == [PC_ID]


class GateScorer:
    """Scores by the fixed table; its ``block_at``-th call waits until released (a long round)."""

    def __init__(self, block_at: int) -> None:
        self.block_at, self.calls = block_at, 0
        self.release = threading.Event()
        self.table = TableScorer(constructed_table())

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.block_at:
            assert self.release.wait(20), "the test never released the scorer"
        return self.table.score(items)


def test_selflearning_runs_in_a_worker_with_progress(qtbot, project: Path, reader: LabelStore,
                                                    dialogs: list[tuple[str, str]]) -> None:
    before = _threads()
    scorer = GateScorer(block_at=0)
    p = make_panel(qtbot, project, SelfLearnWorker(scorer_factory=lambda: scorer))
    try:
        show(qtbot, p, DC_ID)
        confirmed = cell(p, 0, 0)  # p = 0.05: the rounds would relabel it, but a person said malignant
        key(p, Qt.Key.Key_M)
        stages: list[tuple[str, int, int]] = []
        p.worker.progress.connect(lambda *args: stages.append(args))
        said: list[str] = []
        p.message.connect(said.append)
        p.ui.selflearn.mode.setCurrentIndex(p.ui.selflearn.mode.findData("auto"))
        p.ui.selflearn.rounds.setValue(2)
        p.ui.selflearn.tau.setText("0.2, 0.3")
        # the fixture's review round 1 still has pending proposals: no round may start before a person decides
        assert not p.ui.selflearn.run.isEnabled()
        assert p.ui.selflearn.state.text() == ("Round 1 has 8 proposals waiting for review: accept or reject them "
                                               "(Space accepts, X rejects, ]\u00a0goes to the next one), or revert "
                                               "round 1, before the next round.")
        reader.revert_round(reader.rounds()[0].id)  # another connection withdraws them: level 1 runs again
        qtbot.waitUntil(p.ui.selflearn.run.isEnabled)
        assert p.ui.selflearn.state.text() == "Next: round 1, τ = 0.2."
        with qtbot.waitSignal(p.worker.finished, timeout=20_000) as done:
            QTest.mouseClick(p.ui.selflearn.run, Qt.MouseButton.LeftButton)
            assert not p.ui.selflearn.run.isEnabled() and p.ui.selflearn.cancel.isEnabled()
        reports, cancelled = done.args
        assert not cancelled and [(r.number, r.tau, r.mode) for r in reports] == [(1, 0.2, "auto"), (2, 0.3, "auto")]
        assert stages == [(s, k, 2) for k in (1, 2) for s in ("score", "apply", "done")]
        # the first run holds out (and records) 20% of the patient groups: here DC's and BA's patients
        assert reader.heldout_patients() == frozenset({"14-13412", "14-22549AB"})
        # DC's mean p is 0.46 (called benign: wrong), BA's 0.1; 13 of 18 sub-images on the right side of 0.5
        assert [m for m in said if m.startswith("Self-learning")] == [
            "Self-learning round 1: 3 sub-images relabelled. Held-out patients: image accuracy 0.50 (2 images), "
            "sub-image accuracy 0.72.",
            "Self-learning round 2: 2 sub-images relabelled. Held-out patients: image accuracy 0.50 (2 images), "
            "sub-image accuracy 0.72.",
            "Self-learning: finished 2 rounds."]
        # DC: 0.15 and 0.25 are now benign by the model, 0.05 stays as the person set it; PC: 3 relabelled
        qtbot.waitUntil(lambda: p.browser.model.entry(p.browser.model.row_of(DC_ID)).row.n_benign == 2)
        assert (reader.subimage(confirmed).label, reader.subimage(confirmed).source) == ("malignant", "human")
        settle(qtbot, p)
        assert p.ui.counts.value("model") == str(reader.counts().model) == "5"
        assert [s.label for s in p.grid.rows][:3] == ["malignant", "benign", "benign"]
        # the last round's note: 2 held-out images, 1 right (Wilson 0.09-0.91), flagged as too few
        assert p.ui.selflearn.state.text() == (
            "Finished 2 rounds. Round 2: held-out image accuracy 0.500 on 2 images (95% Wilson CI 0.09-0.91); "
            "warning: fewer than 30 held-out images, so one image moves the accuracy by 0.50 and the interval is "
            "wide (images of one patient are alike, so the truth is wider still); hold out more patients "
            "(--holdout with --resplit) before trusting it. Next: round 3, τ = 0.3.")
        assert p.ui.selflearn.run.isEnabled()
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)
    assert [t.name for t in _threads() - before if t.is_alive()] == []


def test_selflearning_can_be_cancelled_and_the_panel_stays_usable(qtbot, project: Path, reader: LabelStore,
                                                                  dialogs: list[tuple[str, str]]) -> None:
    before = _threads()
    scorer = GateScorer(block_at=2)
    reader.revert_round(reader.rounds()[0].id)  # the fixture's pending proposals would block a new round
    p = make_panel(qtbot, project, SelfLearnWorker(scorer_factory=lambda: scorer))
    try:
        with qtbot.waitSignal(p.worker.progress, timeout=20_000, check_params_cb=lambda *a: a == ("score", 2, 3)):
            assert p.run_selflearning(SelfLearnRequest(rounds=3, mode="auto", schedule=TauSchedule((0.4,))))
        assert not p.run_selflearning(SelfLearnRequest()) and p.ui.status.text() == "A self-learning run is already going."
        # round 2 is scoring: the panel still labels, and the write commits at once
        show(qtbot, p, BA_ID)
        key(p, Qt.Key.Key_M)
        assert (reader.subimage(p.grid.selected_ids()[0]).label, reader.subimage(p.grid.selected_ids()[0]).source) \
            == ("malignant", "human")
        QTest.mouseClick(p.ui.selflearn.cancel, Qt.MouseButton.LeftButton)
        assert p.ui.selflearn.state.text() == "Cancelling after the current step…"
        with qtbot.waitSignal(p.worker.finished, timeout=20_000) as done:
            scorer.release.set()
        reports, cancelled = done.args
        assert cancelled and [r.number for r in reports] == [1]
        assert [(r.number, r.status) for r in reader.rounds()] == [(1, "reverted"), (1, "done"), (2, "interrupted")]
        assert scorer.calls == 2 and p.ui.selflearn.state.text().startswith("Cancelled; 1 round completed before.")
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)
    assert [t.name for t in _threads() - before if t.is_alive()] == []


def test_new_project_import_by_dialog_and_bad_files(qtbot, tmp_path: Path, test_data: Path,
                                                    dialogs: list[tuple[str, str]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = _threads()
    p = make_panel(qtbot, None)
    try:
        assert not p.action_set.label_benign.isEnabled() and not p.action_set.import_folder.isEnabled()
        bogus = tmp_path / "notes.bcv"
        bogus.write_text("not a database")
        assert not p.open_project(bogus)
        assert dialogs[0][0] == "Cannot open the labeling project" and "not a bcviewer project" in dialogs[0][1]
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "fresh"), ""))
        p.action_set.new_project.trigger()
        assert p.project == tmp_path / "fresh.bcv" and p.action_set.import_folder.isEnabled()
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(test_data / "breakhis"))
        p.action_set.import_folder.trigger()
        qtbot.waitUntil(lambda: p.browser.model.rowCount() == 4 and bool(p.grid.rows), timeout=20_000)
        qtbot.waitUntil(lambda: p.ui.status.text() == "Imported 4 images.", timeout=20_000)
        settle(qtbot, p)
        assert p.ui.counts.value("benign") == "18" and p.ui.counts.value("malignant") == "18"
        qtbot.waitUntil(lambda: all(p.grid.has_thumbnail(s.id) for s in p.grid.rows), timeout=10_000)
        assert len(dialogs) == 1
    finally:
        assert p.shutdown(30_000)
    assert [t.name for t in _threads() - before if t.is_alive()] == []


class WrongLengthScorer:
    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        return np.full(len(items) - 1, 0.5)


def test_a_failing_round_shows_its_message_and_keeps_the_labels(qtbot, project: Path, reader: LabelStore,
                                                                dialogs: list[tuple[str, str]]) -> None:
    reader.revert_round(reader.rounds()[0].id)
    p = make_panel(qtbot, project, SelfLearnWorker(scorer_factory=WrongLengthScorer))
    try:
        with qtbot.waitSignal(p.worker.failed, timeout=20_000):
            assert p.run_selflearning(SelfLearnRequest(rounds=2, mode="auto"))
        assert len(dialogs) == 1 and dialogs[0][0] == "Self-learning failed"
        assert "one probability in [0, 1] per sub-image (36)" in dialogs[0][1]
        assert p.ui.selflearn.state.text().startswith("Stopped by an error; completed rounds are kept.")
        assert p.ui.selflearn.run.isEnabled() and p.action_set.run_selflearning.isEnabled()
        assert [r.status for r in reader.rounds()] == ["reverted", "interrupted"] and reader.counts().malignant == 18
        p.ui.selflearn.tau.setText("0.1, 1.5")
        assert not p.run_selflearning() and dialogs[1] == (
            "Self-learning not started", "every tau must lie between 0 and 1, got [0.1, 1.5]")
    finally:
        assert p.shutdown(30_000)
