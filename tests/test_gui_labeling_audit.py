"""The labeling panel names the annotator in the audit log and adds a reason to the last change."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from labels_helpers import fixture_project
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QInputDialog
from test_gui_labeling import _threads, key, make_panel, settle, show

from bcviewer.gui.labeling.annotator import SETTINGS_KEY, AnnotatorControl
from bcviewer.gui.labeling.panel import LabelingPanel
from bcviewer.labels import LabelStore
from bcviewer.labels.audit import set_session_annotator

DC_ID = 3


@pytest.fixture()
def panel(qtbot, tmp_path: Path, test_data: Path,  # type: ignore[no-untyped-def]
          dialogs: list[tuple[str, str]]) -> Iterator[LabelingPanel]:
    fixture_project(tmp_path / "p.bcv", test_data / "breakhis").close()
    before = _threads()
    p = make_panel(qtbot, tmp_path / "p.bcv")
    p.annotator.settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    p.annotator.set_name("", remember=False)  # whatever this machine's viewer settings say, start from the OS user
    yield p
    set_session_annotator(None)  # the name is process-wide: later tests write as the OS user again
    assert p.shutdown(30_000)
    assert [t.name for t in _threads() - before if t.is_alive()] == []


def _answer(monkeypatch: pytest.MonkeyPatch, text: str, asked: list[str]) -> None:
    def get_text(parent: object, title: str, label: str, *args: object) -> tuple[str, bool]:
        asked.append(f"{title}: {label}")
        return text, True

    monkeypatch.setattr(QInputDialog, "getText", get_text)


def test_annotator_name_and_reason_reach_the_audit_log(qtbot, panel: LabelingPanel, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert panel.annotator.button.text() == f"Annotator: {getpass.getuser()}"
    assert panel.store is not None and panel.store.annotator == getpass.getuser()
    asked: list[str] = []
    _answer(monkeypatch, "  Ada   Lovelace ", asked)
    panel.annotator.name_action.trigger()
    assert asked == [f"Annotator name: Name recorded with your changes (empty: the OS user, {getpass.getuser()!r}):"]
    assert panel.annotator.button.text() == "Annotator: Ada Lovelace"
    assert panel.store.annotator == "Ada Lovelace" and panel.ui.status.text() == (
        "Changes are now recorded as Ada Lovelace.")
    assert panel.annotator.settings.value(SETTINGS_KEY) == "Ada Lovelace"
    with LabelStore.open(tmp_path / "p.bcv") as other:  # what an import or a self-learning worker opens
        assert other.annotator == "Ada Lovelace"
    show(qtbot, panel, DC_ID)
    key(panel, Qt.Key.Key_B)  # one key, no question asked
    assert panel.ui.status.text() == "Labelled 1 sub-image benign."
    _answer(monkeypatch, "fibrous stroma", asked)
    panel.annotator.reason_action.trigger()
    assert asked[-1] == "Reason for the last change: Why label benign on 1 sub-image?"
    assert panel.ui.status.text() == "Reason added to label benign on 1 sub-image."
    with LabelStore.open(tmp_path / "p.bcv", readonly=True) as reader:
        last = reader.audit_trail()[-1]
    assert (last.person, last.action, last.source, last.row, last.col, last.before, last.after, last.reason) == (
        "Ada Lovelace", "label", "manual", 0, 0, "malignant", "benign", "fibrous stroma")
    settle(qtbot, panel)
    history = panel.details.history
    assert [history.horizontalHeaderItem(c).text() for c in range(history.columnCount())] == [
        "Time", "Change", "By", "Label", "Source", "Round", "Reason"]
    assert [history.item(0, c).text() for c in (1, 2, 6)] == ["labelled", "Ada Lovelace", "fibrous stroma"]
    assert history.item(0, 3).toolTip() == (f"{history.item(0, 0).text()}: labelled by Ada Lovelace, "
                                            "malignant → benign: fibrous stroma")
    remembered = AnnotatorControl(panel, panel.annotator.settings)  # the next session reads the name back
    assert remembered.button.text() == "Annotator: Ada Lovelace"
    assert remembered.set_name("") == getpass.getuser()  # empty: the OS user again
    assert panel.store.annotator == getpass.getuser()
    assert not remembered.add_reason("too late")  # the OS user made no change here
    assert panel.ui.status.text() == f"{getpass.getuser()} has made no change in this project to add a reason to."
