"""The τ box shows the schedule the project last ran with: a CLI run's ``--tau`` appears in an open
panel when its round lands, and in a panel opened afterwards; a schedule being typed survives
refreshes and reverts. The project is ``test_gui_labeling``'s (four BreakHis fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from test_gui_labeling import make_panel, project, reader, settle  # noqa: F401

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore, RoundRow
from bcviewer.labels.tau_history import project_schedule, schedule_text


def _round(id: int, number: int, status: str, tau: float, schedule: object = None) -> RoundRow:
    params = {} if schedule is None else {"schedule": schedule}
    return RoundRow(id, number, "auto", tau, params, {}, status, "2026-01-01", None)


def test_project_schedule_is_the_last_completed_rounds() -> None:
    assert project_schedule([]) is None
    rounds = [_round(1, 1, "done", 0.1, [0.1, 0.2]), _round(2, 2, "done", 0.5, [0.5]),
              _round(3, 3, "interrupted", 0.9, [0.9])]
    assert schedule_text(project_schedule(rounds)) == "0.5"  # type: ignore[arg-type]
    assert project_schedule([_round(1, 1, "reverted", 0.4, [0.4])]) is None
    assert schedule_text(project_schedule([_round(4, 3, "done", 0.3)])) == "0.3"  # type: ignore[arg-type]  # no params


def test_a_cli_run_with_tau_shows_in_the_open_panel_and_after_reopening(  # type: ignore[no-untyped-def]
        qtbot, project: Path, reader: LabelStore, dialogs: list[tuple[str, str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    reader.revert_round(reader.rounds()[0].id)  # the fixture's review round: a clean slate at level 1
    p = make_panel(qtbot, project)
    try:
        box = p.ui.selflearn
        assert box.tau.text() == "0.1,0.2,0.3,0.4"  # nothing completed yet: the default
        assert main(["selflearn", str(project), "--rounds", "1", "--tau", "0.5", "--trainer", "hybrid",
                     "--epochs", "1", "--finetune-epochs", "0", "--quiet"]) == 0
        assert [(r.number, r.tau, r.status) for r in reader.rounds()][-1] == (1, 0.5, "done")
        # the panel's poll sees the CLI's write (data_version) and reloads: no call here
        qtbot.waitUntil(lambda: box.tau.text() == "0.5", timeout=10_000)
        qtbot.waitUntil(lambda: box.state.text().endswith("Next: round 2, τ = 0.5."), timeout=10_000)
        box.tau.setText("0.2")  # being typed: a refresh keeps it
        p.reload()
        settle(qtbot, p)
        assert box.tau.text() == "0.2"
    finally:
        assert p.shutdown(30_000)
    capsys.readouterr()
    again = make_panel(qtbot, project)
    try:
        assert again.ui.selflearn.tau.text() == "0.5"
        assert again.ui.selflearn.state.text().endswith("Next: round 2, τ = 0.5.")
        assert dialogs == []
    finally:
        assert again.shutdown(30_000)
