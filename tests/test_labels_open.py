"""Opening a label project in the viewer: ``bcviewer labels open P.bcv``, ``bcviewer open P.bcv`` and a drop.

The slide reader refuses a project by name (it must never ``open()`` one, see bcviewer.labels.guard),
so each of these routes the project to the labeling tab instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input_helpers import run_cli
from gui_helpers import dialogs, settings, window  # noqa: F401
from labels_helpers import fixture_project
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.workspaces import LABELING, SLIDE, label_project_of


@pytest.fixture()
def project(tmp_path: Path, test_data: Path) -> Path:
    path = tmp_path / "p.bcv"
    fixture_project(path, test_data / "breakhis").close()
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {"QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "OMP_NUM_THREADS": "1"}


def test_label_project_of_names() -> None:
    assert label_project_of("/d/p.bcv") == Path("/d/p.bcv")
    assert label_project_of("/d/P.BCV") == Path("/d/P.BCV")
    assert label_project_of("/d/p.bcv-wal") == Path("/d/p.bcv")
    assert label_project_of("/d/p.bcv-shm") == Path("/d/p.bcv")
    assert label_project_of("/d/p.png") is None and label_project_of("/d/p-wal") is None


def test_the_commands_open_the_project_in_the_labeling_tab(project: Path, tmp_path: Path) -> None:
    for argv in (["labels", "open", project], ["open", project]):
        shot = tmp_path / f"{argv[0]}.png"
        done = run_cli([*argv, "--screenshot", shot, "--size", "1200x800"], timeout=300, env=_env(tmp_path))
        assert done.returncode == 0, done.stderr
        assert f"screenshot saved to {shot}" in done.stderr
        with Image.open(shot) as image:  # the labeling panel's minimum size may make the window larger
            assert image.width >= 1200 and image.height >= 800


@pytest.mark.parametrize(("argv", "line"), [
    (["labels", "open", "{d}/missing.bcv"],
     "bcviewer labels open: the project {d}/missing.bcv does not exist; create it with 'bcviewer labels import'"),
    (["open", "{d}/missing.bcv"],
     "bcviewer open: the project {d}/missing.bcv does not exist; create it with 'bcviewer labels import'"),
    (["labels", "open", "{d}"], "bcviewer labels open: {d} is a folder; give the project file (e.g. labels.bcv)"),
    (["open", "{d}/p.bcv", "--run"],
     "bcviewer open: --run, --model, --mpp, --style and --stain are for slides, not a label project"),
])
def test_a_bad_project_is_one_line_and_exit_2_before_any_window(argv: list[str], line: str, tmp_path: Path,
                                                                project: Path) -> None:
    done = run_cli([a.format(d=tmp_path) for a in argv], timeout=300, env=_env(tmp_path))
    assert done.returncode == 2
    assert [ln for ln in done.stderr.splitlines() if "propagateSizeHints" not in ln] == [line.format(d=tmp_path)]


def test_the_window_opens_a_project_in_the_labeling_tab_and_on_a_drop(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]  # noqa: F811
                                                                       project: Path,
                                                                       dialogs: list[tuple[str, str]]) -> None:  # noqa: F811
    assert window.workspaces.currentIndex() == SLIDE
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(f"{project}-wal")])  # a drop of the project's WAL means the project
    event = QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    panel = window.workspaces.labeling_panel
    assert panel is not None and panel.project == project
    assert window.workspaces.currentIndex() == LABELING and window.windowTitle() == "p.bcv – labeling – bcviewer"
    qtbot.waitUntil(lambda: panel.browser.model.rowCount() == 4 and bool(panel.grid.rows), timeout=10_000)
    qtbot.waitUntil(window.is_idle, timeout=10_000)
    assert dialogs == []
    assert not window.workspaces.open_labeling_project(project.with_name("missing.bcv"))
    assert dialogs[-1][0] == "Cannot open the labeling project" and panel.project == project
