"""The main window: drag and drop, errors (dialogs, log file, no traceback), settings, shortcuts,
and the `bcviewer open --screenshot` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from gui_helpers import (  # noqa: F401
    SAMPLE_PNG,
    dialogs,
    models_dir,
    open_and_wait,
    settings,
    tiny_models,
    window,
)
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest

from bcviewer.gui import errors as gui_errors
from bcviewer.gui.slide import workspace as workspace_module
from bcviewer.gui.dialogs import card_html
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.settings import ViewerSettings
from bcviewer.slides import RegionReadError


def _drop(win: MainWindow, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    win.dragEnterEvent(enter)
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    win.dropEvent(drop)
    return enter.isAccepted()


def test_dropping_a_file_opens_it(qtbot, window, test_data: Path) -> None:
    svs = test_data / "slides" / "cmu_small_region.svs"
    with qtbot.waitSignal(window.slide.opened, timeout=15_000) as blocker:
        assert _drop(window, svs)
    assert blocker.args == [str(svs)]
    assert window.slide.view.reader.dimensions == (2220, 2967)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("edge-cases/unopenable.tiff", "unopenable.tiff"),
        ("missing.svs", "does not exist"),
    ],
)
def test_a_bad_file_shows_a_dialog_and_the_app_survives(
    qtbot, window, dialogs, test_data: Path, name: str, expected: str
) -> None:
    with qtbot.waitSignal(window.slide.open_failed, timeout=15_000):
        window.open_path(test_data / "slides" / name)
    assert len(dialogs) == 1 and dialogs[0][0] == "Cannot open the file"
    assert expected in dialogs[0][1] and "Traceback" not in dialogs[0][1]
    assert window.slide.view.reader is None
    open_and_wait(qtbot, window, SAMPLE_PNG)  # still usable
    assert window.slide.view.reader.dimensions == (700, 460)


def test_text_file_posing_as_a_slide(qtbot, window, dialogs, tmp_path: Path) -> None:
    fake = tmp_path / "notes.svs"
    fake.write_text("not a slide\n")
    with qtbot.waitSignal(window.slide.open_failed, timeout=15_000):
        window.open_path(fake)
    assert "notes.svs is not a slide or image bcviewer can read" in dialogs[0][1]


def test_a_slide_whose_pixels_cannot_be_read(qtbot, window, dialogs, test_data: Path) -> None:
    with qtbot.waitSignal(window.slide.open_failed, timeout=15_000):
        window.open_path(test_data / "slides" / "edge-cases" / "unreadable.svs")
    assert dialogs[0][0] == "Cannot open the file"
    assert "cannot be read; the slide file is damaged" in dialogs[0][1]


def test_failed_tile_reads_show_one_dialog_and_do_not_hang(qtbot, window, dialogs, monkeypatch) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    reader = window.slide.view.reader

    def failing(*args: object) -> None:
        raise RegionReadError("the pixels at x=0, y=0 (level 0) cannot be read; the slide file is damaged")

    monkeypatch.setattr(reader, "read_region", failing)
    window.slide.view.cache.clear()
    window.slide.view.zoom_to(2.0)
    qtbot.waitUntil(lambda: len(dialogs) > 0, timeout=15_000)
    assert dialogs[0] == (
        "Cannot read the slide",
        "the pixels at x=0, y=0 (level 0) cannot be read; the slide file is damaged",
    )
    qtbot.waitUntil(window.is_idle, timeout=15_000)  # a --screenshot run would not wait forever
    window.slide.view.pan_by(50, 50)
    qtbot.wait(200)
    assert len(dialogs) == 1  # one message, not one per tile


def test_unexpected_errors_are_logged_and_the_dialog_names_the_log(
    qtbot, window, dialogs, monkeypatch, tmp_path: Path
) -> None:
    def broken(path: str) -> None:
        raise RuntimeError("disk controller on fire")

    monkeypatch.setattr(workspace_module, "open_for_view", broken)  # the name the slide workspace calls
    with qtbot.waitSignal(window.slide.open_failed, timeout=15_000):
        window.open_path(SAMPLE_PNG)
    message = dialogs[0][1]
    log = gui_errors.log_path()
    assert str(tmp_path / "data") in str(log)
    assert str(log) in message and "Traceback" not in message and "disk controller on fire" in message
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: disk controller on fire" in text


def test_exception_hook_turns_a_crash_into_a_dialog(window, dialogs) -> None:
    hook = gui_errors.ExceptionHook(lambda: window)
    try:
        raise ZeroDivisionError("slot divided by zero")
    except ZeroDivisionError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert hook.count == 1 and len(dialogs) == 1
    assert str(gui_errors.log_path()) in dialogs[0][1]
    assert "ZeroDivisionError: slot divided by zero" in gui_errors.log_path().read_text(encoding="utf-8")


def test_exceptions_in_background_threads_go_to_the_log_only(dialogs, capfd) -> None:
    import threading

    def crash() -> None:
        raise KeyError("reader thread lost its tile")

    hook = gui_errors.ExceptionHook()
    hook.install()
    try:
        worker = threading.Thread(target=crash, name="tile-reader")
        worker.start()
        worker.join()
    finally:
        hook.uninstall()
    assert dialogs == [] and "Traceback" not in capfd.readouterr().err
    text = gui_errors.log_path().read_text(encoding="utf-8")
    assert "uncaught exception in thread tile-reader" in text and "KeyError: 'reader thread lost its tile'" in text


def test_settings_persist_between_windows(qtbot, window, settings: ViewerSettings) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    window.slide.overlay_controls.colormap.setCurrentText("coolwarm")
    window.action_set.grid.setChecked(True)
    window.resize(760, 660)
    size = (window.width(), window.height())
    window.close()
    assert settings.recent_files() == [str(SAMPLE_PNG.resolve())]
    assert settings.last_folder() == str(SAMPLE_PNG.parent.resolve())
    again = MainWindow(settings)
    qtbot.addWidget(again)
    try:
        assert again.slide.view.heatmap.colormap == "coolwarm"
        assert again.slide.overlay_controls.colormap.currentText() == "coolwarm"
        assert again.action_set.grid.isChecked()
        assert (again.width(), again.height()) == size == (760, 660)
        recent = [a.text() for a in again.action_set.recent_menu.actions()]
        assert recent[0] == SAMPLE_PNG.name
    finally:
        again.shutdown()


def test_keyboard_shortcuts(qtbot, window) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    view = window.slide.view
    shortcuts = {
        a.text(): [s.toString() for s in a.shortcuts()]
        for a in (
            window.action_set.open,
            window.action_set.fit,
            window.action_set.heatmap,
            window.action_set.grid,
            window.action_set.cancel,
        )
    }
    assert shortcuts["&Open…"][0] == "Ctrl+O" and shortcuts["&Fit to window"] == ["F"]
    assert (
        shortcuts["&Heatmap"] == ["H"] and shortcuts["Tile &grid"] == ["G"] and shortcuts["&Cancel analysis"] == ["Esc"]
    )
    view.setFocus()
    view.zoom_to(3.0)
    QTest.keyClick(view, Qt.Key.Key_F)
    assert view.scale == pytest.approx(view.fit_scale())
    heat = window.action_set.heatmap.isChecked()
    QTest.keyClick(view, Qt.Key.Key_H)
    assert window.action_set.heatmap.isChecked() is not heat and view.heatmap.visible is not heat
    before = view.scale
    QTest.keyClick(view, Qt.Key.Key_Plus)
    qtbot.waitUntil(lambda: not view._zoom_timer.isActive(), timeout=3000)
    assert view.scale == pytest.approx(before * 1.5)


def test_model_card_text(models_dir: Path) -> None:
    from bcviewer.nets import load_model

    card = load_model(models_dir / "breakhis-100x").card
    text = card_html(card)
    assert "<h2>breakhis-100x</h2>" in text and "<h3>Architecture</h3>" in text and "hybrid-cnn-lstm-ensemble" in text


def test_the_shipped_card_reads_without_walls_of_numbers() -> None:
    """Calibration scores and the density's covariance are summarised on screen, not listed."""
    import json

    from bcviewer.nets import load_model

    card = load_model("breakhis-100x").card
    text = card_html(card)
    n_tile = len(card["conformal"]["tile"]["scores"])
    assert f"[{n_tile} numbers, from " in text and "[12 x 12 numbers, from " in text
    for section in ("Conformal", "Outside training"):  # thousands of numbers in card.json, a few lines here
        shown = text.split(f"<h3>{section}</h3>", 1)[1].split("<h3>", 1)[0]
        assert len(shown) < 3000, (section, len(shown))
    assert len(json.dumps(card["conformal"], indent=2)) > 10_000


