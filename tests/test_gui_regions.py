"""Regions in the viewer: draw a polygon with the mouse on cmu_small_region.svs, analyse inside,
check which tiles were scored and the area in mm² against a hand-computed value, rename, undo and
redo, and find the region again after reopening the slide in a new window; import and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from shapely.geometry import box

from bcviewer.gui.main_window import MainWindow
from bcviewer.regions import read_regions, regions_file

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
MPP = 0.499  # cmu_small_region.svs records it
TOP = box(802, 0, 1604, 802)  # holds the centres of the idc-wsi grid's tiles at (802,0), (802,401), (1202,401)


@pytest.fixture()
def shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)


def _show_top_at_half_scale(win: MainWindow) -> None:
    """Two level-0 pixels a screen pixel, level-0 (802, 0) at screen (20, 20)."""
    view = win.slide.view
    view.zoom_to(0.5)
    view.center_on(762 + view.width(), -40 + view.height())
    assert (view.transform.scale, view.transform.origin_x, view.transform.origin_y) == (0.5, 762.0, -40.0)


def _draw_polygon(win: MainWindow, corners: list[tuple[int, int]]) -> None:
    view = win.slide.view
    win.slide.regions.panel.tool_buttons["polygon"].click()
    for x, y in corners:
        QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, y))
    QTest.mouseDClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*corners[-1]))


def test_draw_analyse_inside_measure_undo_and_reopen(qtbot, window, settings, shipped_models: None) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    regions = window.slide.regions
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=10_000)  # no saved regions yet
    _show_top_at_half_scale(window)
    _draw_polygon(window, [(20, 20), (421, 20), (421, 421), (20, 421)])
    (region,) = regions.regions
    assert region.shape.equals(TOP) and region.name == "Region 1"
    assert regions.tool.tool == "none" and not regions.panel.tool_buttons["polygon"].isChecked()

    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as done:
        regions.panel.analyse_button.click()
    scores = done.args[0]
    assert scores.rects().tolist() == [[802, 0, 401, 401], [802, 401, 401, 401], [1202, 401, 401, 401]]
    assert window.slide.view.heatmap.tile_count == 3  # the heatmap outside stays empty
    qtbot.waitUntil(lambda: 0 in regions.stats, timeout=10_000)
    stats = regions.stats[0]
    assert stats.area_mm2 == pytest.approx(802 * 802 * MPP * MPP / 1e6) and stats.tiles_scored == 3
    assert stats.max_p == pytest.approx(float(scores.p_malignant.max()))
    table = regions.panel.table
    assert [table.item(0, c).text() for c in range(5)] == ["Region 1", "Region*", "0.1602", "3",
                                                           f"{stats.max_p:.3f}"]
    regions.select(0)
    assert f"area 0.1602 mm² · tissue {stats.tissue_mm2:.4f} mm²" in regions.panel.details.text()

    table.item(0, 0).setText("tumour bed")  # rename in the table
    assert regions.regions[0].name == "tumour bed"
    regions.undo_stack.undo()
    assert regions.regions[0].name == "Region 1"
    regions.undo_stack.undo()
    assert regions.regions == []
    regions.undo_stack.redo()
    regions.undo_stack.redo()
    assert [r.name for r in regions.regions] == ["tumour bed"]
    qtbot.waitUntil(lambda: regions.saver.pending == 0, timeout=10_000)
    saved = read_regions(regions_file(SMALL_SVS))
    assert [(r.name, r.shape.equals(TOP)) for r in saved] == [("tumour bed", True)]

    other = MainWindow(settings)
    qtbot.addWidget(other)
    try:
        open_and_wait(qtbot, other, SMALL_SVS)
        qtbot.waitUntil(lambda: len(other.slide.regions.regions) == 1, timeout=10_000)
        assert other.slide.regions.regions[0].name == "tumour bed"
        assert other.slide.regions.regions[0].shape.equals(TOP)
        assert not other.slide.regions.undo_stack.canUndo()  # reopening is not a change
    finally:
        other.shutdown()


def test_a_vertex_drag_reshapes_the_selected_region(qtbot, window, shipped_models: None) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=10_000)
    _show_top_at_half_scale(window)
    _draw_polygon(window, [(20, 20), (421, 20), (421, 421), (20, 421)])
    regions, view = window.slide.regions, window.slide.view
    regions.select(0)
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(421, 421))
    QTest.mouseMove(view, QPoint(471, 471))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(471, 471))
    coords = sorted(regions.regions[0].shape.exterior.coords[:-1])
    assert coords == [(802.0, 0.0), (802.0, 802.0), (1604.0, 0.0), (1704.0, 902.0)]
    regions.undo_stack.undo()
    assert regions.regions[0].shape.equals(TOP)


def test_import_and_export_keep_qupath_coordinates(qtbot, window, tmp_path: Path, shipped_models: None) -> None:  # noqa: F811
    source = tmp_path / "from-qupath.geojson"
    source.write_text(json.dumps([{"type": "Feature", "properties": {"name": "hole", "classification": {"name": "Tumor"}},
                                   "geometry": {"type": "Polygon", "coordinates": [
                                       [[802, 0], [1604, 0], [1604, 802], [802, 802], [802, 0]],
                                       [[1000, 200], [1200, 200], [1200, 400], [1000, 400], [1000, 200]]]}}]))
    open_and_wait(qtbot, window, SMALL_SVS)
    regions = window.slide.regions
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=10_000)
    regions.import_file(str(source))
    qtbot.waitUntil(lambda: len(regions.regions) == 1, timeout=10_000)
    assert regions.regions[0].shape.area == 802 * 802 - 200 * 200 and regions.regions[0].classification == "Tumor"
    out = tmp_path / "export.geojson"
    regions.export_file(str(out))
    qtbot.waitUntil(lambda: out.exists() and window.slide.jobs.pending == 0, timeout=10_000)
    (back,) = read_regions(out)
    assert back.shape.equals(regions.regions[0].shape) and back.name == "hole"


def test_import_asap_xml(qtbot, window, tmp_path: Path, dialogs, shipped_models: None) -> None:  # noqa: F811
    source = tmp_path / "from-asap.xml"
    source.write_text('<?xml version="1.0"?><ASAP_Annotations><Annotations>'
                      '<Annotation Name="tumour" Type="Polygon" PartOfGroup="Tumor"><Coordinates>'
                      '<Coordinate Order="0" X="802" Y="0"/><Coordinate Order="1" X="1604" Y="0"/>'
                      '<Coordinate Order="2" X="1604" Y="802"/><Coordinate Order="3" X="802" Y="802"/>'
                      '</Coordinates></Annotation></Annotations></ASAP_Annotations>')
    open_and_wait(qtbot, window, SMALL_SVS)
    regions = window.slide.regions
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=10_000)
    regions.import_file(str(source))
    qtbot.waitUntil(lambda: len(regions.regions) == 1, timeout=10_000)
    assert regions.regions[0].shape.equals(TOP) and regions.regions[0].name == "tumour"
    bad = tmp_path / "bad.xml"
    bad.write_text("<html/>")
    regions.import_file(str(bad))
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=10_000)
    assert dialogs[0][0] == "Cannot import the regions" and "not ASAP annotations" in dialogs[0][1]
    assert len(regions.regions) == 1
