"""Self-learning rounds in the labeling panel: tau follows the project, review runs one round and
waits, and a round is reverted from the rounds view.

The project is the four BreakHis fixtures with the fixed probability table of
``test_gui_labeling`` (DC: 0.05 0.15 0.25 0.35 0.45 ..., PC: 0.08 0.18 0.28 0.38 0.9 ...); its
fixture review round 1 is reverted first where a test needs a clean slate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from test_gui_labeling import DC_ID, PC_ID, cell, key, make_panel, project, reader, settle, show  # noqa: F401
from test_labels_selflearn import constructed_table
from labels_helpers import TableScorer

from bcviewer.gui.labeling import LabelingPanel, SelfLearnRequest, SelfLearnWorker
from bcviewer.labels import LabelStore, TauSchedule


def _panel(qtbot, project: Path) -> LabelingPanel:  # type: ignore[no-untyped-def]
    return make_panel(qtbot, project, SelfLearnWorker(scorer_factory=lambda: TableScorer(constructed_table())))


def _run(qtbot, p: LabelingPanel, request: SelfLearnRequest | None = None) -> list:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(p.worker.finished, timeout=20_000) as done:
        if request is None:
            QTest.mouseClick(p.ui.selflearn.run, Qt.MouseButton.LeftButton)
        else:
            assert p.run_selflearning(request)
    settle(qtbot, p)
    return done.args[0]


def test_tau_advances_across_runs_and_the_rounds_view_plots_each(qtbot, project: Path, reader: LabelStore,
                                                                  dialogs: list[tuple[str, str]]) -> None:
    reader.revert_round(reader.rounds()[0].id)
    p = _panel(qtbot, project)
    try:
        box = p.ui.selflearn
        box.mode.setCurrentIndex(box.mode.findData("auto"))
        assert box.rounds.value() == 1 and box.tau.text() == "0.1,0.2,0.3,0.4"
        # three clicks on Run, one round each: the levels 1, 2, 3 of the schedule, not 0.1 three times
        taus = []
        for level in (1, 2, 3):
            qtbot.waitUntil(lambda level=level: box.state.text().endswith(f"Next: round {level}, τ = {level / 10:g}."))
            taus += [(r.number, r.tau) for r in _run(qtbot, p)]
        assert taus == [(1, 0.1), (2, 0.2), (3, 0.3)]
        assert [(r.number, r.tau, r.status) for r in reader.rounds()] == [
            (1, 0.4, "reverted"), (1, 0.1, "done"), (2, 0.2, "done"), (3, 0.3, "done")]
        view = p.ui.rounds
        qtbot.waitUntil(lambda: view.table.rowCount() == 4)
        # newest first; DC relabels 0.05 at 0.1, 0.15 at 0.2, 0.25 at 0.3; PC 0.08, 0.18, 0.28
        assert [[view.table.item(r, c).text() for c in range(5)] for r in range(4)] == [
            ["3", "0.3", "auto", "done", "2"], ["2", "0.2", "auto", "done", "2"],
            ["1", "0.1", "auto", "done", "2"], ["1", "0.4", "review", "reverted", "8"]]
        # the held-out patients are BA's and DC's: DC (mean p 0.46) is wrong in every round
        assert view.table.item(0, 7).text() == "0.500" and view.table.item(0, 7).toolTip() == "2 held-out images"
        xs, ys = view.curve.getData()
        assert list(xs) == [1, 2, 3] and list(ys) == [0.5, 0.5, 0.5]
        assert view.baseline.isVisible() and view.baseline.value() == 0.5
        assert view.note.text() == "Held-out accuracy 0.500 → 0.500 (+0.000 since round 1)."
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)


def test_review_runs_one_round_and_waits_for_a_person(qtbot, project: Path, reader: LabelStore,
                                                      dialogs: list[tuple[str, str]]) -> None:
    p = _panel(qtbot, project)
    try:
        box = p.ui.selflearn
        assert box.mode.currentData() == "review"
        assert not box.rounds.isEnabled() and box.rounds.value() == 1
        box.mode.setCurrentIndex(box.mode.findData("auto"))
        assert box.rounds.isEnabled()
        box.rounds.setValue(3)
        box.mode.setCurrentIndex(box.mode.findData("review"))
        assert box.rounds.value() == 1 and box.request().rounds == 1
        assert box.tau.text() == "0.4"  # the schedule the fixture's round ran with, not the default
        box.tau.setText("0.1,0.2,0.3,0.4")  # the person types the default: it stays through the refreshes below
        # the fixture's review round has 8 pending proposals: Run is off and says why; asked anyway, it refuses
        waiting = ("Round 1 has 8 proposals waiting for review: accept or reject them (Space accepts, X rejects, "
                   "]\u00a0goes to the next one), or revert round 1, before the next round.")
        assert not box.run.isEnabled() and box.state.text() == waiting
        assert not p.run_selflearning(SelfLearnRequest(rounds=1, mode="auto"))
        assert dialogs == [("Self-learning not started", waiting)]
        assert not p.run_selflearning(SelfLearnRequest(rounds=3, mode="review"))
        assert dialogs[1] == ("Self-learning not started",
                              "A review run does one round and then waits for you to accept or reject its "
                              "proposals; run one round, decide, then run the next.")
        # the person decides: DC's four accepted, PC's four rejected
        show(qtbot, p, DC_ID)
        for row, col in ((0, 0), (0, 1), (0, 2), (1, 0)):
            p.grid.select_ids([cell(p, row, col)])
            key(p, Qt.Key.Key_Space)
        reader.reject_proposals([pr.id for pr in reader.proposals()])
        qtbot.waitUntil(box.run.isEnabled)
        assert box.state.text() == "Next: round 2, τ = 0.2."
        reports = _run(qtbot, p)
        # one round at level 2 (tau 0.2): DC 0.05 and 0.15 are a person's now, PC's 0.08 and 0.18 were
        # rejected by a person, so nothing is left under 0.2 to propose
        assert [(r.number, r.tau, r.mode, r.stats["proposed"]) for r in reports] == [(2, 0.2, "review", 0)]
        decided = reader.decisions_by_round()[reader.rounds()[0].id]
        assert decided == {"accepted": 4, "rejected": 4}
        qtbot.waitUntil(lambda: p.ui.rounds.table.rowCount() == 2)
        assert [p.ui.rounds.table.item(1, c).text() for c in range(7)] == ["1", "0.4", "review", "done", "8", "4", "4"]
        assert len(dialogs) == 2
    finally:
        assert p.shutdown(30_000)


def test_revert_a_round_from_the_panel_keeps_what_a_person_set(qtbot, project: Path, reader: LabelStore,
                                                                dialogs: list[tuple[str, str]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    reader.revert_round(reader.rounds()[0].id)
    p = _panel(qtbot, project)
    try:
        reports = _run(qtbot, p, SelfLearnRequest(rounds=1, mode="auto", schedule=TauSchedule((0.3,))))
        assert reports[0].stats["relabelled"] == 6  # DC: 0.05 0.15 0.25; PC: 0.08 0.18 0.28
        show(qtbot, p, PC_ID)
        touched = cell(p, 0, 0)
        key(p, Qt.Key.Key_B)  # a person confirms one of the model's relabels
        settle(qtbot, p)
        view = p.ui.rounds
        qtbot.waitUntil(lambda: view.table.rowCount() == 2)
        view.table.selectRow(0)
        assert view.selected_round().number == 1 and view.revert.isEnabled()
        asked: list[str] = []
        monkeypatch.setattr(QMessageBox, "question",
                            lambda parent, title, text, *a: (asked.append(title), QMessageBox.StandardButton.No)[1])
        QTest.mouseClick(view.revert, Qt.MouseButton.LeftButton)
        assert asked == ["Revert round 1?"] and reader.counts().model == 5  # No: nothing changed
        monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
        QTest.mouseClick(view.revert, Qt.MouseButton.LeftButton)
        assert p.ui.status.text() == "Reverted round 1: 5 sub-images back to their earlier labels."
        counts = reader.counts()
        assert (counts.model, counts.human, counts.benign, counts.malignant) == (0, 1, 19, 17)
        assert (reader.subimage(touched).label, reader.subimage(touched).source) == ("benign", "human")
        reverts = [h for h in reader.history() if h.action == "revert"]
        assert len(reverts) == 5 and all(h.new_label == "malignant" and h.new_source == "inherited" for h in reverts)
        assert [(r.number, r.status) for r in reader.rounds()] == [(1, "reverted"), (1, "reverted")]
        qtbot.waitUntil(lambda: view.table.item(0, 3).text() == "reverted")
        view.table.selectRow(0)
        assert not view.revert.isEnabled()
        # the box keeps the schedule of the project's last run (0.3), which a revert does not change
        assert p.ui.selflearn.tau.text() == "0.3"
        assert p.ui.selflearn.state.text().endswith("Next: round 1, τ = 0.3.")
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)


class CountingTrainer:
    """Fits nothing: records what each fit saw and scores by the fixed table."""

    def __init__(self) -> None:
        self.fits: list[int] = []

    def fit(self, examples, round_number: int) -> TableScorer:  # type: ignore[no-untyped-def]
        self.fits.append(len(examples))
        return TableScorer(constructed_table())


def test_panel_options_reach_the_run(qtbot, project: Path, reader: LabelStore,
                                     dialogs: list[tuple[str, str]]) -> None:
    reader.revert_round(reader.rounds()[0].id)
    trainer = CountingTrainer()
    p = make_panel(qtbot, project, SelfLearnWorker(trainer_factory=lambda: trainer))
    try:
        box = p.ui.selflearn
        assert [box.trainer.itemData(i) for i in range(box.trainer.count())] == ["probe", "lite", "hybrid"]
        assert box.trainer.currentData() == "probe"
        assert box.holdout.isEnabled() and box.heldout_note.text() == "Chosen at the first run from 4 patients."
        box.mode.setCurrentIndex(box.mode.findData("auto"))
        box.holdout.setValue(0.5)
        box.crossfit.setCurrentIndex(box.crossfit.findData(2))
        request = box.request()
        assert (request.trainer, request.holdout, request.crossfit, request.rounds) == ("probe", 0.5, 2, 1)
        _run(qtbot, p)
        # half of the four patients held out; two cross-fitted models, each fitted on one of the two others
        assert len(reader.heldout_patients()) == 2 and trainer.fits == [9, 9]
        assert reader.rounds()[-1].params["crossfit_folds"] == 2
        qtbot.waitUntil(lambda: box.heldout_note.text() == "2 of 4 patients held out (kept from the first run).")
        assert not box.holdout.isEnabled()
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)
