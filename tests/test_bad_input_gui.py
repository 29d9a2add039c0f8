"""The viewer with bad input: a specific dialog for each case (never the generic "did not expect"
one), no hang, no abort, and a locked project asks to retry instead of failing."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_input_helpers import (
    corrupt_jpeg,
    digest,
    giant_tile_tiff,
    png_of_size,
    run_cli,
    svs_cut_after_first_ifd,
    svs_with_mpp,
)
from gui_helpers import SAMPLE_PNG, dialogs, open_and_wait, settings, window  # noqa: F401

from bcviewer.gui import errors as gui_errors
from bcviewer.gui.labeling import LabelingPanel
from bcviewer.labels import LabelStore

GENERIC = "Something went wrong that bcviewer did not expect"


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    os.mkfifo(path)
    return path


FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "fifo": (lambda d: _fifo(d / "x.svs"), "is not a regular file"),
    "one-line image": (lambda d: png_of_size(d / "line.png", 100_000_000, 1), "declares 100000000 x 1 pixels"),
    "cut svs": (lambda d: svs_cut_after_first_ifd(d / "cut.svs"), "is an Aperio slide file, but it is damaged"),
    "corrupt jpeg": (lambda d: corrupt_jpeg(d / "bad.jpg"), "compressed pixel data is corrupt"),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_bad_files_get_their_own_dialog(case: str, qtbot, window, dialogs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    make, needle = FILES[case]
    bad = make(tmp_path)
    with qtbot.waitSignal(window.slide.open_failed, timeout=30_000):
        window.open_path(bad)
    assert len(dialogs) == 1 and dialogs[0][0] == "Cannot open the file"
    assert needle in dialogs[0][1] and GENERIC not in dialogs[0][1]
    open_and_wait(qtbot, window, SAMPLE_PNG)  # still usable


def test_unreadable_scale_is_said_when_the_analysis_starts(qtbot, window, dialogs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    slide = svs_with_mpp(tmp_path / "mpp.svs", "abc")
    open_and_wait(qtbot, window, slide)  # the slide can be looked at ...
    assert window.slide.view.reader.scale_problem is not None
    window.slide.run()  # ... but not cut into tiles as if it were a microscopy image
    qtbot.waitUntil(lambda: bool(dialogs), timeout=30_000)
    assert "MPP = 'abc'" in dialogs[-1][1] and "scale is unreadable" in dialogs[-1][1]
    assert GENERIC not in dialogs[-1][1]


def test_the_viewer_survives_a_tiff_declaring_giant_tiles(tmp_path: Path) -> None:
    bad = giant_tile_tiff(tmp_path / "giant.tiff")
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "OMP_NUM_THREADS": "1"}
    done = run_cli(["open", bad, "--screenshot", tmp_path / "never.png"], timeout=300, env=env)
    assert done.returncode == 2, done.stderr  # before the fix: SIGABRT (-6) from GLib
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("bcviewer:")]
    assert len(lines) == 1 and "declares 1048576 x 1048576 pixel tiles" in lines[0]


def test_no_display_is_one_line_and_exit_2(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux desktops")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    import subprocess

    done = subprocess.run([sys.executable, "-m", "bcviewer"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bcviewer: no display: the desktop viewer needs a desktop session (neither DISPLAY nor WAYLAND_DISPLAY is "
        "set). Use the command line instead (bcviewer --help), or set QT_QPA_PLATFORM=offscreen for "
        "'bcviewer open --screenshot'"]


# ---- expression tab ---------------------------------------------------------------------------
@pytest.fixture()
def expression_tab(qtbot, dialogs):  # type: ignore[no-untyped-def]  # noqa: F811
    from bcviewer.gui.expression import ExpressionTab

    tab = ExpressionTab()
    qtbot.addWidget(tab)
    tab.show()
    yield tab
    assert tab.shutdown(30_000)


def test_damaged_and_bomb_gzip_profiles_get_plain_dialogs(qtbot, expression_tab, dialogs, test_data: Path,  # type: ignore[no-untyped-def]  # noqa: F811
                                                          tmp_path: Path) -> None:
    import gzip

    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes((test_data / "genes" / "gse1992_pam50_40.csv.gz").read_bytes()[:1500])
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb") as fh:
        for _ in range(40):
            fh.write(b"0," * (1 << 20))
    for path, needle in ((truncated, "gzip compression cannot be read"), (bomb, "decompression bomb")):
        with qtbot.waitSignal(expression_tab.load_failed, timeout=120_000):
            expression_tab.open_path(path)
        assert needle in dialogs[-1][1] and GENERIC not in dialogs[-1][1]


# ---- labeling panel -----------------------------------------------------------------------------
@pytest.fixture()
def project(tmp_path: Path, test_data: Path) -> Path:
    from labels_helpers import fixture_project

    path = tmp_path / "project.bcv"
    fixture_project(path, test_data / "breakhis").close()
    return path


def _panel(qtbot, project: Path | None) -> LabelingPanel:  # type: ignore[no-untyped-def]
    panel = LabelingPanel(project, poll_ms=50)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    if project is not None:
        qtbot.waitUntil(lambda: panel.browser.model.rowCount() == 4 and bool(panel.grid.rows), timeout=20_000)
    return panel


def test_foreign_and_locked_projects_get_plain_dialogs(qtbot, dialogs, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    before = digest(other)
    panel = _panel(qtbot, None)
    try:
        assert not panel.open_project(other)
        assert "not a bcviewer project" in dialogs[-1][1] and digest(other) == before
        holder = sqlite3.connect(project, isolation_level=None)
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
        try:
            assert not panel.open_project(project)  # waits about a second, not SQLite's ten
            assert "is being written by another program" in dialogs[-1][1]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert panel.open_project(project)
    finally:
        assert panel.shutdown(30_000)


def test_a_locked_write_asks_to_retry_and_loses_nothing(qtbot, dialogs, project: Path,  # type: ignore[no-untyped-def]  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    panel = _panel(qtbot, project)
    other = sqlite3.connect(project, isolation_level=None, timeout=5)
    asked: list[str] = []

    def answer(parent, title: str, message: str) -> bool:  # type: ignore[no-untyped-def]
        asked.append(message)
        if len(asked) == 1:
            return False  # Cancel: nothing is written
        other.execute("ROLLBACK")  # the other writer finishes; Retry now succeeds
        return True

    monkeypatch.setattr(gui_errors, "ask_retry", answer)
    try:
        assert panel.browser.select_image(1)
        panel.grid.select_ids([panel.grid.rows[0].id])
        sub = panel.grid.rows[0].id
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        assert not panel.label_selection("malignant")
        assert "being written by another program" in asked[0] and "Try again?" in asked[0]
        assert panel.label_selection("malignant")  # asked again, Retry after the lock is released
        assert len(asked) == 2
        with LabelStore.open(project, readonly=True) as reader:
            assert reader.subimage(sub).label == "malignant" and reader.subimage(sub).source == "human"
        assert not [d for d in dialogs if GENERIC in d[1]]
    finally:
        other.close()
        assert panel.shutdown(30_000)
