"""The labeling panel's next (]) and previous ([) proposal keys, and the panel beside the review commands.

The project is the one of test_gui_labeling: a review round at tau 0.4 proposes DC's and PC's
sub-images (1,1) (1,2) (1,3) (2,1) (rows and columns from 1), so PgDn from BA lands on BF, which
has none; ] goes to the proposals.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_gui_labeling import (
    BA_ID,
    BF_ID,
    DC_ID,
    PC_ID,
    cell,
    key,
    make_panel,
    project,  # noqa: F401  (the fixture: the BreakHis fixtures after one review round)
    settle,
    show,
)
from test_labels_selflearn import DC, PC

from bcviewer.cli.main import main
from bcviewer.gui.labeling import LabelingPanel
from bcviewer.labels import LabelStore


@pytest.fixture()
def panel(qtbot, project: Path, dialogs: list[tuple[str, str]]) -> Iterator[LabelingPanel]:  # type: ignore[no-untyped-def]  # noqa: F811
    p = make_panel(qtbot, project)
    yield p
    assert p.shutdown(30_000), "a worker thread did not finish"
    assert dialogs == []


def where(panel: LabelingPanel) -> tuple[int, int, int]:
    row = panel.grid.current_row()
    assert panel.image is not None and row is not None and panel.grid.selected_ids() == [row.id]
    return panel.image.id, row.row, row.col


def test_next_proposal_key_walks_the_proposals_in_list_order(qtbot, panel: LabelingPanel) -> None:
    show(qtbot, panel, BA_ID)
    key(panel, Qt.Key.Key_PageDown)
    assert where(panel) == (BF_ID, 0, 0)  # PgDn: the next image, wherever its proposals are
    key(panel, Qt.Key.Key_BracketRight)
    assert where(panel) == (DC_ID, 0, 0)
    assert panel.ui.status.text() == (f"Proposal: row 1, column 1 of {DC} → benign, confidence 0.95 "
                                      "(p_malignant 0.05); Space accepts, X rejects.")
    assert panel.details.proposal.text().startswith("→ benign (confidence 0.95)")
    seen = [where(panel)]
    for _ in range(7):
        key(panel, Qt.Key.Key_BracketRight)
        seen.append(where(panel))
    assert seen == [(i, r, c) for i in (DC_ID, PC_ID) for r, c in ((0, 0), (0, 1), (0, 2), (1, 0))]
    key(panel, Qt.Key.Key_BracketRight)
    assert where(panel) == (DC_ID, 0, 0)
    assert panel.ui.status.text().endswith("Space accepts, X rejects. Back at the top of the list.")
    key(panel, Qt.Key.Key_BracketLeft)
    assert where(panel) == (PC_ID, 1, 0)
    assert panel.ui.status.text() == (f"Proposal: row 2, column 1 of {PC} → benign, confidence 0.62 "
                                      "(p_malignant 0.38); Space accepts, X rejects. Back at the end of the list.")

    show(qtbot, panel, DC_ID)  # from a cell without a proposal: on to the next cell that has one
    panel.grid.select_ids([cell(panel, 1, 1)])
    key(panel, Qt.Key.Key_BracketRight)
    assert where(panel) == (PC_ID, 0, 0)
    panel.grid.select_ids([cell(panel, 1, 1)])
    key(panel, Qt.Key.Key_BracketLeft)
    assert where(panel) == (PC_ID, 1, 0)


def test_next_proposal_after_decisions_here_and_in_a_terminal(qtbot, panel: LabelingPanel, project: Path,  # noqa: F811
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    show(qtbot, panel, DC_ID)
    key(panel, Qt.Key.Key_Space)  # accept (1,1); ] goes on to the next proposal
    settle(qtbot, panel)
    key(panel, Qt.Key.Key_BracketRight)
    assert where(panel) == (DC_ID, 0, 1)
    # Another process decides PC's proposals: the walk asks the project, so it skips them at once.
    assert main(["labels", "reject", str(project), "--image", PC]) == 0
    assert capsys.readouterr().out == "rejected 4 proposals of round 1\n"
    panel.grid.select_ids([cell(panel, 1, 0)])
    key(panel, Qt.Key.Key_BracketRight)
    assert where(panel) == (DC_ID, 0, 1)  # wrapped past PC
    table = panel.browser.table  # the keys work from the image list too
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    QTest.keyClick(table, Qt.Key.Key_BracketRight)
    assert where(panel) == (DC_ID, 0, 2)

    panel.browser.set_filters(patient="14-22549AB")  # only BA is listed
    qtbot.waitUntil(lambda: panel.browser.visible_image_ids() == [BA_ID])
    key(panel, Qt.Key.Key_BracketRight)
    assert panel.ui.status.text() == "No pending proposal in the listed images; 3 wait in images the filters hide."
    panel.browser.set_filters()
    assert main(["labels", "accept", str(project), "--all"]) == 0
    key(panel, Qt.Key.Key_BracketRight)
    assert panel.ui.status.text() == "No proposals are waiting for review."


def test_the_panels_keys_and_the_commands_write_the_same_history(qtbot, panel: LabelingPanel, project: Path,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    twin = Path(shutil.copy(project, tmp_path / "twin.bcv"))
    show(qtbot, panel, DC_ID)
    key(panel, Qt.Key.Key_Space)  # proposal 1
    key(panel, Qt.Key.Key_BracketRight)
    key(panel, Qt.Key.Key_X)  # proposal 2
    show(qtbot, panel, PC_ID)
    panel.grid.select_ids([cell(panel, 0, c) for c in range(3)])
    key(panel, Qt.Key.Key_Space)  # proposals 5, 6, 7 in one step
    settle(qtbot, panel)
    assert main(["labels", "accept", str(twin), "1"]) == 0
    assert main(["labels", "reject", str(twin), "2"]) == 0
    assert main(["labels", "accept", str(twin), "5", "6", "7"]) == 0

    def trail(path: Path) -> list[tuple[object, ...]]:
        with LabelStore.open(path, readonly=True) as s:
            return [(h.subimage_id, h.action, h.old_label, h.new_label, h.old_source, h.new_source, h.round,
                     h.reason, h.batch, h.proposal_id) for h in s.history()]

    assert trail(project) == trail(twin)
    with LabelStore.open(twin, readonly=True) as s:  # what the panel shows of the twin is what it shows here
        assert [(r.label, r.source, r.proposal_id) for r in s.subimages(PC_ID)] == [
            (r.label, r.source, r.proposal_id) for r in panel.grid.rows]