def test_the_qt_binding_keeps_reference_counts() -> None:
    """PySide6 6.12.0 drops a reference to True on every Signal.emit(); the viewer emits signals
    on every paint and mouse move, so it would crash within minutes (pyproject excludes it)."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        ping = Signal(object)

    emitter = Emitter()
    emitter.ping.connect(lambda value: None)
    before = sys.getrefcount(True)
    for _ in range(2000):
        emitter.ping.emit(1)
    assert abs(sys.getrefcount(True) - before) < 50


def test_the_window_starts_without_importing_pytorch() -> None:
    """The slide is on screen long before PyTorch has loaded (it loads after the first frame)."""
    code = (
        "import sys, bcviewer.gui.app; "
        "print(sorted(m for m in ('torch', 'sklearn', 'bcviewer.inference', 'bcviewer.export') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


# ---- the command line ---------------------------------------------------------------------------
def _bcviewer(args: list[str], tmp_path: Path, models: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        OMP_NUM_THREADS="1",
    )
    if models is not None:
        env["BCVIEWER_MODELS"] = str(models)
    return subprocess.run(
        [sys.executable, "-m", "bcviewer", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_screenshot_of_a_finished_analysis(tmp_path: Path, tiny_models: Path) -> None:
    out = tmp_path / "shot.png"
    result = _bcviewer(
        ["open", str(SAMPLE_PNG), "--model", "breakhis-100x", "--run", "--screenshot", str(out), "--size", "1100x700"],
        tmp_path,
        tiny_models,
    )
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.size == (1100, 700)
    assert "Traceback" not in result.stderr


def test_screenshot_of_a_bad_file_exits_2_with_one_message(tmp_path: Path, test_data: Path) -> None:
    out = tmp_path / "never.png"
    result = _bcviewer(
        ["open", str(test_data / "slides" / "edge-cases" / "unopenable.tiff"), "--screenshot", str(out)], tmp_path
    )
    assert result.returncode == 2
    assert not out.exists()
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("bcviewer:")]
    assert len(lines) == 1 and "unopenable.tiff" in lines[0]
    assert "Traceback" not in result.stderr
