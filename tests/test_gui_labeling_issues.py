"""The labeling panel's "Likely label errors": found on a worker, shown as an image-list filter in
rank order, cancellable. The project is the one of ``test_labels_issues`` (20 copies of the four
BreakHis fixtures, img08 and img20 given the wrong label on purpose), so the queue is those two."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMainWindow
from test_labels_issues import planted_project

from bcviewer.gui.labeling import LabelingPanel
from bcviewer.labels.probe_trainer import probe_trainer


@pytest.fixture()
def panel(qtbot, tmp_path: Path, test_data: Path):  # type: ignore[no-untyped-def]
    project, _ = planted_project(tmp_path / "data", test_data / "breakhis")
    p = LabelingPanel(project, poll_ms=50)
    p.issues.worker.trainer_factory = lambda: probe_trainer(cache_folder=tmp_path / "features")
    window = QMainWindow()
    window.setCentralWidget(p)
    p.test_window = window  # type: ignore[attr-defined]  # qtbot holds widgets weakly
    window.resize(1400, 900)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: p.browser.model.rowCount() == 20)
    yield p
    assert p.shutdown(30_000)


def test_the_filter_shows_the_planted_errors_first_and_says_why(qtbot, panel: LabelingPanel) -> None:  # type: ignore[no-untyped-def]
    box, browser = panel.ui.issues, panel.browser
    assert not browser.issues.isEnabled() and box.state.text() == "Not searched yet."
    steps: list[tuple[int, int]] = []
    panel.issues.worker.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(panel.issues.worker.finished, timeout=60_000):
        QTest.mouseClick(box.search, Qt.MouseButton.LeftButton)
        assert not box.search.isEnabled() and box.cancel.isEnabled()
    assert steps == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert browser.issues.isEnabled() and browser.issues.isChecked()
    assert browser.visible_image_ids() == [8, 20]  # rank order: self-confidence 0.019, then 0.022
    assert browser.shown.text() == "2 of 20 images"
    assert browser.current_image_id() == 8
    assert box.current.text() == ("<b>This image:</b> Likely label error #1: labelled malignant, looks benign "
                                  "(self-confidence 0.019)")
    assert box.state.text().startswith("2 likely label errors among 20 images of 7 persons")
    panel.grid.select_ids([panel.grid.rows[0].id])
    assert panel.label_selection("benign")  # a person fixes the first error: the list keeps its order
    with qtbot.waitSignal(panel.overview.ready, timeout=10_000):
        panel.reload()  # the whole list is read again (as after any change the poll notices)
    assert browser.visible_image_ids() == [8, 20] and browser.current_image_id() == 8
    # rank order, not file-name order (the planted ranks happen to agree with the names): a queue
    # that puts img20 first shows it first, also after the list is read again
    browser.set_issues({20: (1, "first"), 3: (2, "second"), 8: (3, "third")})
    assert browser.visible_image_ids() == [20, 3, 8]
    with qtbot.waitSignal(panel.overview.ready, timeout=10_000):
        panel.reload()
    assert browser.visible_image_ids() == [20, 3, 8]
    browser.issues.setChecked(False)
    assert len(browser.visible_image_ids()) == 20 and browser.visible_image_ids()[:2] == [1, 2]  # file-name order
    browser.select_image(4)  # not in the queue
    assert box.current.text() == ""
    panel.close_project()
    assert not browser.issues.isEnabled() and box.state.text() == "Not searched yet."


def test_cancel_leaves_the_list_as_it_was(qtbot, panel: LabelingPanel) -> None:  # type: ignore[no-untyped-def]
    box = panel.ui.issues
    cancelled = threading.Event()

    def trainer():  # type: ignore[no-untyped-def]
        assert cancelled.wait(10)  # the worker makes its trainer only after Cancel was pressed
        return probe_trainer()

    panel.issues.worker.trainer_factory = trainer
    with qtbot.waitSignal(panel.issues.worker.finished, timeout=30_000) as done:
        QTest.mouseClick(box.search, Qt.MouseButton.LeftButton)
        QTest.mouseClick(box.cancel, Qt.MouseButton.LeftButton)
        cancelled.set()
    assert done.args == [None]
    assert box.state.text() == "Cancelled; the list is unchanged."
    assert not panel.browser.issues.isEnabled() and len(panel.browser.visible_image_ids()) == 20
    assert box.search.isEnabled() and not box.cancel.isEnabled()


def test_the_status_line_says_why_a_review_round_proposed_nothing(tmp_path: Path, test_data: Path) -> None:
    from labels_helpers import TableScorer, fixture_project

    from bcviewer.gui.labeling.messages import notes_message, round_message
    from bcviewer.labels import SelfLearningEngine, TauSchedule

    with fixture_project(tmp_path / "p.bcv", test_data / "breakhis") as store:
        table = {("SOB_M_PC-14-12465-100-001.png", 1, 1): 0.27}  # every other sub-image 0.9
        report = SelfLearningEngine(store, scorer=TableScorer(table), mode="review", schedule=TauSchedule((0.1,)),
                                    heldout_patients=frozenset()).run_round()
    assert round_message(report) == (
        "Self-learning round 1: 0 sub-images proposed for review. Nothing proposed: the lowest p_malignant among "
        "the 16 malignant sub-images the rule may change is 0.270 (SOB_M_PC-14-12465-100-001.png sub-image 2,2), "
        "and tau is 0.1; only p < tau is relabelled. A tau of at least 0.28 would propose that one (--tau, or the "
        "panel's tau box); the next levels of the schedule raise tau.")
    assert notes_message([report]).startswith("Round 1: nothing proposed: the lowest p_malignant")
