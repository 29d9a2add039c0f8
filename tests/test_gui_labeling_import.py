"""The labeling panel imports a labels CSV and class folders by its dialogs and shows what it assumed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gui_helpers import dialogs  # noqa: F401
from PySide6.QtWidgets import QFileDialog
from test_gui_labeling import _threads, make_panel, settle

A, F = "SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png"
DC, PC = "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"


def _copy(test_data: Path, name: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(test_data / "breakhis" / name, dest)


def test_import_a_labels_csv_then_class_folders(qtbot, tmp_path: Path, test_data: Path,  # type: ignore[no-untyped-def]
                                                dialogs: list[tuple[str, str]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _copy(test_data, A, tmp_path / "data" / "case1.png")
    _copy(test_data, DC, tmp_path / "data" / "case2.png")
    listing = tmp_path / "data" / "labels.csv"
    listing.write_text("image,label,patient,magnification\ncase1.png,benign,alice,40X\ncase2.png,malignant,bob,\n")
    _copy(test_data, F, tmp_path / "cls" / "benign" / "P7" / "f.png")
    _copy(test_data, PC, tmp_path / "cls" / "malignant" / A)  # a benign BreakHis name in malignant/: left out
    before = _threads()
    p = make_panel(qtbot, None)
    try:
        assert p.open_project(tmp_path / "p.bcv", create=True)
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(listing)], ""))
        p.action_set.import_files.trigger()
        qtbot.waitUntil(lambda: p.browser.model.rowCount() == 2, timeout=20_000)
        qtbot.waitUntil(lambda: p.ui.status.text().startswith("Imported 2"), timeout=20_000)
        assert p.ui.status.text() == ("Imported 2 images. Note: no magnification given for 1 image; "
                                      "counted as 'unknown'.")
        settle(qtbot, p)
        assert p.ui.counts.value("benign") == "9" and p.ui.counts.value("malignant") == "9"
        assert [p.browser.patient.itemData(i) for i in range(1, p.browser.patient.count())] == ["alice", "bob"]
        assert dialogs == [("What the import assumed", "2 images imported. Please check what the import assumed:\n"
                                                       "• no magnification given for 1 image; counted as 'unknown'.")]
        dialogs.clear()

        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "cls"))
        p.action_set.import_folder.trigger()
        qtbot.waitUntil(lambda: p.browser.model.rowCount() == 3, timeout=20_000)
        qtbot.waitUntil(lambda: p.ui.status.text().startswith("Imported 1 image;"), timeout=20_000)
        assert p.ui.status.text() == (
            "Imported 1 image; 1 left out because their labels disagree. Note: assumed: an image in a sub-folder "
            "of benign/ or malignant/ belongs to the patient the sub-folder names (1 image, e.g. f.png: patient P7); "
            "give a CSV with a patient column if that is wrong. Note: no magnification given for 1 image; counted "
            "as 'unknown'.")
        assert dialogs == [
            ("Some images were not imported",
             f"{A}: its BreakHis name says label benign, the folder malignant/ says malignant"),
            ("What the import assumed",
             "1 image imported. Please check what the import assumed:\n• assumed: an image in a sub-folder of benign/ "
             "or malignant/ belongs to the patient the sub-folder names (1 image, e.g. f.png: patient P7); give a CSV "
             "with a patient column if that is wrong.\n• no magnification given for 1 image; counted as 'unknown'.")]
        bad = tmp_path / "data" / "bad.csv"
        bad.write_text("image,label,patient\ncase1.png,unsure,alice\n")
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(bad)], ""))
        p.action_set.import_files.trigger()
        qtbot.waitUntil(lambda: len(dialogs) == 3, timeout=20_000)
        assert dialogs[2] == ("Import failed", ("bad.csv row 2: label 'unsure' is not benign or malignant "
                                                "(accepted: benign/malignant, B/M, 0/1)"))
        assert p.browser.model.rowCount() == 3
    finally:
        assert p.shutdown(30_000)
    assert [t.name for t in _threads() - before if t.is_alive()] == []


def test_the_panel_shows_skipped_csv_rows_and_a_doubled_class_folder(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, test_data: Path, dialogs: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _copy(test_data, A, tmp_path / "data" / "case1.png")
    listing = tmp_path / "data" / "labels.csv"
    listing.write_text("image,label,patient\ncase1.png,benign,alice\ngone.png,malignant,bob\n")
    _copy(test_data, DC, tmp_path / "cls" / "MALIGNANT" / "P2" / "dc.png")
    (tmp_path / "cls" / "malignant").mkdir()
    p = make_panel(qtbot, None)
    try:
        assert p.open_project(tmp_path / "p.bcv", create=True)
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(listing)], ""))
        p.action_set.import_files.trigger()
        qtbot.waitUntil(lambda: p.ui.status.text().startswith("Imported 1"), timeout=20_000)
        missing = "labels.csv: 1 listed file not found, skipped (row 3: gone.png); 1 other row imported"
        assert p.ui.status.text().startswith(f"Imported 1 image. Warning: {missing}.")
        assert dialogs[0] == ("Some images were not imported", f"Warning: {missing}.")
        qtbot.waitUntil(lambda: p.browser.model.rowCount() == 1, timeout=20_000)  # the list refreshes on a worker
        dialogs.clear()
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "cls"))
        p.action_set.import_folder.trigger()
        qtbot.waitUntil(lambda: p.browser.model.rowCount() == 2, timeout=20_000)
        qtbot.waitUntil(lambda: len(dialogs) >= 1, timeout=20_000)
        doubled = (f"{tmp_path / 'cls'} has 2 folders for the class malignant: MALIGNANT/ (1 image) and malignant/ "
                   "(empty); letter case is ignored, so the images of all of them are labelled malignant; nothing "
                   "came from malignant/, which holds no images")
        assert dialogs[0] == ("Some images were not imported", f"Warning: {doubled}.")
        assert f"Warning: {doubled}." in p.ui.status.text()
    finally:
        assert p.shutdown(30_000)


def test_a_long_status_line_stays_whole_in_a_laptop_sized_window(qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 test_data: Path) -> None:
    p = make_panel(qtbot, None)
    try:
        window = p.test_window  # type: ignore[attr-defined]
        assert window.minimumSizeHint().height() <= 700  # the side columns scroll instead of growing the window
        window.resize(1200, 720)
        qtbot.waitUntil(lambda: window.height() == 720)
        text = ("Imported 1 image; 1 left out because their labels disagree. Warning: labels.csv: 2 listed files "
                "not found, skipped (row 3: gone.png, row 4: lost.png); 1 other row imported. Note: assumed: an "
                "image in a sub-folder of benign/ or malignant/ belongs to the patient the sub-folder names.") * 2
        p.say(text)
        status = p.ui.status
        qtbot.waitUntil(lambda: status.height() >= status.heightForWidth(status.width()))  # every line shown
        assert status.heightForWidth(status.width()) >= 3 * status.fontMetrics().height()  # it wraps: 3+ lines
        assert status.mapTo(window, status.rect().bottomLeft()).y() < window.height()  # inside the window
    finally:
        assert p.shutdown(30_000)
