"""The rounds table's ✓ and ✗ counts follow each decision as it is made, before the project counts'
worker returns (issue 29 saw them change only on a click). The project is ``test_gui_labeling``'s: a review round at tau 0.4 with
8 pending proposals (DC and PC, sub-images 0-3)."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import dialogs  # noqa: F401
from PySide6.QtCore import Qt
from test_gui_labeling import DC_ID, PC_ID, cell, key, make_panel, project, reader, show  # noqa: F401

from bcviewer.gui.labeling.rounds_view import COLUMNS
from bcviewer.labels import LabelStore

ACCEPTED, REJECTED = COLUMNS.index("✓"), COLUMNS.index("✗")


def test_accept_and_reject_update_the_rounds_table_at_once(  # type: ignore[no-untyped-def]
        qtbot, project: Path, reader: LabelStore, dialogs: list[tuple[str, str]]) -> None:
    p = make_panel(qtbot, project)
    table = p.ui.rounds.table

    def decided() -> tuple[str, str]:
        return table.item(0, ACCEPTED).text(), table.item(0, REJECTED).text()

    try:
        qtbot.waitUntil(lambda: table.rowCount() == 1)
        assert decided() == ("0", "0")
        show(qtbot, p, PC_ID)
        p.grid.select_ids([cell(p, 0, 0)])
        key(p, Qt.Key.Key_X)  # reject: ✗ 1 without touching the table
        assert decided() == ("0", "1") and p.project_counts.busy  # at once: the counts worker is still out
        p.grid.select_ids([cell(p, 0, 1), cell(p, 0, 2)])
        key(p, Qt.Key.Key_X)
        assert decided() == ("0", "3")
        show(qtbot, p, DC_ID)
        p.grid.select_ids([cell(p, 0, 0)])
        key(p, Qt.Key.Key_Space)  # accept: ✓ 1
        assert decided() == ("1", "3")
        key(p, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the accept: ✓ back to 0
        assert decided() == ("0", "3")
        assert reader.decisions_by_round()[reader.rounds()[0].id] == {"rejected": 3, "pending": 5}
        assert table.selectedItems() == []  # nobody clicked the table
        assert dialogs == []
    finally:
        assert p.shutdown(30_000)
